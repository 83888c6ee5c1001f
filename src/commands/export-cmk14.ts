// cmk export-cmk14: the way back to CMK 1.4. Writes the node's current pools and task PIDs as
// CMK 1.4's configuration directory, since cmk's first write moves the CMK 1.4 tree aside and
// CMK 1.4 cannot read cmk's state.json.
import { writeCmk14Tree } from "../adapters/cmk14-tree.ts";
import type { Context } from "../app/context.ts";
import { notInitialisedError, openStore } from "../app/stores.ts";
import { usageError } from "../core/errors.ts";
import type { exportCmk14Flags, OptionsOf } from "./flags.ts";

export async function run(options: OptionsOf<typeof exportCmk14Flags>, context: Context): Promise<number> {
  if (options.to === undefined) throw usageError("cmk export-cmk14 needs --to=<dir>: a new or empty directory for CMK 1.4's configuration");
  const store = await openStore(options, context);
  const state = await store.read();
  if (state === null) throw notInitialisedError(store);
  const written = writeCmk14Tree(state, options.to, store.location);
  const withChild = [...state.tasks.values()].filter((record) => record.child !== undefined).length;
  context.log.info(
    `wrote ${written.cpuLists} CPU lists and ${written.tasks} task(s) of ${store.location} as a CMK 1.4 configuration directory at ${written.target}`,
  );
  if (withChild > 0) {
    context.log.info(
      `CMK 1.4 knows a task by its isolate PID only: the start times and command PIDs cmk recorded for ${withChild} task(s) have no place in its tree`,
    );
  }
  return 0;
}
