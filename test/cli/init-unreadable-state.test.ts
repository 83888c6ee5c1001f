// A state that cannot be read is never a dead end, and never taken for something it is not:
// init starts afresh over it when no cmk isolate of that state directory runs (keeping it as a
// backup), refuses while one does, and damage other than an empty or zero-filled file (what a
// power failure leaves) is reported as corruption, not restored from layout.json.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { it } from "node:test";
import { cmkBin, cmkEnv, collect, recordedChild, runCmk, scratchDir, spawnCmk, waitFor } from "../helpers/cmk.ts";

const root = scratchDir("unreadable");
let counter = 0;

function initialised(): string {
  const dir = join(root, `conf-${counter++}`);
  const init = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"]);
  assert.equal(init.status, 0, init.stderr);
  return dir;
}

it("an empty state.json without layout.json: the error names the way out, and cmk init takes it", () => {
  const dir = initialised();
  writeFileSync(join(dir, "state.json"), "");
  rmSync(join(dir, "layout.json"));
  const describe = runCmk(["describe", `--conf-dir=${dir}`]);
  assert.equal(describe.status, 3, describe.stderr);
  assert.match(describe.stderr, /run cmk init --conf-dir=\S+ to start afresh \(it keeps the file as a backup\)/);
  const init = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"]);
  assert.equal(init.status, 0, init.stderr);
  assert.match(init.stderr, /no cmk isolate of it runs on this node, so cmk init starts afresh and keeps the unreadable state as \S+state\.json\.unreadable\n/);
  assert.equal(readFileSync(join(dir, "state.json.unreadable"), "utf8"), "");
  assert.equal(runCmk(["describe", `--conf-dir=${dir}`]).status, 0);
});

it("cmk init refuses to start afresh while an isolate of that state directory runs, and changes nothing", async () => {
  const dir = initialised();
  const flag = join(dir, "go");
  const task = spawnCmk(["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--", "sh", "-c", `while [ ! -e ${flag} ]; do sleep 0.02; done`]);
  const finished = collect(task);
  try {
    await waitFor("the task to be recorded", () => recordedChild(dir));
    writeFileSync(join(dir, "state.json"), "{ not json");
    const init = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"]);
    assert.equal(init.status, 3, init.stderr);
    assert.match(init.stderr, new RegExp(`cmk isolate processes of this state directory run on this node \\(PIDs ${task.pid}\\)`));
    assert.equal(readFileSync(join(dir, "state.json"), "utf8"), "{ not json");
    assert.deepEqual(
      readdirSync(dir).filter((name) => name.includes("unreadable")),
      [],
    );
  } finally {
    writeFileSync(flag, "");
    await finished;
  }
});

it("random bytes with NULs are corruption: reported as such, never restored from layout.json", () => {
  const dir = initialised();
  const bytes = randomBytes(4096);
  bytes[100] = 0;
  writeFileSync(join(dir, "state.json"), bytes);
  const describe = runCmk(["describe", `--conf-dir=${dir}`]);
  assert.equal(describe.status, 3, describe.stderr);
  assert.match(describe.stderr, /state\.json: not valid JSON/);
  assert.doesNotMatch(describe.stderr, /zero-filled|restored/);
  assert.deepEqual(readFileSync(join(dir, "state.json")), bytes);
});

it("a user who may not write the lock file is told which file, its owner and mode", {
  skip: process.getuid?.() !== 0 && "needs root to run cmk as another user",
}, () => {
  const dir = initialised();
  chmodSync(root, 0o755);
  chmodSync(dir, 0o755);
  chmodSync(join(dir, "lock"), 0o644);
  const result = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", cmkBin, "reconcile", `--conf-dir=${dir}`], {
    env: cmkEnv(),
    encoding: "utf8",
  });
  assert.equal(result.status, 1, result.stderr);
  assert.equal(
    result.stderr,
    `ERROR:cmk:cannot open the state lock ${dir}/lock: permission denied (owned by uid 0, mode 0644); run cmk as a user that may write it (root, usually) or choose a --conf-dir you own\n`,
  );
  chmodSync(dir, 0o700);
  const hidden = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", cmkBin, "reconcile", `--conf-dir=${dir}/inner`], {
    env: cmkEnv(),
    encoding: "utf8",
  });
  assert.equal(hidden.status, 1, hidden.stderr);
  assert.match(hidden.stderr, /^ERROR:cmk:cannot reach the state directory \S+\/inner: EACCES: permission denied/);
});
