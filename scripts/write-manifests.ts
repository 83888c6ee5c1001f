// Writes the files under deploy/ from the code cluster-init applies (src/core/cluster/), with
// cluster-init's defaults (no flags) and the image of the package's version, which a build's
// --version names too: `node scripts/write-manifests.ts` after a change there. `--check` only
// reports which files differ; test/unit/manifests.test.ts fails while any does.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { deployFileTexts } from "../src/app/manifests.ts";
import { clusterSpec } from "../src/commands/cluster-spec.ts";
import { clusterInitFlags, defaultsOf } from "../src/commands/flags.ts";

export const repoRoot = join(import.meta.dirname, "..");

/** Each file of deploy/ that the code makes, and its text. */
export function deployManifests(): { readonly name: string; readonly text: string }[] {
  const { version } = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string };
  return deployFileTexts(clusterSpec({ ...defaultsOf(clusterInitFlags), cmkImg: `cmk:v${version}` }));
}

function main(check: boolean): number {
  let differ = 0;
  for (const { name, text } of deployManifests()) {
    const file = join(repoRoot, "deploy", name);
    let current = "";
    try {
      current = readFileSync(file, "utf8");
    } catch {}
    if (current === text) continue;
    differ++;
    if (check) process.stdout.write(`deploy/${name} differs from what src/core/cluster/ makes\n`);
    else writeFileSync(file, text);
    if (!check) process.stdout.write(`wrote deploy/${name}\n`);
  }
  return check && differ > 0 ? 1 : 0;
}

if (import.meta.main) process.exitCode = main(process.argv.includes("--check"));
