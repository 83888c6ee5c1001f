// The report of a reconcile pass (cmk reconcile, and cmk agent --publish): the lists freed from
// dead tasks, as CMK reported them, and the live tasks found running off their lists.
import { taskAffinityReader } from "../adapters/affinity.ts";
import type { ReclaimedTask } from "../core/allocate.ts";
import { findMaskMismatches, type MaskMismatch, mismatchedProcess } from "../core/checks.ts";
import { type Json, reclaimedReport } from "../core/describe.ts";
import type { NodeState } from "../core/node-state.ts";

export function reconcileReport(state: NodeState, reclaimed: readonly ReclaimedTask[], procFs: string): { report: Json; mismatched: MaskMismatch[] } {
  const mismatched = findMaskMismatches(state, taskAffinityReader(procFs, state));
  const report: Json = {
    reclaimedCpuLists: reclaimedReport(reclaimed),
    // pid: the process whose mask is wrong; task: the task it belongs to (its PID in the pools).
    mismatchedCpuMasks: mismatched.map((entry) => ({
      actualCpus: entry.actualCpus,
      cpus: entry.cpus,
      pid: mismatchedProcess(state, entry),
      pool: entry.pool,
      task: entry.pid,
    })),
  };
  return { report, mismatched };
}
