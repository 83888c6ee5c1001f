// Reads of the host's procfs (CMK_PROC_FS): kernel command line, process start times, affinity
// as the kernel reports it, free hugepages, the boot id, and the cmk isolate processes of a state
// directory.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import type { TaskLiveness } from "../core/allocate.ts";
import type { ProcessCpus } from "../core/checks.ts";
import { CpuSet } from "../core/cpuset.ts";
import { CmkError, describeCause } from "../core/errors.ts";
import type { PodIdentity, ProcessIdentity } from "../core/node-state.ts";

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
    running ??= listedProcesses(procFs);
    return running.has(String(pid));
  };
  const aliveWithStart = (process: ProcessIdentity): boolean => exists(process.pid) && isAlive(procFs, process);
  return (taskId, record) => {
    if (record === undefined) return exists(taskId); // Recorded by CMK: PID only.
    return aliveWithStart(record.isolate) || (record.child !== undefined && aliveWithStart(record.child));
  };
}

/**
 * The PIDs a procfs lists. One that lists none, or cannot be listed, is no procfs (a procfs lists
 * at least the process reading it): every task would look dead, and its CPUs would be handed to
 * another workload while it runs, so that is an error, never an empty answer.
 */
function listedProcesses(procFs: string): Set<string> {
  let names: string[];
  try {
    names = readdirSync(procFs);
  } catch (error) {
    throw new CmkError("failure", `cannot list the processes in ${procFs}: ${describeCause(error)}; set CMK_PROC_FS to the host's procfs mount`, {
      cause: error,
    });
  }
  const pids = new Set(names.filter((name) => name.charCodeAt(0) <= 57));
  if (pids.size === 0) {
    throw new CmkError("failure", `${procFs} lists no process, so no task can be told alive (is it a procfs?); set CMK_PROC_FS to the host's procfs mount`);
  }
  return pids;
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

/** The kernel's boot id (`<procfs>/sys/kernel/random/boot_id`), new at every boot; null when procfs does not show one. */
export function readBootId(procFs: string): string | null {
  try {
    const id = readFileSync(`${procFs}/sys/kernel/random/boot_id`, "utf8").trim();
    return id === "" ? null : id;
  } catch {
    return null;
  }
}

/** What procfs shows of a running `cmk isolate`: its identity, the flags it was given, and its command. */
export interface IsolateProcess {
  readonly pid: number;
  /** Its start time; null when it ended while being read. */
  readonly start: number | null;
  /** --pool as given (not checked); undefined when absent. */
  readonly pool: string | undefined;
  /** False when started with --no-affinity. */
  readonly affinity: boolean;
  /** Its child, the held command's process; null when it has none, or more than one. */
  readonly command: CommandProcess | null;
}

export interface CommandProcess {
  readonly pid: number;
  readonly start: number | null;
  /** CMK_CPUS_ASSIGNED of its environment: set once isolate let it exec; null before (or when unreadable). */
  readonly assigned: CpuSet | null;
  /** Its CPU mask (Cpus_allowed_list); null when unreadable. */
  readonly allowed: CpuSet | null;
}

/**
 * The running `cmk isolate` processes (of any install of cmk, or CMK's) whose state directory is
 * `confDir`, found by their command lines (`--conf-dir`, else `defaultConfDir`), by PID.
 */
export function isolateProcesses(procFs: string, confDir: string, defaultConfDir: string): IsolateProcess[] {
  const found: IsolateProcess[] = [];
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
    const flags = isolateFlagsOf(argv.slice(command + 2));
    const own = flags.get("conf-dir") ?? defaultConfDir;
    let cwd = "/";
    try {
      cwd = readlinkSync(`${procFs}/${name}/cwd`);
    } catch {
      // Another user's process: its relative --conf-dir is taken from /.
    }
    if (resolve(cwd, own) !== confDir) continue;
    const pid = Number(name);
    found.push({ pid, start: readStartTime(procFs, pid), pool: flags.get("pool"), affinity: !flags.has("no-affinity"), command: commandOf(procFs, pid) });
  }
  return found.sort((a, b) => a.pid - b.pid);
}

/** The PIDs of the running `cmk isolate` processes whose state directory is `confDir` (see isolateProcesses). */
export function runningIsolates(procFs: string, confDir: string, defaultConfDir: string): number[] {
  return isolateProcesses(procFs, confDir, defaultConfDir).map((isolate) => isolate.pid);
}

/**
 * The flags of cmk isolate that take a value, as commands/flags.ts defines them (isolateFlags):
 * `--pool exclusive` is one flag and its value, `--no-affinity` a switch.
 */
export const isolateValueFlags: ReadonlySet<string> = new Set(["pool", "socket-id", "conf-dir", "namespace", "kubeconfig", "node-name"]);

/**
 * The flags in an isolate's arguments, by name (a switch maps to ""), read with the command line's
 * grammar: `--flag=value` or `--flag value`, up to `--`; the program's name may stand among them
 * (CMK's form, `isolate --pool=x <program> --conf-dir=y -- <args>`).
 */
export function isolateFlagsOf(args: readonly string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let index = 0; index < args.length; index++) {
    const arg = args[index] as string;
    if (arg === "--") break;
    if (!arg.startsWith("--")) continue; // The program.
    const equals = arg.indexOf("=");
    const name = arg.slice(2, equals < 0 ? undefined : equals);
    if (equals >= 0) flags.set(name, arg.slice(equals + 1));
    else if (isolateValueFlags.has(name)) flags.set(name, args[++index] ?? "");
    else flags.set(name, "");
  }
  return flags;
}

/** The one child of a process (of any of its threads), as procfs shows it; null when there is not exactly one. */
export function soleChild(procFs: string, pid: number): number | null {
  const children: number[] = [];
  let threads: string[];
  try {
    threads = readdirSync(`${procFs}/${pid}/task`);
  } catch {
    return null;
  }
  for (const thread of threads) {
    try {
      for (const child of readFileSync(`${procFs}/${pid}/task/${thread}/children`, "utf8").trim().split(/\s+/)) {
        if (child !== "") children.push(Number(child));
      }
    } catch {
      // The thread ended meanwhile.
    }
  }
  return children.length === 1 ? (children[0] as number) : null;
}

/** The one child of an isolate (its command's process), as procfs shows it; null when there is not exactly one. */
function commandOf(procFs: string, isolatePid: number): CommandProcess | null {
  const pid = soleChild(procFs, isolatePid);
  if (pid === null) return null;
  return { pid, start: readStartTime(procFs, pid), assigned: assignedCpus(procFs, pid), allowed: allowedCpus(procFs, pid) };
}

/** CMK_CPUS_ASSIGNED in a process's environment (as it was exec'd), or null. */
function assignedCpus(procFs: string, pid: number): CpuSet | null {
  const value = environmentOf(procFs, pid).get("CMK_CPUS_ASSIGNED");
  return value === undefined ? null : cpuSetOrNull(value);
}

/** A process's environment as it was exec'd (empty when it cannot be read). */
function environmentOf(procFs: string, pid: number): Map<string, string> {
  const variables = new Map<string, string>();
  let environ: string;
  try {
    environ = readFileSync(`${procFs}/${pid}/environ`, "utf8");
  } catch {
    return variables;
  }
  for (const variable of environ.split("\0")) {
    const equals = variable.indexOf("=");
    if (equals > 0) variables.set(variable.slice(0, equals), variable.slice(equals + 1));
  }
  return variables;
}

/**
 * The pod a process runs in, from the downward API's POD_NAMESPACE, POD_NAME and POD_UID in its
 * environment as the kernel keeps it (what the agent records; the process cannot change it after exec).
 */
export function podOf(procFs: string, pid: number): PodIdentity | undefined {
  const env = environmentOf(procFs, pid);
  const namespace = env.get("POD_NAMESPACE");
  const name = env.get("POD_NAME");
  const uid = env.get("POD_UID");
  return namespace && name && uid ? { namespace, name, uid } : undefined;
}

/** The kernel's PF_KTHREAD in /proc/<pid>/stat's flags: kernel threads are pinned by the kernel. */
const kernelThreadFlag = 0x00200000;

/**
 * Every user process (kernel threads left out) with its parent and the CPUs its cpuset cgroup
 * allows (null when that cannot be read: no cpuset controller, or cgroups not seen from here):
 * node-report's look for confinement cmk did not make. The cgroup's, not the process's affinity,
 * because that is what another CPU manager sets (the kubelet's static policy writes a container's
 * cpuset), while cmk pins by affinity.
 */
export function userProcesses(procFs: string, cgroupRoot: string): ProcessCpus[] {
  const found: ProcessCpus[] = [];
  const cpusets = new Map<string, CpuSet | null>();
  const cpusetOf = (path: string): CpuSet | null => {
    let cpus = cpusets.get(path);
    if (cpus === undefined) {
      cpus = null;
      for (const file of [join(cgroupRoot, "cpuset", path, "cpuset.cpus"), join(cgroupRoot, path, "cpuset.cpus.effective")]) {
        try {
          cpus = CpuSet.parse(readFileSync(file, "utf8").trim());
          break;
        } catch {
          // Not this layout (v1 or v2), or not visible from here.
        }
      }
      cpusets.set(path, cpus);
    }
    return cpus;
  };
  let entries: string[];
  try {
    entries = readdirSync(procFs);
  } catch {
    return found;
  }
  for (const entry of entries) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      const stat = readFileSync(join(procFs, entry, "stat"), "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // After the command: state, ppid, pgrp, session, tty_nr, tpgid, flags.
      if ((Number(fields[6]) & kernelThreadFlag) !== 0) continue;
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      let cpus: CpuSet | null = null;
      try {
        cpus = cpusetOf(readFileSync(join(procFs, entry, "cpuset"), "utf8").trim());
      } catch {
        // No cpuset controller.
      }
      found.push({ pid: Number(entry), ppid: Number(fields[1]), name, cpus });
    } catch {
      // Ended meanwhile.
    }
  }
  return found;
}

/** Cpus_allowed_list of a process as the kernel reports it, or null if it is gone. */
export function allowedCpus(procFs: string, pid: number): CpuSet | null {
  try {
    const match = /^Cpus_allowed_list:\s*(.*)$/m.exec(readFileSync(join(procFs, String(pid), "status"), "utf8"));
    return match === null ? null : CpuSet.parse(match[1] ?? "");
  } catch {
    return null;
  }
}

function cpuSetOrNull(text: string): CpuSet | null {
  try {
    return CpuSet.parse(text);
  } catch {
    return null;
  }
}
