// cmk uninstall: remove the cmk executable and runtime directory that `cmk install` placed; with
// --cluster, what `cmk cluster-init` put on the cluster instead (cluster-uninstall.ts). CMK's
// uninstall did both at once on every node, and removed the cluster's objects once per node.
import { executableName, uninstall } from "../adapters/installer.ts";
import type { Context } from "../app/context.ts";
import { usageError } from "../core/errors.ts";
import type { OptionsOf, uninstallFlags } from "./flags.ts";

export async function run(options: OptionsOf<typeof uninstallFlags>, context: Context): Promise<number> {
  if (options.cluster) return (await import("./cluster-uninstall.ts")).run(options, context);
  if (options.force) throw usageError("--force goes with --cluster: it removes node states whose tasks still hold cores");
  if (options.keepInstalled) throw usageError("--keep-installed goes with --cluster: without it, cmk uninstall removes this node's cmk");
  const result = uninstall(options.installDir);
  if (result.executableMissing) context.log.warning(`"${options.installDir}/${executableName}" does not exist`);
  for (const path of result.removed) context.log.info(`Removed ${path}`);
  return 0;
}
