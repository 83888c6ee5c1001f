// cmk reconcile: free the CPU lists of dead tasks and report live tasks running off their CPUs,
// naming the process whose CPU mask is wrong; once, or in a loop with metrics (long-running.ts).
import type { Context } from "../app/context.ts";
import { reportPublisher } from "../app/publish.ts";
import { reclaimDeadTasks, reconcileReport } from "../app/reconcile-report.ts";
import { openStore } from "../app/stores.ts";
import { sortedJson } from "../core/describe.ts";
import { reconcileSummary } from "../core/report-summary.ts";
import type { OptionsOf, reconcileFlags } from "./flags.ts";
import { runLoop } from "./long-running.ts";
import type { CommandResult } from "./table.ts";

export async function run(options: OptionsOf<typeof reconcileFlags>, context: Context): Promise<CommandResult> {
  const failure = await runLoop(options, context, "reconcile", async (context) => {
    const store = await openStore(options, context);
    const publish = await reportPublisher("reconcile", options, context);
    const proc = context.settings.procFs;
    const pass = async () => {
      const started = context.now();
      const reclaimed = await reclaimDeadTasks(store, proc);
      context.log.debug(
        `checked ${reclaimed.state.tasks.size + reclaimed.reclaimed.length} recorded tasks, reclaimed ${reclaimed.reclaimed.length} CPU lists; lock wait and transaction ${(context.now() - started).toFixed(1)} ms`,
      );
      for (const entry of reclaimed.reclaimed) context.log.debug(`reclaimed ${entry.pool} CPU list ${entry.cpus} of dead task ${entry.pid}`);
      const { report, mismatched } = reconcileReport(reclaimed.state, reclaimed.reclaimed, proc);
      context.stdout(`${sortedJson(report)}\n`);
      await publish?.(report, reconcileSummary(reclaimed.reclaimed.length, mismatched.length));
      return { state: reclaimed.state, reclaimed: reclaimed.reclaimed, mismatchedCpuMasks: mismatched.length };
    };
    return { pass, onWait: (seconds: number) => context.log.info(`waiting ${seconds} seconds until next reconciliation`) };
  });
  return failure ?? 0;
}
