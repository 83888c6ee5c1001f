// cmk uninstall: remove the cmk executable and runtime directory that `cmk install` placed.
// CMK's uninstall also removed the conf dir and the cluster's CMK objects; this one does not.
import { executableName, uninstall } from "../adapters/installer.ts";
import type { ParsedArgs } from "../cli/args.ts";
import type { Context } from "../cli/context.ts";

export async function run(args: ParsedArgs, context: Context): Promise<number> {
  const dir = args.values.get("install-dir") as string;
  const result = uninstall(dir);
  if (result.executableMissing) context.log.warning(`"${dir}/${executableName}" does not exist`);
  for (const path of result.removed) context.log.info(`Removed ${path}`);
  return 0;
}
