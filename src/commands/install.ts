// cmk install: place the self-contained cmk executable in --install-dir (see adapters/installer.ts).
import { install } from "../adapters/installer.ts";
import { buildInfo } from "../app/build-info.ts";
import type { Context } from "../app/context.ts";
import type { installFlags, OptionsOf } from "./flags.ts";

export async function run(options: OptionsOf<typeof installFlags>, context: Context): Promise<number> {
  const result = install(options.installDir, buildInfo.version);
  context.log.debug(`${result.reused ? "kept" : "wrote"} ${result.runtimeDir} (${Math.ceil(result.bytes / 1048576)} MB)`);
  for (const path of result.removed) context.log.debug(`removed ${path}, which no installed cmk uses`);
  for (const path of result.notRemoved) context.log.warning(`cannot remove ${path}, which no installed cmk uses; remove it by hand`);
  context.log.info(`Installed cmk to ${result.dir}`);
  return 0;
}
