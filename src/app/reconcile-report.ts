// A reconcile pass (cmk reconcile, and the loop of cmk agent): one transaction that frees the
// lists of dead tasks, and its report: the lists freed, as CMK reported them, and the live tasks
// found running off their lists.
import { taskAffinityReader } from "../adapters/affinity.ts";
import { taskLiveness } from "../adapters/procfs.ts";
import { type ReclaimedTask, reclaimDead } from "../core/allocate.ts";
import { findMaskMismatches, type MaskMismatch, mismatchedProcess } from "../core/checks.ts";
import { type Json, reclaimedReport } from "../core/describe.ts";
import type { NodeState } from "../core/node-state.ts";
import type { StateStore } from "../core/state-store.ts";
import { notInitialisedError } from "./stores.ts";

/** Frees the lists of tasks that are no longer alive; writes only when it freed some. */
export async function reclaimDeadTasks(store: StateStore, procFs: string): Promise<{ state: NodeState; reclaimed: ReclaimedTask[] }> {
  return store.update((current) => {
    if (current === null) throw notInitialisedError(store);
    // A fresh view of procfs for every run of the change: an earlier listing misses newer tasks.
    const result = reclaimDead(current, taskLiveness(procFs));
    return result.reclaimed.length > 0 ? { state: result.state, result, durability: "tasks" } : { result };
  });
}

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
