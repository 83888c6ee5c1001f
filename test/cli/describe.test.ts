// `cmk describe`: the pools and tasks of a conf dir as JSON or YAML, and what it says when there
// are none or the state cannot be read. Operators and CMK's own tooling read this output, so it
// keeps CMK's shape (docs/cmk-compatibility.md); the expected pools come from the test node.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fixtureEnv, runCmk, scratchDir } from "../helpers/cmk.ts";
import { expectedPools, testNode, withHostProcfs } from "../helpers/topology.ts";

const root = scratchDir("describe");
let counter = 0;
const confDir = (): string => join(root, `state-${counter++}`);

describe("cmk describe", () => {
  const node = testNode();

  /** A conf dir that init carved with one exclusive core and no shared core on the test node. */
  function initialised(): string {
    const dir = confDir();
    const init = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"], node.env);
    assert.equal(init.status, 0, init.stderr);
    return dir;
  }

  it("prints the conf dir and every pool with its CPU lists (CPUs and task PIDs) as JSON", () => {
    const dir = initialised();
    const expected = expectedPools(node, { exclusive: 1, shared: 0 });
    const pool = (name: string, exclusive: boolean, lists: readonly { key: string }[]): unknown => ({
      cpuLists: Object.fromEntries(lists.map((list) => [list.key, { cpus: list.key, tasks: [] }])),
      exclusive,
      name,
    });
    const result = runCmk(["describe", `--conf-dir=${dir}`], node.env);
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), {
      path: dir,
      pools: { exclusive: pool("exclusive", true, expected.exclusive), infra: pool("infra", false, expected.infra), shared: pool("shared", false, []) },
    });
  });

  it("prints the same description as YAML with --output=yaml", () => {
    const env = fixtureEnv("example-1s8c", join(root, "fixture-1s"));
    const dir = confDir();
    const result = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=1", "--excl-non-isolcpus=0,3-5"], env);
    assert.equal(result.status, 0, result.stderr);
    const yaml = runCmk(["describe", `--conf-dir=${dir}`, "--output=yaml"], env);
    assert.equal(yaml.status, 0);
    assert.match(yaml.stdout, /^path: .*\npools:\n {2}exclusive:\n {4}cpuLists:\n {6}1,9:\n {8}cpus: 1,9\n {8}tasks: \[\]\n/);
  });

  it("describes a node without state as not initialised (exit 8) and a corrupt file as invalid (exit 3)", () => {
    const dir = confDir();
    const missing = runCmk(["describe", `--conf-dir=${dir}`]);
    assert.equal(missing.status, 8);
    assert.match(missing.stderr, /no cmk state in .*; run cmk init/);
    assert.equal(runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"], node.env).status, 0);
    writeFileSync(join(dir, "state.json"), '{ "config": { "exclusive": [1, 2\n');
    const corrupt = runCmk(["describe", `--conf-dir=${dir}`]);
    assert.equal(corrupt.status, 3);
    assert.match(corrupt.stderr, new RegExp(`^ERROR:cmk:${join(dir, "state.json")}: not valid JSON \\(.+\\); restore it`));
    assert.doesNotMatch(corrupt.stderr, /\n\s+at /, "no stack trace");
  });

  it("restores the pools, with a warning, when state.json is zero-filled in this boot and no cmk isolate of it runs", () => {
    const dir = initialised();
    const described = runCmk(["describe", `--conf-dir=${dir}`]).stdout;
    writeFileSync(join(dir, "state.json"), Buffer.alloc(512));
    const restored = runCmk(["describe", `--conf-dir=${dir}`]);
    assert.equal(restored.status, 0, restored.stderr);
    assert.equal(restored.stdout, described);
    assert.match(
      restored.stderr,
      new RegExp(
        `^WARNING:cmk:${join(dir, "state.json")} was empty or zero-filled but (the machine has not restarted|cmk cannot tell whether the machine restarted) since it was written .*; restored the pools from ${join(dir, "layout.json")} with no task: no cmk isolate of this state directory runs\n$`,
      ),
    );
    // Any task bookkeeping rewrites state.json; --no-affinity because the test node's CPUs may be a fixture's, not this machine's.
    const isolate = runCmk(["isolate", `--conf-dir=${dir}`, "--pool=infra", "--no-affinity", "--", "true"], withHostProcfs(node).env);
    assert.equal(isolate.status, 0, isolate.stderr);
    assert.equal(runCmk(["describe", `--conf-dir=${dir}`]).stderr, "", "the next write repaired state.json");
  });
});
