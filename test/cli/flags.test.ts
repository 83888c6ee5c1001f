// Directory flags given an empty value (an unset shell variable: --conf-dir=$DIR) are usage
// errors: nothing is written to, or removed from, the current directory.
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { runCmk, scratchDir } from "../helpers/cmk.ts";

const root = scratchDir("flags");

test("an empty --conf-dir or --install-dir is refused and the current directory is untouched", () => {
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

test("uninstall removes only a launcher that cmk install placed, and leaves other files named cmk alone", () => {
  const dir = join(root, "not-ours");
  mkdirSync(dir);
  writeFileSync(join(dir, "cmk"), "#!/bin/sh\necho my own tool\n");
  mkdirSync(join(dir, ".cmk-v1.0.0-0123456789abcdef"));
  writeFileSync(join(dir, ".cmk-v1.0.0-0123456789abcdef", "notes"), "mine\n");
  const result = runCmk(["uninstall", `--install-dir=${dir}`]);
  assert.equal(result.status, 1, result.stderr);
  assert.match(result.stderr, /not-ours\/cmk is not a launcher that cmk install placed \(it names no cmk runtime directory\), so cmk uninstall removes nothing/);
  assert.deepEqual(readdirSync(dir).sort(), [".cmk-v1.0.0-0123456789abcdef", "cmk"]);
  assert.equal(readFileSync(join(dir, "cmk"), "utf8"), "#!/bin/sh\necho my own tool\n");
});
