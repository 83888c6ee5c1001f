// Reads of the host's procfs (CMK_PROC_FS): kernel command line, process start times, affinity
// as the kernel reports it, and free hugepages.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import type { TaskLiveness } from "../core/allocate.ts";
import { CmkError, describeCause } from "../core/errors.ts";
import type { ProcessIdentity } from "../core/node-state.ts";

export function readCmdline(procFs: string): string {
  const path = join(procFs, "cmdline");
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new CmkError(
      "failure",
      `cannot read the kernel command line ${path}: ${describeCause(error)}; set CMK_PROC_FS to the host's procfs mount (with CMK_DEV_LSCPU_SYSFS, give its root a proc/cmdline)`,
      { cause: error },
    );
  }
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), or null if the process is gone or a zombie. */
export function readStartTime(procFs: string, pid: number): number | null {
  return startTimeIn(readStat(`${procFs}/${pid}/stat`));
}

function readStat(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

function startTimeIn(stat: string | null): number | null {
  if (stat === null) return null;
  // The command name (field 2) may contain spaces and parentheses: count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ", 20);
  const state = fields[0];
  if (state === "Z" || state === "X" || state === "x") return null;
  const start = Number(fields[19]);
  return Number.isSafeInteger(start) ? start : null;
}

export function isAlive(procFs: string, process: ProcessIdentity): boolean {
  return readStartTime(procFs, process.pid) === process.start;
}

/**
 * The calling process's host PID and start time, from one read of `<procfs>/self/stat`: `self`
 * resolves in the procfs's own PID namespace.
 */
export function ownProcess(procFs: string): ProcessIdentity {
  const path = `${procFs}/self/stat`;
  const stat = readStat(path);
  const start = startTimeIn(stat);
  if (stat === null || start === null)
    throw new CmkError("failure", `cannot read this process's PID and start time from ${path}; set CMK_PROC_FS to the host's procfs mount`);
  return { pid: Number(stat.slice(0, stat.indexOf(" "))), start };
}

/** HugePages_Free from meminfo, or null when the file or line is missing. */
export function readHugepagesFree(procFs: string): number | null {
  try {
    const match = /^HugePages_Free:\s+(\d+)/m.exec(readFileSync(join(procFs, "meminfo"), "utf8"));
    return match === null ? null : Number(match[1]);
  } catch {
    return null;
  }
}

/**
 * A task is alive while its isolate process or its child runs with the recorded start time.
 * One listing of procfs answers "does this PID exist" for every task, so reclaiming thousands
 * of dead tasks costs one directory read rather than a failed open each. The listing is taken
 * on first use and kept: make a new liveness for every look at the state.
 */
export function taskLiveness(procFs: string): TaskLiveness {
  let running: Set<string> | undefined;
  const exists = (pid: number | string): boolean => {
    running ??= new Set(readdirSync(procFs).filter((name) => name.charCodeAt(0) <= 57));
    return running.has(String(pid));
  };
  const aliveWithStart = (process: ProcessIdentity): boolean => exists(process.pid) && isAlive(procFs, process);
  return (taskId, record) => {
    if (record === undefined) return exists(taskId); // Recorded by CMK: PID only.
    return aliveWithStart(record.isolate) || (record.child !== undefined && aliveWithStart(record.child));
  };
}

/** Host PID of a child we spawned: listed in <procfs>/<our host pid>/task/<our host pid>/children. */
export function childHostPid(procFs: string, ownPid: number, localChildPid: number): number | null {
  if (procFs === "/proc") return localChildPid;
  try {
    const children = readFileSync(join(procFs, String(ownPid), "task", String(ownPid), "children"), "utf8")
      .trim()
      .split(/\s+/);
    return children.length === 1 && children[0] !== "" ? Number(children[0]) : null;
  } catch {
    return null;
  }
}

/** A process and all its descendants, found through <procfs>/<pid>/task/<tid>/children. */
export function processTree(procFs: string, pid: number): number[] {
  const found: number[] = [];
  const pending = [pid];
  const seen = new Set<number>();
  while (pending.length > 0) {
    const next = pending.pop() as number;
    if (seen.has(next)) continue;
    seen.add(next);
    let threads: string[];
    try {
      threads = readdirSync(join(procFs, String(next), "task"));
    } catch {
      continue; // Ended meanwhile.
    }
    found.push(next);
    for (const thread of threads) {
      try {
        for (const child of readFileSync(join(procFs, String(next), "task", thread, "children"), "utf8")
          .trim()
          .split(/\s+/)) {
          if (child !== "") pending.push(Number(child));
        }
      } catch {
        // The thread ended meanwhile.
      }
    }
  }
  return found;
}

/**
 * The PIDs of running `cmk isolate` processes (of any install of cmk, or CMK's) whose state
 * directory is `confDir`, found by their command lines (`--conf-dir`, else `defaultConfDir`).
 */
export function runningIsolates(procFs: string, confDir: string, defaultConfDir: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync(procFs)) {
    if (name.charCodeAt(0) > 57) continue;
    let argv: string[];
    try {
      argv = readFileSync(`${procFs}/${name}/cmdline`, "utf8").split("\0");
    } catch {
      continue; // Ended meanwhile.
    }
    const command = argv.findIndex((arg) => /(^|\/)(cmk|cmk\.cjs|cmk-main\.cjs)$/.test(arg));
    if (command < 0 || argv[command + 1] !== "isolate") continue;
    const own = isolateConfDir(argv.slice(command + 2)) ?? defaultConfDir;
    let cwd = "/";
    try {
      cwd = readlinkSync(`${procFs}/${name}/cwd`);
    } catch {
      // Another user's process: its relative --conf-dir is taken from /.
    }
    if (resolve(cwd, own) === confDir) found.push(Number(name));
  }
  return found.sort((a, b) => a - b);
}

/** The --conf-dir an isolate's arguments name, before its program; undefined when none. */
function isolateConfDir(args: readonly string[]): string | undefined {
  for (let index = 0; index < args.length; index++) {
    const arg = args[index] as string;
    if (arg === "--" || !arg.startsWith("-")) return undefined;
    if (arg.startsWith("--conf-dir=")) return arg.slice("--conf-dir=".length);
    if (arg === "--conf-dir") return args[index + 1];
  }
  return undefined;
}
