// A command forked before it may run, and the signals cmk isolate passes on to it. The child
// exists (and has a PID to record) before its CPUs are allocated; it execs only when started,
// with its CPU variables, after isolate has recorded it and pinned it (native/cmk_native.c).
import { closeSync, readSync, writeSync } from "node:fs";
import { CmkError } from "../core/errors.ts";
import { errnoName, native } from "./native.ts";

/** Where a command name without "/" is looked for when the environment has no PATH. */
const defaultSearchPath = "/usr/local/bin:/usr/bin:/bin";
/** First byte of the message that starts a held child; anything else, or nothing, stops it. */
const startMark = "S";

export interface HeldChild {
  /** The child's PID in this process's PID namespace. */
  readonly pid: number;
  /**
   * Lets the child exec the command with `extraEnv` added to its environment. Returns null when
   * the command runs, or the errno name ("ENOENT", "EACCES", ...) when exec failed.
   */
  start(extraEnv: Readonly<Record<string, string>>): string | null;
  /** Makes a child that was never started exit without running anything, and reaps it. */
  abandon(): void;
  /** Blocks until the command ends: its exit status, or 128+N when signal N ended it. */
  wait(): number;
}

/**
 * Forks a child that will exec `argv` with `env` once started. Fork before taking any lock: the
 * child holds copies of every open descriptor until it execs.
 */
export function spawnHeld(argv: readonly [string, ...string[]], env: NodeJS.ProcessEnv): HeldChild {
  const entries = Object.entries(env).flatMap(([name, value]) => (value === undefined ? [] : [`${name}=${value}`]));
  const spawned = native().spawnHeld(argv, entries, env["PATH"] ?? defaultSearchPath);
  if (typeof spawned === "number") {
    throw new CmkError("failure", `cannot create a process for ${argv[0]}: fork failed with ${errnoName(spawned)}; check the container's process limit`);
  }
  const [pid, startFd, reportFd] = spawned;
  let state: "held" | "started" | "reaped" = "held";
  let status = 0;
  const closeQuietly = (fd: number): void => {
    try {
      closeSync(fd);
    } catch {
      // Already closed: nothing to release.
    }
  };
  const wait = (): number => {
    if (state !== "reaped") {
      const result = native().waitChild(pid);
      if (result < 0) throw new CmkError("failure", `cannot wait for process ${pid}: ${errnoName(result)}`);
      status = result;
      state = "reaped";
    }
    return status;
  };
  return {
    pid,
    start(extraEnv) {
      if (state !== "held") throw new CmkError("failure", `process ${pid} was already started or has ended`);
      state = "started";
      const message = startMark + Object.entries(extraEnv).map(([name, value]) => `${name}=${value}\0`).join("");
      try {
        writeSync(startFd, message);
      } catch {
        // EPIPE: a forwarded signal ended the child before it could run; wait() tells which.
      } finally {
        closeQuietly(startFd);
      }
      const report = Buffer.alloc(4);
      let got = 0;
      try {
        got = readSync(reportFd, report);
      } finally {
        closeQuietly(reportFd);
      }
      return got === 4 ? errnoName(-report.readInt32LE(0)) : null;
    },
    abandon() {
      if (state !== "held") return;
      closeQuietly(startFd);
      closeQuietly(reportFd);
      state = "started";
      wait();
    },
    wait,
  };
}

/**
 * From now on `signals` are passed on to the process set by forwardTo. Until one is set, the
 * first of them to arrive is held back, and forwardTo returns it.
 */
export function forwardSignals(signals: readonly number[]): void {
  const rc = native().forwardSignals(signals);
  if (rc !== 0) throw new CmkError("failure", `cannot install signal handlers: ${errnoName(rc)}`);
}

/** Sets where signals go (0: hold them back again); returns the signal held back so far, or 0. */
export function forwardTo(pid: number): number {
  return native().forwardTo(pid);
}
