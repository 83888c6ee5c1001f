// `cmk node-report`: the checks done right, and the node drawn as a terminal map.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { editStateDocument, fixtureEnv, runCmk, scratchDir } from "../helpers/cmk.ts";

const root = scratchDir("node-report");

interface Report {
  checks: Record<string, { ok: boolean; errors: string[] }>;
  description: { pools: Record<string, unknown> } | null;
  topology: { sockets: Record<string, { id: number; cores: { id: number; numaNode: number; cpus: { id: number; isolated: boolean }[] }[] }> };
}

describe("cmk node-report", () => {
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
