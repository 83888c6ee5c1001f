// `cmk reconfigure` with real running tasks on this machine's CPUs.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { collect, editStateDocument, recordedChild, runCmk, scratchDir, spawnCmk, tasksOn, waitFor } from "../helpers/cmk.ts";

const root = scratchDir("reconfigure");
let counter = 0;

/** A node whose exclusive list is CPU 1 and infra CPU 0: the reverse of what init carves here. */
function reversedNode(): string {
  const dir = join(root, `node-${counter++}`);
  assert.equal(runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"]).status, 0);
  editStateDocument(dir, (document) => {
    document.config["exclusive"] = { "0": { "1": [] } };
    document.config["infra"] = { "0": { "0": [] } };
  });
  return dir;
}

describe("cmk reconfigure", () => {
  it("moves a running exclusive task to its new list and re-pins its processes", async () => {
    const dir = reversedNode();
    const flag = join(dir, "go");
    const task = spawnCmk(["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--", "sh", "-c", `grep Cpus_allowed_list /proc/self/status; while [ ! -e ${flag} ]; do sleep 0.02; done; grep Cpus_allowed_list /proc/self/status`]);
    const running = new Promise<void>((resolve) => task.stdout?.once("data", () => resolve()));
    const output = collect(task);
    try {
      await running;
      await waitFor("the child to be recorded", () => recordedChild(dir));
    } catch (error) {
      writeFileSync(flag, "");
      throw error;
    }
    // The task always ends, even when an assertion below fails.
    const result = (() => {
      try {
        return runCmk(["reconfigure", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"]);
      } finally {
        setTimeout(() => writeFileSync(flag, ""), 0);
      }
    })();
    assert.equal(result.status, 0, result.stderr);
    const report = JSON.parse(result.stdout) as { movedTasks: { cpus: string; previousCpus: string; pid: number; pool: string; threads: number; error: string | null }[] };
    assert.equal(report.movedTasks.length, 1);
    // bin/cmk execs Node, so the isolate task's PID is the spawned process's.
    assert.deepEqual({ ...report.movedTasks[0], threads: 0 }, { cpus: "0", error: null, pid: task.pid, pool: "exclusive", previousCpus: "1", threads: 0 });
    assert.ok((report.movedTasks[0]?.threads ?? 0) >= 2, "the isolate's threads and the child were re-pinned");
    assert.deepEqual(tasksOn(dir, "exclusive", "0"), [String(task.pid)]);
    const done = await output;
    assert.equal(done.status, 0, done.stderr);
    assert.equal(done.stdout, "Cpus_allowed_list:\t1\nCpus_allowed_list:\t0\n");
  });

  it("refuses up front, changing nothing, when running tasks do not fit", () => {
    const dir = join(root, `node-${counter++}`);
    assert.equal(runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"]).status, 0);
    const file = join(dir, "state.json");
    // A CMK-recorded task (PID only) held by this live test process.
    editStateDocument(dir, (document) => {
      document.config["exclusive"] = { "0": { "0": [String(process.pid)] } };
    });
    const before = readFileSync(file, "utf8");
    const result = runCmk(["reconfigure", `--conf-dir=${dir}`, "--num-exclusive-cores=0", "--num-shared-cores=0"]);
    assert.equal(result.status, 7, result.stderr);
    assert.match(result.stderr, new RegExp(`the new layout has 0 exclusive CPU lists but running tasks \\(${process.pid}\\) hold 1; .*nothing was changed`));
    assert.equal(readFileSync(file, "utf8"), before);
  });

  it("keeps a task whose list still exists where it is", () => {
    const dir = join(root, `node-${counter++}`);
    assert.equal(runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"]).status, 0);
    editStateDocument(dir, (document) => {
      document.config["exclusive"] = { "0": { "0": [String(process.pid)] } };
    });
    const result = runCmk(["reconfigure", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=0", "--exclusive-mode=spread"]);
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), { movedTasks: [], reclaimedCpuLists: [] });
    assert.deepEqual(tasksOn(dir, "exclusive", "0"), [String(process.pid)]);
  });
});
