// cmk install: place the self-contained cmk executable in --install-dir (see adapters/installer.ts).
import { install } from "../adapters/installer.ts";
import type { ParsedArgs } from "../cli/args.ts";
import type { Context } from "../cli/context.ts";

export async function run(args: ParsedArgs, context: Context): Promise<number> {
  const result = install(args.values.get("install-dir") as string);
  context.log.debug(`${result.reused ? "kept" : "wrote"} ${result.runtimeDir} (${Math.ceil(result.bytes / 1048576)} MB)`);
  for (const path of result.removed) context.log.debug(`removed ${path}, which no installed cmk uses`);
  for (const path of result.notRemoved) context.log.warning(`cannot remove ${path}, which no installed cmk uses; remove it by hand`);
  context.log.info(`Installed cmk to ${result.dir}`);
  return 0;
}
