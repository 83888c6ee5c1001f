// Atomic file replacement on real files: the new content appears whole under the name, and a
// failure at any step leaves the previous file as it was and no temporary behind.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { replaceFile, writeNewFile } from "../../src/adapters/atomic-file.ts";

const scratch = mkdtempSync(join(tmpdir(), "cmk-atomic-"));
after(() => rmSync(scratch, { recursive: true, force: true }));
const worker = join(import.meta.dirname, "..", "helpers", "atomic-write-worker.ts");

let counter = 0;
function freshDir(): string {
  const dir = join(scratch, String(counter++));
  mkdirSync(dir);
  return dir;
}

describe("replaceFile", () => {
  for (const durable of [false, true]) {
    it(`replaces a file's content${durable ? " durably" : ""}, leaving nothing else`, () => {
      const dir = freshDir();
      const path = join(dir, "state.json");
      writeFileSync(path, "old");
      replaceFile(path, "new", { temporary: `${path}.tmp-1`, mode: 0o644, durable });
      assert.equal(readFileSync(path, "utf8"), "new");
      assert.deepEqual(readdirSync(dir), ["state.json"]);
    });
  }

  it("creates the file when there was none, with exactly the mode asked for when told", () => {
    const dir = freshDir();
    const path = join(dir, "cmk");
    const umask = process.umask(0o077);
    try {
      replaceFile(path, Buffer.from([1, 2, 3]), { temporary: join(dir, ".partial"), mode: 0o755, exactMode: true, durable: true });
    } finally {
      process.umask(umask);
    }
    assert.deepEqual([...readFileSync(path)], [1, 2, 3]);
    assert.equal(statSync(path).mode & 0o777, 0o755);
  });

  it("leaves the old file and no temporary when the write fails part-way", () => {
    const dir = freshDir();
    const path = join(dir, "state.json");
    writeFileSync(path, "old");
    // ulimit -f counts 1024-byte blocks: 8 KiB, then EFBIG.
    const run = spawnSync("sh", ["-c", 'ulimit -f 8 && exec "$0" "$@"', process.execPath, worker, path, `${path}.tmp-2`, String(64 * 1024)], {
      encoding: "utf8",
    });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout.trim(), "EFBIG");
    assert.equal(readFileSync(path, "utf8"), "old");
    assert.deepEqual(readdirSync(dir), ["state.json"]);
  });

  it("removes its temporary when the rename fails", () => {
    const dir = freshDir();
    const path = join(dir, "busy");
    mkdirSync(join(path, "inside"), { recursive: true });
    assert.throws(
      () => replaceFile(path, "new", { temporary: `${path}.tmp-3`, mode: 0o644, durable: false }),
      (error: NodeJS.ErrnoException) => error.code === "EISDIR",
    );
    assert.deepEqual(readdirSync(dir), ["busy"]);
  });

  it("never overwrites a file that holds its temporary's name", () => {
    const dir = freshDir();
    const path = join(dir, "state.json");
    writeFileSync(path, "old");
    writeFileSync(`${path}.tmp-4`, "someone else's");
    assert.throws(
      () => replaceFile(path, "new", { temporary: `${path}.tmp-4`, mode: 0o644, durable: false }),
      (error: NodeJS.ErrnoException) => error.code === "EEXIST",
    );
    assert.equal(readFileSync(path, "utf8"), "old");
    assert.equal(readFileSync(`${path}.tmp-4`, "utf8"), "someone else's");
  });
});

describe("writeNewFile", () => {
  it("refuses an existing name and leaves it alone", () => {
    const dir = freshDir();
    const path = join(dir, "node");
    writeFileSync(path, "there");
    assert.throws(
      () => writeNewFile(path, "new", { mode: 0o755, durable: true }),
      (error: NodeJS.ErrnoException) => error.code === "EEXIST",
    );
    assert.equal(readFileSync(path, "utf8"), "there");
  });
});
