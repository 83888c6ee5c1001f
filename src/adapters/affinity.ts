// CPU affinity through sched_setaffinity/sched_getaffinity, checked against what the kernel
// actually applied: a cgroup cpuset or offline CPUs can refuse or narrow a mask silently.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CpuSet } from "../core/cpuset.ts";
import { CmkError } from "../core/errors.ts";
import type { NodeState } from "../core/node-state.ts";
import { workloadPid } from "../core/tasks.ts";
import { ESRCH, errnoName, native } from "./native.ts";
import { allowedCpus } from "./procfs.ts";

/** The affinity of a thread (0 = the calling thread). */
export function getAffinity(tid: number): CpuSet {
  const result = native().getAffinity(tid);
  if (typeof result === "number") {
    throw new CmkError("failure", `cannot read the CPU affinity of thread ${tid}: ${errnoName(result)}`);
  }
  return CpuSet.fromBytes(result);
}

/** Sets a thread's affinity and returns what the kernel applied; throws when it refused. */
export function setAffinity(tid: number, cpus: CpuSet): CpuSet {
  const rc = native().setAffinity(tid, cpus.toBytes());
  if (rc !== 0) {
    throw new CmkError(
      "affinity",
      `the kernel refused CPU affinity ${cpus} for thread ${tid} (${errnoName(rc)})${cpusetNote()}; make those CPUs available to this container or choose another pool`,
    );
  }
  return getAffinity(tid);
}

/** Pins thread `tid` (a held child's only thread) to exactly `cpus`; fails if the kernel narrowed them. */
export function pinThread(tid: number, cpus: CpuSet): void {
  const applied = setAffinity(tid, cpus);
  if (!applied.equals(cpus)) {
    throw new CmkError(
      "affinity",
      `the kernel narrowed CPU affinity ${cpus} to ${applied}: CPUs ${cpus.difference(applied)} are not available here${cpusetNote()}; make them available to this container or choose another pool`,
    );
  }
}

/** Pins every thread of a process (for re-pinning running workloads); returns the threads pinned. */
export function pinProcess(procFs: string, pid: number, cpus: CpuSet): number {
  let threads: string[];
  try {
    threads = readdirSync(join(procFs, String(pid), "task"));
  } catch {
    return 0; // The process ended meanwhile.
  }
  let pinned = 0;
  for (const thread of threads) {
    const rc = native().setAffinity(Number(thread), cpus.toBytes());
    if (rc === 0) pinned++;
    else if (rc !== -ESRCH) throw new CmkError("affinity", `cannot pin thread ${thread} of process ${pid} to CPUs ${cpus}: ${errnoName(rc)}`);
  }
  return pinned;
}

/** " (cgroup cpuset /x allows CPUs 0-3)" for error messages, or "" when it cannot be read. */
function cpusetNote(): string {
  try {
    for (const line of readFileSync("/proc/self/cgroup", "utf8").split("\n")) {
      const [, controllers, path] = line.split(":");
      if (path === undefined) continue;
      const candidates =
        controllers === ""
          ? [join("/sys/fs/cgroup", path, "cpuset.cpus.effective")]
          : controllers?.split(",").includes("cpuset")
            ? [join("/sys/fs/cgroup/cpuset", path, "cpuset.effective_cpus"), join("/sys/fs/cgroup/cpuset", path, "cpuset.cpus")]
            : [];
      for (const file of candidates) {
        try {
          return ` (cgroup cpuset ${path} allows CPUs ${readFileSync(file, "utf8").trim() || "none"})`;
        } catch {
          // Try the next layout.
        }
      }
    }
  } catch {
    // Only decoration for the message.
  }
  return "";
}

/** The CPUs each task of `state` runs on, read from its workload process; null when it is gone. */
export function taskAffinityReader(procFs: string, state: NodeState): (taskId: string) => CpuSet | null {
  return (taskId) => allowedCpus(procFs, workloadPid(taskId, state.tasks.get(taskId)));
}
