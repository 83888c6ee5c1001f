// `cmk node-report`: the node's topology as cmk reads it (this machine, or the fixture
// CMK_TEST_TOPOLOGY names), the checks done right on a fixed fixture, the affinity check on tasks
// really pinned on this machine, and the node drawn as a terminal map.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { CpuSet } from "../../src/core/cpuset.ts";
import { collect, editStateDocument, fixtureEnv, readStateDocument, runCmk, scratchDir, spawnCmk, waitFor, type CmkResult } from "../helpers/cmk.ts";
import { allowedCpuList, cpusOf, expectedPools, highPriorityCpus, hostNode, testNode, type ExpectedList } from "../helpers/topology.ts";

const root = scratchDir("node-report");

interface Report {
  checks: Record<string, { ok: boolean; errors: string[] }>;
  description: { pools: Record<string, unknown> } | null;
  topology: { sockets: Record<string, { id: number; cores: { id: number; numaNode: number; l3: number; cpus: { id: number; isolated: boolean; sst_bf?: true }[] }[] }> };
}

describe("cmk node-report on the test node", () => {
  const node = testNode();
  const dir = join(root, "test-node");
  const init = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"], node.env);
  const pools = expectedPools(node, { exclusive: 1, shared: 0 });

  it("reports every online CPU once, under its socket and core with NUMA node and L3, marked isolated as isolcpus says", () => {
    assert.equal(init.status, 0, init.stderr);
    const result = runCmk(["node-report", `--conf-dir=${dir}`], node.env);
    assert.equal(result.status, 0, result.stderr);
    const report = JSON.parse(result.stdout) as Report;
    const { topology } = node;
    const fast = highPriorityCpus(topology);
    assert.deepEqual(report.topology, {
      sockets: Object.fromEntries(topology.sockets.map((socket) => [String(socket.id), {
        id: socket.id,
        cores: socket.cores.map((core) => ({
          id: core.id,
          numaNode: core.numaNode,
          l3: core.l3,
          cpus: core.cpus.ids.map((cpu) => ({ id: cpu, isolated: topology.isolcpus.has(cpu), ...(fast.includes(cpu) ? { sst_bf: true } : {}) })),
        })),
      }])),
    });
    const sysRoot = node.env["CMK_DEV_LSCPU_SYSFS"] ?? "/";
    const online = CpuSet.parse(readFileSync(join(sysRoot, "sys", "devices", "system", "cpu", "online"), "utf8"));
    const reported = Object.values(report.topology.sockets).flatMap((socket) => socket.cores.flatMap((core) => core.cpus.map((cpu) => cpu.id)));
    assert.deepEqual([...reported].sort((a, b) => a - b), online.ids, "each online CPU exactly once");
    assert.ok(Object.values(report.checks).every((check) => check.ok && check.errors.length === 0), result.stdout);
    const described = runCmk(["describe", `--conf-dir=${dir}`], node.env);
    assert.deepEqual(report.description, JSON.parse(described.stdout));
  });

  it("draws each socket's CPUs with their pool and isolation, and the pool totals, as text", () => {
    assert.equal(init.status, 0, init.stderr);
    const result = runCmk(["node-report", `--conf-dir=${dir}`, "--format=text"], node.env);
    assert.equal(result.status, 0, result.stderr);
    const [map = "", totals = ""] = result.stdout.split("\nlegend: ");
    assert.deepEqual(map.split("\n").filter((line) => line.startsWith("socket ")), node.topology.sockets.map((socket) => `socket ${socket.id}`));
    const letter = (cpu: number): string => (pools.exclusive.some((list) => list.cpus.has(cpu)) ? "E" : pools.infra.some((list) => list.cpus.has(cpu)) ? "I" : ".");
    const expectedCells = node.topology.online.ids.map((cpu) => `${cpu}${letter(cpu)}${node.topology.isolcpus.has(cpu) ? "~" : " "}`);
    const cells = [...map.matchAll(/(\d+)([ESIN.])([*~ ])/g)].map((match) => match[0]);
    assert.deepEqual([...cells].sort((a, b) => parseInt(a) - parseInt(b)), expectedCells);
    const total = (lists: readonly ExpectedList[]): string => `${lists.length} lists\\s+${cpusOf(lists).size} CPUs\\s+0 taken\\s+0 tasks`;
    assert.match(totals, new RegExp(`^exclusive\\s+${total(pools.exclusive)}$`, "m"));
    assert.match(totals, new RegExp(`^infra\\s+${total(pools.infra)}$`, "m"));
    assert.match(totals, new RegExp(`^shared\\s+${total([])}$`, "m"));
  });
});

describe("cmk node-report on a fixed two-socket fixture", () => {
  const env = fixtureEnv("example-2s16c", join(root, "sysfs"));
  const dir = join(root, "state");
  const init = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=3", "--num-shared-cores=1"], env);

  it("reports topology, description and passing checks for a fresh node", () => {
    assert.equal(init.status, 0, init.stderr);
    const result = runCmk(["node-report", `--conf-dir=${dir}`], env);
    assert.equal(result.status, 0, result.stderr);
    const report = JSON.parse(result.stdout) as Report;
    assert.deepEqual(Object.keys(report.checks).sort(), ["affinity", "configDirectory", "isolation"]);
    assert.ok(Object.values(report.checks).every((check) => check.ok && check.errors.length === 0));
    assert.deepEqual(Object.keys(report.topology.sockets), ["0", "1"]);
    const socket1 = report.topology.sockets["1"];
    assert.deepEqual(socket1?.cores[0]?.cpus, [{ id: 4, isolated: true }, { id: 12, isolated: true }]);
    assert.ok(report.description !== null && "exclusive" in report.description.pools);
  });

  it("finds overlapping lists within and between pools, naming the CPUs in both, and lists outside isolcpus", () => {
    const file = join(dir, "state.json");
    const pristine = readFileSync(file, "utf8");
    try {
      // 1,9 also in shared; 3,11 (not isolated) turned into an exclusive list.
      editStateDocument(dir, (document) => {
        const socket0 = document.config["exclusive"]?.["0"];
        if (socket0 !== undefined) socket0["3,11,9"] = [];
      });
      const report = JSON.parse(runCmk(["node-report", `--conf-dir=${dir}`], env).stdout) as Report;
      assert.equal(report.checks["configDirectory"]?.ok, false);
      assert.deepEqual(report.checks["configDirectory"]?.errors.sort(), [
        "CPU list overlap detected in exclusive:1,9 and exclusive:3,11,9 (in both: 9)",
        "CPU list overlap detected in exclusive:3,11,9 and infra:3,11 (in both: 3,11)",
      ]);
      assert.deepEqual(report.checks["isolation"]?.errors, ["exclusive:3,11,9 has CPUs 3,11 not isolated by isolcpus"]);
    } finally {
      writeFileSync(file, pristine);
    }
  });

  it("reports unreadable state in the check instead of failing", () => {
    const result = runCmk(["node-report", `--conf-dir=${join(root, "missing")}`], env);
    assert.equal(result.status, 0, result.stderr);
    const report = JSON.parse(result.stdout) as Report;
    assert.equal(report.description, null);
    assert.match(report.checks["configDirectory"]?.errors[0] ?? "", /^Unable to read the CMK configuration directory .*missing: no state yet \(run cmk init\)$/);
  });

  it("draws the node as a map with a legend and pool totals, plain when not on a terminal", () => {
    const result = runCmk(["node-report", `--conf-dir=${dir}`, "--format=text"], env);
    assert.equal(result.status, 0, result.stderr);
    assert.doesNotMatch(result.stdout, /\x1b\[/, "no colour codes in a pipe");
    const lines = result.stdout.split("\n");
    assert.equal(lines[0], "socket 0");
    assert.match(result.stdout, /^  numa 0  \[ 0E~  8E~\]\[ 1E~  9E~\]\[ 2E~ 10E~\]\[ 3I  11I \]$/m);
    assert.match(result.stdout, /^legend: E exclusive  S shared  I infra  N exclusive-non-isolcpus  \. no pool  \* taken  ~ isolated, free$/m);
    assert.match(result.stdout, /^exclusive\s+3 lists\s+6 CPUs\s+0 taken\s+0 tasks$/m);
    const coloured = runCmk(["node-report", `--conf-dir=${dir}`, "--format=text"], { ...env, CMK_COLOR: "always" });
    assert.match(coloured.stdout, /\x1b\[31m 0E~\x1b\[0m/, "exclusive CPUs in red");
  });

  it("rejects an unknown format and a bad interval", () => {
    const format = runCmk(["node-report", `--conf-dir=${dir}`, "--format=html"], env);
    assert.equal(format.status, 2);
    assert.match(format.stderr, /--format="html" is not valid: expected one of json, text/);
    const interval = runCmk(["node-report", `--conf-dir=${dir}`, "--interval=soon"], env);
    assert.equal(interval.status, 2);
    assert.match(interval.stderr, /--interval="soon" is not valid/);
  });
});

describe("cmk node-report's affinity check", () => {
  it("names live tasks running off their CPUs, but not --no-affinity tasks", async () => {
    // Tasks really pinned: this machine's CPUs, also when CMK_TEST_TOPOLOGY pretends another topology.
    const host = hostNode();
    const pools = expectedPools(host, { exclusive: 1, shared: 0 });
    const exclusive = pools.exclusive[0] as ExpectedList;
    const dir = join(root, "affinity");
    const init = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"]);
    assert.equal(init.status, 0, init.stderr);
    // The command widens its own affinity by one CPU outside its list.
    const drift = exclusive.cpus.union(CpuSet.of([cpusOf(pools.infra).first as number]));
    const flag = join(dir, "go");
    const wait = `while [ ! -e ${flag} ]; do sleep 0.02; done`;
    const drifting = spawnCmk(["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--", "sh", "-c", `taskset -pc ${drift} $$ >/dev/null; echo drifted; ${wait}`]);
    const free = spawnCmk(["isolate", `--conf-dir=${dir}`, "--pool=infra", "--no-affinity", "--", "sh", "-c", wait]);
    const done = Promise.all([collect(drifting), collect(free)]);
    const childOf = (pid: number | undefined): number | undefined => (pid === undefined ? undefined : readStateDocument(dir)?.tasks?.[pid]?.child);
    let said = "";
    drifting.stdout?.on("data", (chunk: Buffer) => (said += chunk.toString()));
    let results: CmkResult[];
    try {
      // The command says when it has widened its mask: before that, its mask may still be the one it inherited.
      await waitFor("the command to widen its mask", () => (said.includes("drifted") ? true : undefined));
      await waitFor("the other child to be recorded", () => childOf(free.pid));
      assert.equal(allowedCpuList(childOf(drifting.pid) as number), drift.toString());
      const report = JSON.parse(runCmk(["node-report", `--conf-dir=${dir}`]).stdout) as Report;
      assert.deepEqual(report.checks["affinity"], { errors: [`task ${drifting.pid} in exclusive:${exclusive.key} runs on CPUs ${drift}`], ok: false });
    } finally {
      // The tasks end before the scratch directory (and the flag in it) goes, even when an assertion failed.
      writeFileSync(flag, "");
      results = await done;
    }
    assert.deepEqual(results.map((result) => result.status), [0, 0]);
  });
});
