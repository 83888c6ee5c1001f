// cmk reaffinitize: in CMK 1.5, each workload re-pinned itself after a cluster-wide reconfigure.
// cmk's reconfigure re-pins every thread of every moved task on the node itself, so there is
// nothing left to do here; the command stays, explaining so, for scripts and pod specs that call it.
import type { Context } from "../app/context.ts";
import type { OptionsOf, reaffinitizeFlags } from "./flags.ts";

export async function run(_options: OptionsOf<typeof reaffinitizeFlags>, context: Context): Promise<number> {
  context.log.info(
    "nothing to do: cmk reconfigure re-pins every thread of each task it moves, on the node, as it moves it; this command is kept for scripts that call it",
  );
  return 0;
}
