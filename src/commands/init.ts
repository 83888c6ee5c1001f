// cmk init: carve the node's CPUs into pools and store them. Idempotent for the same layout;
// refuses to re-carve while tasks are allocated (that is `cmk reconfigure`'s job); with
// --keep-existing (the node agent's pod) leaves any pools a node already has as they are. Over a state
// that cannot be read, it starts afresh when no task recorded there can be alive (no cmk isolate
// with this state directory runs on the node), keeping the unreadable file as a backup.
import { runningIsolates } from "../adapters/procfs.ts";
import type { Context } from "../app/context.ts";
import { openStore } from "../app/stores.ts";
import { CmkError } from "../core/errors.ts";
import { allTaskIds, type NodeState, sameLayout } from "../core/node-state.ts";
import { defaultConfDir, type StateStore } from "../core/state-store.ts";
import { carveNode, layoutSummary } from "./carve-node.ts";
import type { initFlags, OptionsOf } from "./flags.ts";

type Outcome = "unchanged" | "created" | "replaced" | "kept";

function store(carved: NodeState, target: StateStore, keepExisting: boolean): Promise<Outcome> {
  return target.update((current) => {
    if (current !== null && sameLayout(current, carved)) return { result: "unchanged" as const };
    if (current !== null && keepExisting) return { result: "kept" as const };
    const tasks = current === null ? 0 : allTaskIds(current).size;
    if (tasks > 0) {
      throw new CmkError(
        "conflict",
        `${target.location} already has pools with ${tasks} running task(s), carved differently; use cmk reconfigure to change pool sizes while workloads run, or stop them first`,
      );
    }
    return { state: carved, result: current === null ? ("created" as const) : ("replaced" as const) };
  });
}

/** Sets an unreadable state aside when no cmk isolate of this state directory runs (its tasks are all gone). */
async function startAfresh(target: StateStore, unreadable: CmkError, context: Context): Promise<void> {
  const running = runningIsolates(context.settings.procFs, target.location, defaultConfDir);
  if (running.length > 0) {
    throw new CmkError(
      "invalid-state",
      `${unreadable.message}; cmk isolate processes of this state directory run on this node (PIDs ${running.slice(0, 8).join(", ")}${running.length > 8 ? ", ..." : ""}) and their CPUs are recorded only there, so cmk init will not start afresh: restore the file from a backup, or stop those workloads and run cmk init again`,
      { cause: unreadable },
    );
  }
  const backup = await target.setAsideUnreadable();
  if (backup !== null)
    context.log.warning(`${unreadable.message}; no cmk isolate of it runs on this node, so cmk init starts afresh and keeps the unreadable state as ${backup}`);
}

const verbs: Readonly<Record<Outcome, string>> = {
  unchanged: "is already initialised with these pools",
  created: "initialised",
  replaced: "re-initialised",
  kept: "already has pools, carved otherwise, and keeps them (--keep-existing; cmk reconfigure changes them)",
};

export async function run(options: OptionsOf<typeof initFlags>, context: Context): Promise<number> {
  const target = await openStore(options, context);
  const { carving, state: carved } = carveNode(options, context);
  let outcome: Outcome;
  try {
    outcome = await store(carved, target, options.keepExisting);
  } catch (error) {
    if (!(error instanceof CmkError && error.kind === "invalid-state")) throw error;
    await startAfresh(target, error, context);
    outcome = await store(carved, target, options.keepExisting);
  }
  const pools = outcome === "kept" ? "" : ` (${carving.strategy}; CPU lists per pool: ${layoutSummary(carving)})`;
  context.log.info(`${target.location} ${verbs[outcome]}${pools}`);
  return 0;
}
