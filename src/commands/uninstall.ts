// cmk uninstall: remove the cmk executable and runtime directory that `cmk install` placed.
// CMK's uninstall also removed the conf dir and the cluster's CMK objects; this one does not.
import { executableName, uninstall } from "../adapters/installer.ts";
import type { Context } from "../app/context.ts";
import type { OptionsOf, uninstallFlags } from "./flags.ts";

export async function run(options: OptionsOf<typeof uninstallFlags>, context: Context): Promise<number> {
  const result = uninstall(options.installDir);
  if (result.executableMissing) context.log.warning(`"${options.installDir}/${executableName}" does not exist`);
  for (const path of result.removed) context.log.info(`Removed ${path}`);
  return 0;
}
