// Directory flags given an empty value (an unset shell variable: --conf-dir=$DIR) are usage
// errors: nothing is written to, or removed from, the current directory.
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { it } from "node:test";
import { runCmk, scratchDir } from "../helpers/cmk.ts";

const root = scratchDir("flags");

it("an empty --conf-dir or --install-dir is refused and the current directory is untouched", () => {
  const cwd = join(root, "work");
  mkdirSync(cwd);
  // A user's own file that happens to be called cmk.
  writeFileSync(join(cwd, "cmk"), "my notes\n");
  const runs = [
    ["init", "--conf-dir=", "--num-exclusive-cores=1", "--num-shared-cores=0"],
    ["describe", "--conf-dir="],
    ["reconcile", "--conf-dir", ""],
    ["install", "--install-dir="],
    ["uninstall", "--install-dir="],
  ];
  for (const args of runs) {
    const result = runCmk(args, {}, cwd);
    assert.equal(result.status, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, /--(conf|install)-dir is empty; give a directory, e\.g\. --(conf-dir=\/etc\/cmk|install-dir=\/opt\/bin)/);
  }
  assert.deepEqual(readdirSync(cwd), ["cmk"]);
  assert.equal(readFileSync(join(cwd, "cmk"), "utf8"), "my notes\n");
});
