// `cmk uninstall`: removes what `cmk install` placed and nothing else (the node's state outlives
// the executable); a second run only warns, so a cleanup script may run it again safely.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { runCmk, scratchDir } from "../helpers/cmk.ts";

const root = scratchDir("uninstall");

describe("cmk uninstall", () => {
  it("removes what install placed; a second uninstall only warns", () => {
    const gone = join(root, "gone");
    const installed = runCmk(["install", `--install-dir=${gone}`], {}, root);
    assert.equal(installed.status, 0, installed.stderr);
    // The installed cmk removes itself, run as a workload container runs it: empty environment, no Node.js.
    const first = spawnSync(join(gone, "cmk"), ["uninstall", `--install-dir=${gone}`, "--conf-dir=/nonexistent"], { env: {}, cwd: root, encoding: "utf8" });
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stderr, /INFO:cmk:Removed .*\/gone\/cmk\n/);
    assert.deepEqual(readdirSync(gone), []);
    const second = runCmk(["uninstall", `--install-dir=${gone}`], {}, root);
    assert.equal(second.status, 0, second.stderr);
    assert.match(second.stderr, /^WARNING:cmk:".*\/gone\/cmk" does not exist\n$/);
    const help = runCmk(["uninstall", "--help"]);
    assert.match(help.stdout, /--conf-dir=<dir>\s+accepted for CMK compatibility; left untouched/);
  });

  it("removes only a launcher that cmk install placed, and leaves other files named cmk alone", () => {
    const dir = join(root, "not-ours");
    mkdirSync(dir);
    writeFileSync(join(dir, "cmk"), "#!/bin/sh\necho my own tool\n");
    mkdirSync(join(dir, ".cmk-v1.0.0-0123456789abcdef"));
    writeFileSync(join(dir, ".cmk-v1.0.0-0123456789abcdef", "notes"), "mine\n");
    const result = runCmk(["uninstall", `--install-dir=${dir}`]);
    assert.equal(result.status, 1, result.stderr);
    assert.match(
      result.stderr,
      /not-ours\/cmk is not a launcher that cmk install placed \(it names no cmk runtime directory\), so cmk uninstall removes nothing/,
    );
    assert.deepEqual(readdirSync(dir).sort(), [".cmk-v1.0.0-0123456789abcdef", "cmk"]);
    assert.equal(readFileSync(join(dir, "cmk"), "utf8"), "#!/bin/sh\necho my own tool\n");
  });
});
