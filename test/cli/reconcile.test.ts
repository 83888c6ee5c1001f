// `cmk reconcile`: which tasks it takes for dead (and never a live one, however its PID was
// recorded: freeing a live task's CPUs would put two workloads on one core), and the live tasks
// it reports running off their CPUs. Tests that start pinned tasks use this machine's CPUs
// (hostNode), also when CMK_TEST_TOPOLOGY pretends another topology; the others carve the test
// node and look at processes through the host's procfs.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { type CmkResult, collect, editStateDocument, fixtureEnv, readStateDocument, runCmk, scratchDir, spawnCmk, tasksOn, waitFor } from "../helpers/cmk.ts";
import { withDriftingTask } from "../helpers/drifting-task.ts";
import { fakeProcess } from "../helpers/fake-proc.ts";
import { type ExpectedList, expectedPools, hostNode, type TestNode, testNode, withHostProcfs } from "../helpers/topology.ts";

const root = scratchDir("reconcile");
let counter = 0;

/** A conf dir carved on `node` with one exclusive core, no shared core and infra on the rest; and that exclusive list. */
function initialised(node: TestNode): { dir: string; exclusive: ExpectedList } {
  const dir = join(root, `node-${counter++}`);
  const result = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"], node.env);
  assert.equal(result.status, 0, result.stderr);
  return { dir, exclusive: expectedPools(node, { exclusive: 1, shared: 0 }).exclusive[0] as ExpectedList };
}

/** The child PID recorded for the task of isolate process `pid`, once isolate has recorded it. */
const childOf = (dir: string, pid: number | undefined): number | undefined => (pid === undefined ? undefined : readStateDocument(dir)?.tasks?.[pid]?.child);

describe("cmk reconcile", () => {
  const node = withHostProcfs(testNode());

  it("does not mistake a reused PID for a live task", () => {
    const { dir, exclusive } = initialised(node);
    const socket = String(exclusive.socket);
    // This test process is alive, but with another start time than the one recorded.
    editStateDocument(dir, (document) => {
      document.config["exclusive"] = { [socket]: { [exclusive.key]: [String(process.pid)] } };
      document.tasks = { [process.pid]: { pid: process.pid, start: 1, affinity: true } };
    });
    const reconcile = runCmk(["reconcile", `--conf-dir=${dir}`], node.env);
    assert.equal(reconcile.status, 0, reconcile.stderr);
    assert.deepEqual(JSON.parse(reconcile.stdout), {
      mismatchedCpuMasks: [],
      reclaimedCpuLists: [{ cpus: exclusive.key, pid: process.pid, pool: "exclusive" }],
    });
    assert.deepEqual(tasksOn(dir, "exclusive", exclusive.key, socket), []);
    assert.equal(readStateDocument(dir)?.tasks, undefined);
  });

  it("keeps a CMK-recorded task (no start time) while its PID exists", () => {
    const { dir, exclusive } = initialised(node);
    editStateDocument(dir, (document) => {
      document.config["exclusive"] = { [String(exclusive.socket)]: { [exclusive.key]: [String(process.pid)] } };
    });
    const reconcile = runCmk(["reconcile", `--conf-dir=${dir}`], node.env);
    assert.deepEqual(JSON.parse(reconcile.stdout).reclaimedCpuLists, []);
    assert.equal(runCmk(["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--", "true"], node.env).status, 5);
  });

  it("with --interval never reclaims a task started after an earlier pass looked at processes", async () => {
    const { dir } = initialised(hostNode());
    const flag = join(dir, "go");
    const wait = ["sh", "-c", `while [ ! -e ${flag} ]; do sleep 0.02; done`];
    const firstIsolate = spawnCmk(["isolate", `--conf-dir=${dir}`, "--pool=infra", "--", ...wait]);
    const first = collect(firstIsolate);
    await waitFor("the first child to be recorded", () => childOf(dir, firstIsolate.pid));
    const reconcile = spawnCmk(["reconcile", `--conf-dir=${dir}`, "--interval=0.1"]);
    const firstReport = new Promise<void>((resolve) => reconcile.stdout?.once("data", () => resolve()));
    const reports = collect(reconcile);
    await firstReport;
    const second = spawnCmk(["isolate", `--conf-dir=${dir}`, "--pool=infra", "--", ...wait]);
    const secondDone = collect(second);
    let ended: CmkResult[];
    let result: CmkResult;
    try {
      await new Promise((resolve) => setTimeout(resolve, 400));
      await waitFor("the second child recorded", () => childOf(dir, second.pid), 5);
      await new Promise((resolve) => setTimeout(resolve, 500));
      // On a node of several sockets the second task gets another socket's infra list: look in all.
      const infra = Object.values(readStateDocument(dir)?.config["infra"] ?? {}).flatMap((lists) => Object.values(lists));
      assert.ok(
        infra.some((tasks) => tasks.includes(String(second.pid))),
        "the second task still holds its list after several passes",
      );
    } finally {
      // The tasks and the loop end before the scratch directory goes, even when an assertion failed.
      writeFileSync(flag, "");
      reconcile.kill("SIGTERM");
      ended = await Promise.all([first, secondDone]);
      result = await reports;
    }
    assert.deepEqual(
      ended.map((task) => task.status),
      [0, 0],
    );
    assert.equal(result.status, 0, result.stderr);
    assert.doesNotMatch(result.stdout, new RegExp(`"pid": ${second.pid}`), "no pass reclaimed the live task");
  });

  it("reports live tasks running off their CPUs, but not --no-affinity tasks", async () => {
    const dir = join(root, `node-${counter++}`);
    await withDriftingTask(dir, ({ task, command, list, drift }) => {
      const report = JSON.parse(runCmk(["reconcile", `--conf-dir=${dir}`]).stdout) as {
        mismatchedCpuMasks: { pid: number; pool: string; cpus: string; actualCpus: string; task: number }[];
      };
      // The process whose mask is wrong is the task's command; the task is isolate's PID.
      assert.deepEqual(report.mismatchedCpuMasks, [{ actualCpus: drift.toString(), cpus: list.key, pid: command, pool: "exclusive", task }]);
    });
  });
});

describe("cmk reconcile's mismatched masks on a fake procfs", () => {
  it("names the command's process in mismatchedCpuMasks, not isolate's, and keeps the task's id beside it", () => {
    const env = fixtureEnv("example-2s16c", join(root, "sysfs"));
    const dir = join(root, "state");
    const init = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=3", "--num-shared-cores=1"], env);
    assert.equal(init.status, 0, init.stderr);
    // Task 4242 holds exclusive 1,9: isolate (4242) still has the list's mask, its command (4250) runs on CPU 3.
    const proc = env.CMK_PROC_FS as string;
    fakeProcess(proc, 4242, 7000, "1,9");
    fakeProcess(proc, 4250, 7001, "3");
    editStateDocument(dir, (document) => {
      const socket0 = document.config["exclusive"]?.["0"];
      if (socket0 !== undefined) socket0["1,9"] = ["4242"];
      document.tasks = { "4242": { pid: 4242, start: 7000, child: 4250, childStart: 7001, affinity: true } };
    });
    const result = runCmk(["reconcile", `--conf-dir=${dir}`], env);
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), {
      mismatchedCpuMasks: [{ actualCpus: "3", cpus: "1,9", pid: 4250, pool: "exclusive", task: 4242 }],
      reclaimedCpuLists: [],
    });
  });
});
