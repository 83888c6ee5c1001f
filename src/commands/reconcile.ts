// cmk reconcile: free the CPU lists of dead tasks and report live tasks running off their CPUs.
import { allowedCpus } from "../adapters/affinity.ts";
import { taskLiveness } from "../adapters/procfs.ts";
import { secondsValue, type ParsedArgs } from "../cli/args.ts";
import { openStore, procFs, notInitialised, type Context } from "../cli/context.ts";
import { repeatEvery } from "../cli/interval.ts";
import { reclaimDead } from "../core/allocate.ts";
import { findMaskMismatches } from "../core/checks.ts";
import { sortedJson, type Json } from "../core/describe.ts";

export async function run(args: ParsedArgs, context: Context): Promise<number> {
  const interval = secondsValue("--interval", args.values.get("interval") as string);
  const store = openStore(args, context);
  const proc = procFs(context.env);
  await repeatEvery(
    interval,
    async () => {
      const reclaimed = await store.update((current) => {
        if (current === null) throw notInitialised(store);
        // A fresh view of procfs for every pass: a listing from an earlier pass misses newer tasks.
        const result = reclaimDead(current, taskLiveness(proc));
        return result.reclaimed.length > 0 ? { state: result.state, result, durability: "tasks" } : { result };
      });
      const mismatched = findMaskMismatches(reclaimed.state, (task) => {
        const record = reclaimed.state.tasks.get(task);
        return allowedCpus(proc, record?.child?.pid ?? Number(task));
      });
      const report: Json = {
        reclaimedCpuLists: reclaimed.reclaimed.map((entry) => ({ cpus: entry.cpus, pid: entry.pid, pool: entry.pool })),
        mismatchedCpuMasks: mismatched.map((entry) => ({ actualCpus: entry.actualCpus, cpus: entry.cpus, pid: entry.pid, pool: entry.pool })),
      };
      context.stdout(`${sortedJson(report)}\n`);
    },
    (seconds) => context.log.info(`waiting ${seconds} seconds until next reconciliation`),
  );
  return 0;
}
