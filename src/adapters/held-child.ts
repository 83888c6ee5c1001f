// A command's process started before the command may run, and the signals cmk isolate passes on
// to it. The process (cmk-hold, native/cmk_hold.c) exists, with the PID the command will have,
// before its CPUs are allocated; it execs the command only when started, with its CPU variables,
// after isolate has recorded and pinned it.
import { closeSync, readSync, writeSync } from "node:fs";
import { CmkError } from "../core/errors.ts";
import { builtFile, errnoName, native } from "./native.ts";

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

/** Starts the process that will exec `argv` with `env` (searching env's PATH) once started. */
export function spawnHeld(argv: readonly [string, ...string[]], env: NodeJS.ProcessEnv): HeldChild {
  const entries = Object.entries(env).flatMap(([name, value]) => (value === undefined ? [] : [`${name}=${value}`]));
  const helper = builtFile("cmk-hold");
  const spawned = native().spawnHeld(helper, argv, entries);
  if (typeof spawned === "number") {
    throw new CmkError(
      "failure",
      `cannot start ${helper} to run ${argv[0]}: ${errnoName(spawned)}; check the container's process limit, or reinstall cmk if the file is missing`,
    );
  }
  const [pid, startFd, reportFd] = spawned;
  // "released": started, or abandoned; either way no longer waiting for its start message.
  let state: "held" | "released" | "reaped" = "held";
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
      if (state !== "held") throw new CmkError("failure", `process ${pid} was already started or abandoned`);
      state = "released";
      const message =
        startMark +
        Object.entries(extraEnv)
          .map(([name, value]) => `${name}=${value}\0`)
          .join("");
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
      state = "released";
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
