// `cmk reconfigure` with running tasks. The test that moves a task re-pins its real threads, so
// it runs on this machine's CPUs (hostNode), also when CMK_TEST_TOPOLOGY pretends another
// topology; the others only plan, on the test node seen through the host's procfs (reconfigure
// must see its own process there).
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { type FixtureSpec, fixtures, generateSysfs } from "../../scripts/gen-sysfs-fixture.ts";
import { collect, editStateDocument, readStateDocument, recordedChild, runCmk, scratchDir, spawnCmk, tasksOn, waitFor } from "../helpers/cmk.ts";
import { carvingOrder, type ExpectedList, expectedPools, hostNode, poolsOf, type TestNode, testNode, withHostProcfs } from "../helpers/topology.ts";

const root = scratchDir("reconfigure");
let counter = 0;

/** A conf dir init carved on `node` with one exclusive core and no shared core. */
function initialised(node: TestNode): string {
  const dir = join(root, `node-${counter++}`);
  const init = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"], node.env);
  assert.equal(init.status, 0, init.stderr);
  return dir;
}

describe("cmk reconfigure", () => {
  it("moves a running exclusive task to its new list and re-pins its processes", async () => {
    const host = hostNode();
    const carved = expectedPools(host, { exclusive: 1, shared: 0 }).exclusive[0] as ExpectedList;
    // The exclusive list on the second core init may use, infra on the others: not what init carves.
    const [first, second] = carvingOrder(host);
    assert.ok(first !== undefined && second !== undefined, "this test needs two cores init may use for the exclusive pool");
    const isolating = host.topology.cores.some((core) => core.isolated);
    const reversed = poolsOf(host, {
      exclusive: [second],
      shared: [],
      infra: host.topology.cores.filter((core) => core !== second && (!isolating || !core.isolated)),
    });
    const previous = reversed.exclusive[0] as ExpectedList;
    const dir = initialised(host);
    editStateDocument(dir, (document) => {
      document.config = reversed.config;
    });
    const flag = join(dir, "go");
    const task = spawnCmk([
      "isolate",
      `--conf-dir=${dir}`,
      "--pool=exclusive",
      "--",
      "sh",
      "-c",
      `grep Cpus_allowed_list /proc/self/status; while [ ! -e ${flag} ]; do sleep 0.02; done; grep Cpus_allowed_list /proc/self/status`,
    ]);
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
    const report = JSON.parse(result.stdout) as {
      movedTasks: { cpus: string; previousCpus: string; pid: number; pool: string; threads: number; error: string | null }[];
    };
    assert.equal(report.movedTasks.length, 1);
    // bin/cmk execs Node, so the isolate task's PID is the spawned process's.
    assert.deepEqual(
      { ...report.movedTasks[0], threads: 0 },
      { cpus: carved.cpus.toString(), error: null, pid: task.pid, pool: "exclusive", previousCpus: previous.cpus.toString(), threads: 0 },
    );
    assert.ok((report.movedTasks[0]?.threads ?? 0) >= 2, "the isolate's threads and the child were re-pinned");
    assert.deepEqual(tasksOn(dir, "exclusive", carved.key, String(carved.socket)), [String(task.pid)]);
    const done = await output;
    assert.equal(done.status, 0, done.stderr);
    assert.equal(done.stdout, `Cpus_allowed_list:\t${previous.cpus}\nCpus_allowed_list:\t${carved.cpus}\n`);
  });

  const node = withHostProcfs(testNode());

  it("refuses up front, changing nothing, when running tasks do not fit", () => {
    const dir = initialised(node);
    const exclusive = expectedPools(node, { exclusive: 1, shared: 0 }).exclusive[0] as ExpectedList;
    const file = join(dir, "state.json");
    // A CMK-recorded task (PID only) held by this live test process.
    editStateDocument(dir, (document) => {
      document.config["exclusive"] = { [String(exclusive.socket)]: { [exclusive.key]: [String(process.pid)] } };
    });
    const before = readFileSync(file, "utf8");
    const result = runCmk(["reconfigure", `--conf-dir=${dir}`, "--num-exclusive-cores=0", "--num-shared-cores=0"], node.env);
    assert.equal(result.status, 7, result.stderr);
    assert.match(result.stderr, new RegExp(`the new layout has 0 exclusive CPU lists but running tasks \\(${process.pid}\\) hold 1; .*nothing was changed`));
    assert.equal(readFileSync(file, "utf8"), before);
  });

  it("keeps a task whose list still exists where it is while the layout around it changes", () => {
    // example-1s8c isolates cores 1 and 2 (CPUs 1,9 and 2,10): one exclusive list grows to two.
    const machine = join(root, `machine-${counter++}`);
    generateSysfs(machine, fixtures["example-1s8c"] as FixtureSpec);
    const env = { CMK_DEV_LSCPU_SYSFS: machine };
    const dir = join(root, `node-${counter++}`);
    assert.equal(runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"], env).status, 0);
    editStateDocument(dir, (document) => {
      document.config["exclusive"] = { "0": { "1,9": [String(process.pid)] } };
    });
    const result = runCmk(["reconfigure", `--conf-dir=${dir}`, "--num-exclusive-cores=2", "--num-shared-cores=0"], env);
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), { movedTasks: [], reclaimedCpuLists: [] });
    assert.deepEqual(Object.keys(readStateDocument(dir)?.config["exclusive"]?.["0"] ?? {}), ["1,9", "2,10"], "the layout changed");
    assert.deepEqual(tasksOn(dir, "exclusive", "1,9"), [String(process.pid)]);
  });
});
