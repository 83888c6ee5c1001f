// cmk reconfigure: change pool sizes on a node with running workloads. Computes the layout as
// init would, keeps or moves every live task (refusing up front when they do not fit), stores the
// result, then re-pins every thread of the moved tasks' processes and their descendants.
import { pinProcess } from "../adapters/affinity.ts";
import { ownProcess, processTree, taskLiveness } from "../adapters/procfs.ts";
import type { Context } from "../app/context.ts";
import { notInitialisedError, openStore } from "../app/stores.ts";
import { type Json, reclaimedReport, sortedJson } from "../core/describe.ts";
import { CmkError, describeCause } from "../core/errors.ts";
import { allTaskIds, type TaskRecord } from "../core/node-state.ts";
import type { Move } from "../core/reconfigure.ts";
import { planReconfigure } from "../core/reconfigure.ts";
import type { StateStore } from "../core/state-store.ts";
import { taskRoots } from "../core/tasks.ts";
import { type CarvingOptions, carveNode, layoutSummary } from "./carve-node.ts";
import type { OptionsOf, reconfigureFlags } from "./flags.ts";

/** What one reconfigure did: its report (movedTasks, reclaimedCpuLists), tasks kept, and whether every move was re-pinned. */
export interface ReconfigureOutcome {
  readonly report: Json;
  readonly moved: readonly { readonly ok: boolean; readonly report: Json }[];
  readonly kept: number;
}

/** Re-carves the node whose state `store` holds, moving and re-pinning tasks; must run in the host PID namespace. */
export async function reconfigureNode(store: StateStore, options: CarvingOptions, context: Context): Promise<ReconfigureOutcome> {
  const proc = context.settings.procFs;
  if (ownProcess(proc).pid !== process.pid) {
    throw new CmkError(
      "usage",
      `cmk reconfigure must run in the host PID namespace to re-pin tasks (CMK_PROC_FS=${proc} shows another namespace); run it on the host or in a pod with hostPID: true`,
    );
  }
  const { carving, state: carved } = carveNode(options, context);
  const plan = await store.update((current) => {
    if (current === null) throw notInitialisedError(store);
    const result = planReconfigure(current, carved, taskLiveness(proc));
    return { state: result.state, result };
  });
  context.log.info(`${store.location} reconfigured (${carving.strategy}; CPU lists per pool: ${layoutSummary(carving)})`);
  const moved = plan.moves.map((move) => repin(move, plan.state.tasks.get(move.taskId), context));
  const report: Json = { movedTasks: moved.map((entry) => entry.report), reclaimedCpuLists: reclaimedReport(plan.reclaimed) };
  return { report, moved, kept: allTaskIds(plan.state).size - plan.moves.length };
}

export async function run(options: OptionsOf<typeof reconfigureFlags>, context: Context): Promise<number | "affinity"> {
  const store = await openStore(options, context);
  if (options.fromRequest) {
    const { serveReconfigureRequest } = await import("./reconfigure-request.ts");
    return (await serveReconfigureRequest(store, options, context)) ? 0 : "affinity";
  }
  const outcome = await reconfigureNode(store, options, context);
  context.stdout(`${sortedJson(outcome.report)}\n`);
  return outcome.moved.every((entry) => entry.ok) ? 0 : "affinity";
}

/** Re-pins every thread of a moved task's processes and their descendants; reports what it did. */
function repin(move: Move, record: TaskRecord | undefined, context: Context): { ok: boolean; report: Json } {
  const proc = context.settings.procFs;
  let threads = 0;
  let error: string | null = null;
  if (record?.affinity === false) {
    context.log.warning(`task ${move.taskId} runs with --no-affinity: it must move itself from CPUs ${move.from} to ${move.to}`);
  } else {
    try {
      for (const pid of new Set(taskRoots(move.taskId, record).flatMap((root) => processTree(proc, root)))) threads += pinProcess(proc, pid, move.to);
    } catch (cause) {
      error = describeCause(cause);
      context.log.error(`task ${move.taskId}: ${error}`);
    }
  }
  return {
    ok: error === null,
    report: { cpus: move.to.toString(), error, pid: Number(move.taskId), pool: move.pool, previousCpus: move.from.toString(), threads },
  };
}
