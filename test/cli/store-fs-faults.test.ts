// The file store on a file system that fails: full (ENOSPC, a small tmpfs this test mounts and
// fills) and read-only (EROFS, the same tmpfs remounted). Why: a full /var or a root remounted
// read-only after an I/O error are the file-system faults a node really meets, and the file
// store's promise is the same as under a crash: the state stays what it was, byte for byte, no
// temporary file is left, and the user gets one line saying what failed. A workload whose release
// meets the full disk still ends isolate with its own status. Mounting needs root: without it
// the tests skip, saying so.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { type CmkResult, runCmk, scratchDir, tasksOn } from "../helpers/cmk.ts";

const isRoot = process.getuid?.() === 0;
const skip = !isRoot && "needs root to mount a tmpfs";
const carving = ["--num-exclusive-cores=1", "--num-shared-cores=0"];

/** A 256 KiB tmpfs of this test's own, unmounted (then its mount point removed) after the test. */
function smallTmpfs(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `cmk-fs-faults-${name}-`));
  const mount = spawnSync("mount", ["-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", dir], { encoding: "utf8" });
  assert.equal(mount.status, 0, mount.stderr);
  after(() => {
    spawnSync("umount", [dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Fills the file system of `dir` to the last byte with a file of our own. */
function fill(dir: string): string {
  const filler = join(dir, "filler");
  const dd = spawnSync("dd", ["if=/dev/zero", `of=${filler}`, "bs=4k"], { encoding: "utf8" });
  assert.match(dd.stderr, /No space left on device/);
  return filler;
}

function contents(dir: string): Record<string, string> {
  return Object.fromEntries(
    readdirSync(dir).map((name) => [
      name,
      createHash("sha256")
        .update(readFileSync(join(dir, name)))
        .digest("hex"),
    ]),
  );
}

function assertOneLine(result: CmkResult, error: RegExp): void {
  const errors = result.stderr.split("\n").filter((line) => line.startsWith("ERROR:"));
  assert.equal(errors.length, 1, result.stderr);
  assert.match(errors[0] as string, error);
  assert.doesNotMatch(result.stderr, /unexpected failure|^\s+at /m);
}

describe("the file store on a full file system (ENOSPC)", { skip }, () => {
  it("init, isolate and reconcile fail in one line, the state byte for byte as it was, no temporary left; all work once space is freed", () => {
    const mnt = smallTmpfs("full");
    const conf = join(mnt, "conf");
    assert.equal(runCmk(["init", `--conf-dir=${conf}`, ...carving]).status, 0);
    const layout = contents(conf);
    let filler = fill(mnt);
    const init = runCmk(["init", `--conf-dir=${conf}`, "--num-exclusive-cores=0", "--num-shared-cores=1"]);
    assert.equal(init.status, 1, init.stderr);
    assertOneLine(init, /cannot write .*conf\/layout\.json: ENOSPC: no space left on device.*; the previous state is unchanged/);
    assert.deepEqual(contents(conf), layout, "init changed the state directory");
    rmSync(filler);
    // A dead task on the exclusive list, so that reconcile has something to write.
    const document = JSON.parse(readFileSync(join(conf, "state.json"), "utf8"));
    const exclusive = document.config.exclusive["0"];
    const key = Object.keys(exclusive)[0] as string;
    exclusive[key] = ["4194304"];
    writeFileSync(join(conf, "state.json"), JSON.stringify(document));
    filler = fill(mnt);
    const before = contents(conf);
    const marker = join(scratchDir("fs-faults-marker"), "ran");
    for (const [args, status] of [
      [["isolate", "--pool=infra", "--", "touch", marker], 1],
      [["reconcile"], 1],
    ] as const) {
      const result = runCmk([args[0], `--conf-dir=${conf}`, ...args.slice(1)]);
      assert.equal(result.status, status, `${args[0]}: ${result.stderr}`);
      assertOneLine(result, /cannot write .*conf\/(state|layout)\.json: ENOSPC: no space left on device.*; the previous state is unchanged/);
      assert.deepEqual(contents(conf), before, `${args[0]} changed the state directory`);
    }
    assert.throws(() => readFileSync(marker), /ENOENT/, "isolate ran its command without a recorded allocation");
    rmSync(filler);
    const reconcile = runCmk(["reconcile", `--conf-dir=${conf}`]);
    assert.equal(reconcile.status, 0, reconcile.stderr);
    assert.deepEqual(tasksOn(conf, "exclusive", key), []);
    assert.equal(runCmk(["isolate", `--conf-dir=${conf}`, "--pool=exclusive", "--", "true"]).status, 0);
  });

  it("when the disk fills while the command runs, isolate still ends with the command's status and says its lists stay held; reconcile frees them later", () => {
    const mnt = smallTmpfs("fills");
    const conf = join(mnt, "conf");
    assert.equal(runCmk(["init", `--conf-dir=${conf}`, ...carving]).status, 0);
    const filler = join(mnt, "filler");
    const result = runCmk(["isolate", `--conf-dir=${conf}`, "--pool=exclusive", "--", "sh", "-c", `dd if=/dev/zero of=${filler} bs=4k 2>/dev/null; exit 3`]);
    assert.equal(result.status, 3, result.stderr);
    assertOneLine(
      result,
      /the command ended \(status 3\), but its CPU lists were not given back: cannot write .*ENOSPC.*; cmk reconcile frees them once the state can be written/,
    );
    JSON.parse(readFileSync(join(conf, "state.json"), "utf8"));
    rmSync(filler);
    const reconcile = runCmk(["reconcile", `--conf-dir=${conf}`]);
    assert.equal(reconcile.status, 0, reconcile.stderr);
    assert.match(reconcile.stdout, /"pool": "exclusive"/);
  });
});

describe("the file store on a file system remounted read-only (EROFS)", { skip }, () => {
  it("readers work; writers fail in one line naming the file system; nothing changes; all work once it is writable again", () => {
    const mnt = smallTmpfs("readonly");
    const conf = join(mnt, "conf");
    assert.equal(runCmk(["init", `--conf-dir=${conf}`, ...carving]).status, 0);
    const before = contents(conf);
    const remount = (mode: string): void => {
      const result = spawnSync("mount", ["-o", `remount,${mode}`, mnt], { encoding: "utf8" });
      assert.equal(result.status, 0, result.stderr);
    };
    remount("ro");
    try {
      assert.equal(runCmk(["describe", `--conf-dir=${conf}`]).status, 0);
      for (const args of [["isolate", "--pool=exclusive", "--", "true"], ["reconcile"], ["init", ...carving], ["reconfigure", ...carving]]) {
        const result = runCmk([args[0] as string, `--conf-dir=${conf}`, ...args.slice(1)]);
        assert.equal(result.status, 1, `${args[0]}: ${result.stderr}`);
        assertOneLine(result, /the file system is read-only; choose a writable --conf-dir/);
      }
      assert.deepEqual(contents(conf), before);
    } finally {
      remount("rw");
    }
    assert.equal(runCmk(["isolate", `--conf-dir=${conf}`, "--pool=exclusive", "--", "true"]).status, 0);
  });
});
