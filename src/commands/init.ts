// cmk init: carve the node's CPUs into pools and store them. Idempotent for the same layout;
// refuses to re-carve while tasks are allocated (that is `cmk reconfigure`'s job).
import { openStore, type Context } from "../app/context.ts";
import { CmkError } from "../core/errors.ts";
import { allTaskIds, sameLayout } from "../core/node-state.ts";
import { carveNode, layoutSummary, type CarvingOptions } from "./carve-node.ts";

export async function run(options: CarvingOptions, context: Context): Promise<number> {
  const store = openStore(options, context);
  const { carving, state: carved } = carveNode(options, context);
  const outcome = await store.update((current) => {
    if (current !== null && sameLayout(current, carved)) return { result: "unchanged" as const };
    const tasks = current === null ? 0 : allTaskIds(current).size;
    if (tasks > 0) {
      throw new CmkError("conflict", `${store.location} already has pools with ${tasks} running task(s), carved differently; use cmk reconfigure to change pool sizes while workloads run, or stop them first`);
    }
    return { state: carved, result: current === null ? ("created" as const) : ("replaced" as const) };
  });
  const verb = outcome === "unchanged" ? "is already initialised with these pools" : outcome === "created" ? "initialised" : "re-initialised";
  context.log.info(`${store.location} ${verb} (${carving.strategy}; CPU lists per pool: ${layoutSummary(carving)})`);
  return 0;
}
