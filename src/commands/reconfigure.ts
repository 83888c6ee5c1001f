// cmk reconfigure: change pool sizes on a node with running workloads. Computes the layout as
// init would, keeps or moves every live task (refusing up front when they do not fit), stores the
// result, then re-pins every thread of the moved tasks' processes and their descendants.
import { pinProcess } from "../adapters/affinity.ts";
import { ownProcess, processTree, taskLiveness } from "../adapters/procfs.ts";
import type { ParsedArgs } from "../cli/args.ts";
import { openStore, procFs, notInitialised, type Context } from "../cli/context.ts";
import { sortedJson, type Json } from "../core/describe.ts";
import { CmkError, describeCause, exitCodes } from "../core/errors.ts";
import { planReconfigure } from "../core/reconfigure.ts";
import { carveNode, layoutSummary } from "./carve-node.ts";

export async function run(args: ParsedArgs, context: Context): Promise<number> {
  const store = openStore(args, context);
  const proc = procFs(context.env);
  if (ownProcess(proc).pid !== process.pid) {
    throw new CmkError("usage", `cmk reconfigure must run in the host PID namespace to re-pin tasks (CMK_PROC_FS=${proc} shows another namespace); run it on the host or in a pod with hostPID: true`);
  }
  const { carving, state: carved } = carveNode(args, context);
  const plan = await store.update((current) => {
    if (current === null) throw notInitialised(store);
    const result = planReconfigure(current, carved, taskLiveness(proc));
    return { state: result.state, result };
  });
  context.log.info(`${store.location} reconfigured (${carving.strategy}; CPU lists per pool: ${layoutSummary(carving)})`);

  let failures = 0;
  const moved: Json[] = [];
  for (const move of plan.moves) {
    const record = plan.state.tasks.get(move.taskId);
    let threads = 0;
    let error: string | null = null;
    if (record?.affinity === false) {
      context.log.warning(`task ${move.taskId} runs with --no-affinity: it must move itself from CPUs ${move.from} to ${move.to}`);
    } else {
      const roots = record === undefined ? [Number(move.taskId)] : [record.isolate.pid, ...(record.child === undefined ? [] : [record.child.pid])];
      try {
        for (const pid of new Set(roots.flatMap((root) => processTree(proc, root)))) threads += pinProcess(proc, pid, move.to);
      } catch (cause) {
        failures++;
        error = describeCause(cause);
        context.log.error(`task ${move.taskId}: ${error}`);
      }
    }
    moved.push({ cpus: move.to.toString(), error, pid: Number(move.taskId), pool: move.pool, previousCpus: move.from.toString(), threads });
  }
  const report: Json = {
    movedTasks: moved,
    reclaimedCpuLists: plan.reclaimed.map((entry) => ({ cpus: entry.cpus, pid: entry.pid, pool: entry.pool })),
  };
  context.stdout(`${sortedJson(report)}\n`);
  return failures === 0 ? 0 : exitCodes.affinity;
}
