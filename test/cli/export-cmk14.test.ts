// `cmk export-cmk14`: the way back to CMK 1.4. A CMK 1.4 tree that cmk read and migrated comes
// back out identical in pools and tasks, and a target with content is never touched.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import { readStateDocument, runCmk, scratchDir } from "../helpers/cmk.ts";

const root = scratchDir("export-cmk14");

/** Every file and directory under `dir`: relative path -> contents ("/" for a directory). */
function treeOf(dir: string): Record<string, string> {
  const entries: Record<string, string> = {};
  const walk = (path: string): void => {
    for (const name of readdirSync(path).sort()) {
      const full = join(path, name);
      const isDirectory = statSync(full).isDirectory();
      entries[relative(dir, full)] = isDirectory ? "/" : readFileSync(full, "utf8");
      if (isDirectory) walk(full);
    }
  };
  walk(dir);
  return entries;
}

/** A CMK 1.4 configuration directory as CMK 1.4's init and isolate leave it (tasks are live PIDs). */
function writeCmk14ConfDir(dir: string): void {
  const pid = String(process.pid);
  const files: Record<string, string> = {
    lock: "",
    "pools/exclusive/exclusive": "1",
    "pools/exclusive/0/4,12/tasks": pid,
    "pools/exclusive/0/5,13/tasks": "",
    "pools/exclusive/1/10,30/tasks": "",
    "pools/exclusive-non-isolcpus/exclusive": "1",
    "pools/exclusive-non-isolcpus/0/6,14/tasks": "",
    "pools/shared/exclusive": "0",
    "pools/shared/0/2-3/tasks": `${pid},${process.ppid}`,
    "pools/infra/exclusive": "0",
    "pools/infra/0/0/tasks": "",
  };
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  // Sockets without lists are directories of their own.
  for (const empty of ["pools/exclusive-non-isolcpus/1", "pools/shared/1", "pools/infra/1"]) mkdirSync(join(dir, empty));
}

describe("cmk export-cmk14", () => {
  it("round trip: a CMK 1.4 tree, migrated by cmk's first write, comes back identical in pools and tasks", () => {
    const confDir = join(root, "conf");
    writeCmk14ConfDir(confDir);
    const original = treeOf(join(confDir, "pools"));
    const described = runCmk(["describe", `--conf-dir=${confDir}`]);
    assert.equal(described.status, 0, described.stderr);

    // Any write migrates: isolate records and releases a task on the infra list (CPU 0).
    const isolate = runCmk(["isolate", `--conf-dir=${confDir}`, "--pool=infra", "--", "true"]);
    assert.equal(isolate.status, 0, isolate.stderr);
    assert.equal(existsSync(join(confDir, "pools")), false, "cmk moved the CMK 1.4 tree aside");
    assert.ok(readStateDocument(confDir) !== undefined);

    const target = join(root, "rollback");
    const exported = runCmk(["export-cmk14", `--conf-dir=${confDir}`, `--to=${target}`]);
    assert.equal(exported.status, 0, exported.stderr);
    assert.match(exported.stderr, /^INFO:cmk:wrote 6 CPU lists and 2 task\(s\) of .* as a CMK 1\.4 configuration directory at .*rollback$/m);
    assert.deepEqual(treeOf(join(target, "pools")), original);
    assert.equal(readFileSync(join(target, "lock"), "utf8"), "");
    assert.deepEqual(
      readdirSync(root).filter((name) => name.includes("cmk-export")),
      [],
      "no temporary tree is left behind",
    );

    // cmk's own CMK 1.4 reader takes the exported tree as the node it came from.
    const reread = runCmk(["describe", `--conf-dir=${target}`]);
    assert.equal(reread.status, 0, reread.stderr);
    assert.equal(reread.stdout.replaceAll(target, confDir), described.stdout);
  });

  it("writes into a new or empty directory only, outside the conf dir, and leaves any other target as it was", () => {
    const confDir = join(root, "conf-b");
    writeCmk14ConfDir(confDir);
    const empty = join(root, "empty");
    mkdirSync(empty);
    assert.equal(runCmk(["export-cmk14", `--conf-dir=${confDir}`, `--to=${empty}`]).status, 0);
    assert.ok(existsSync(join(empty, "pools", "exclusive", "exclusive")));

    const busy = join(root, "busy");
    mkdirSync(busy);
    writeFileSync(join(busy, "notes"), "keep me");
    for (const [to, pattern] of [
      [busy, /--to=.*busy is not empty and is left as it is; choose a new or empty directory/],
      [join(busy, "notes"), /is a file; choose a new or empty directory/],
      [join(confDir, "export"), /is inside --conf-dir=.*; write the CMK 1\.4 tree to a directory outside it/],
      [join(root, "no-such-parent", "x"), /its parent .*no-such-parent does not exist; create it first/],
    ] as const) {
      const refused = runCmk(["export-cmk14", `--conf-dir=${confDir}`, `--to=${to}`]);
      assert.equal(refused.status, 2, `${to}: ${refused.stderr}`);
      assert.match(refused.stderr, pattern);
    }
    assert.deepEqual(treeOf(busy), { notes: "keep me" });
    assert.equal(existsSync(join(confDir, "export")), false);

    const missingTo = runCmk(["export-cmk14", `--conf-dir=${confDir}`]);
    assert.equal(missingTo.status, 2);
    assert.match(missingTo.stderr, /needs --to=<dir>/);
    const uninitialised = runCmk(["export-cmk14", `--conf-dir=${join(root, "nothing")}`, `--to=${join(root, "out-nothing")}`]);
    assert.equal(uninitialised.status, 8);
    assert.equal(existsSync(join(root, "out-nothing")), false);
  });
});
