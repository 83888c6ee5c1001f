// `cmk init`: the pools it carves from the node's topology, from this machine (or the fixture
// CMK_TEST_TOPOLOGY names) and from fixed fixtures whose layouts are worked out by hand.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { editStateDocument, fixtureEnv, readStateDocument, runCmk, scratchDir } from "../helpers/cmk.ts";
import { expectedPools, testNode } from "../helpers/topology.ts";

const root = scratchDir("init");
let counter = 0;
const confDir = (): string => join(root, `state-${counter++}`);

interface Description {
  path: string;
  pools: Record<string, { cpuLists: Record<string, { cpus: string; tasks: number[] }>; exclusive: boolean; name: string }>;
}

function describeState(dir: string, env: Record<string, string> = {}): Description {
  const result = runCmk(["describe", `--conf-dir=${dir}`], env);
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout) as Description;
}

const listsOf = (description: Description, pool: string): string[] => Object.keys(description.pools[pool]?.cpuLists ?? {});

describe("cmk init", () => {
  it("refuses bad flag values before touching anything", () => {
    for (const [flag, pattern] of [
      ["--num-exclusive-cores=1.5", /--num-exclusive-cores="1.5" is not valid: expected a whole number/],
      ["--num-shared-cores=-1", /--num-shared-cores="-1" is not valid/],
      ["--exclusive-mode=sprad", /--exclusive-mode="sprad" is not valid: expected one of packed, spread \(did you mean spread\?\)/],
      ["--excl-non-isolcpus=a-b", /--excl-non-isolcpus="a-b" is not valid/],
      ["--socket-id=x", /--socket-id="x" is not valid/],
    ] as const) {
      const dir = confDir();
      const result = runCmk(["init", flag, `--conf-dir=${dir}`]);
      assert.equal(result.status, 2, `${flag}: ${result.stderr}`);
      assert.match(result.stderr, pattern);
      assert.equal(runCmk(["describe", `--conf-dir=${dir}`]).status, 8, "nothing was initialised");
    }
  });

  const node = testNode();
  it(`carves ${node.name === "host" ? "this machine's" : `the ${node.name} fixture's`} cores into the pools the topology gives, and is a no-op when re-run`, () => {
    const dir = confDir();
    const first = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"], node.env);
    assert.equal(first.status, 0, first.stderr);
    // The first core init may use is the exclusive list; every other usable core is infra, one list per socket.
    assert.deepEqual(readStateDocument(dir), { config: expectedPools(node, { exclusive: 1, shared: 0 }).config });
    const before = readFileSync(join(dir, "state.json"), "utf8");
    const again = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"], node.env);
    assert.equal(again.status, 0);
    assert.match(again.stderr, /is already initialised with these pools/);
    assert.equal(readFileSync(join(dir, "state.json"), "utf8"), before);
  });

  it("carves two sockets with isolated cores spread/spread (example B of docs/cmk-compatibility.md) from a generated sysfs", () => {
    const env = fixtureEnv("example-2s16c", join(root, "fixture-2s"));
    const dir = confDir();
    const result = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=3", "--num-shared-cores=1", "--exclusive-mode=spread", "--shared-mode=spread"], env);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stderr, /WARNING:cmk:not all isolated cores will be used by exclusive and shared pools: 6 isolated but only 4 used/);
    assert.deepEqual(readStateDocument(dir), {
      config: {
        exclusive: { "0": { "0,8": [], "1,9": [] }, "1": { "4,12": [] } },
        infra: { "0": { "3,11": [] }, "1": { "7,15": [] } },
        shared: { "0": {}, "1": { "5,13": [] } },
      },
    });
  });

  it("orders CPU-list keys numerically and allows zero-sized pools", () => {
    const env = fixtureEnv("server-4s256", join(root, "fixture-srv"));
    const dir = confDir();
    const result = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=12", "--num-shared-cores=0"], env);
    assert.equal(result.status, 0, result.stderr);
    const exclusive = listsOf(describeState(dir, env), "exclusive");
    const firstCpus = exclusive.map((key) => Number(key.split(",")[0]));
    assert.deepEqual(firstCpus, [...firstCpus].sort((a, b) => a - b));
    assert.ok(exclusive.indexOf("4,132") < exclusive.indexOf("10,138") || !exclusive.includes("10,138"));
    assert.deepEqual(listsOf(describeState(dir, env), "shared"), []);
  });

  it("refuses to re-carve while tasks are allocated, and re-carves when none are", () => {
    const env = fixtureEnv("example-2s16c", join(root, "fixture-2s-b"));
    const dir = confDir();
    assert.equal(runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=2", "--num-shared-cores=1"], env).status, 0);
    const recarve = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=3", "--num-shared-cores=1"], env);
    assert.equal(recarve.status, 0, recarve.stderr);
    assert.match(recarve.stderr, /re-initialised/);
    assert.equal(listsOf(describeState(dir, env), "exclusive").length, 3);
    // A running task (this test process) holds a list.
    const file = join(dir, "state.json");
    editStateDocument(dir, (document) => {
      const socket0 = document.config["exclusive"]?.["0"];
      if (socket0 !== undefined) socket0["0,8"] = [String(process.pid)];
    });
    const before = readFileSync(file, "utf8");
    const refused = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=1"], env);
    assert.equal(refused.status, 7, refused.stderr);
    assert.match(refused.stderr, /running task\(s\).*use cmk reconfigure/);
    assert.equal(readFileSync(file, "utf8"), before);
  });

  it("reports errors of carving in one line with a non-zero exit", () => {
    const env = fixtureEnv("example-1s8c", join(root, "fixture-1s"));
    const tooMany = runCmk(["init", `--conf-dir=${confDir()}`, "--num-exclusive-cores=3", "--num-shared-cores=1"], env);
    assert.equal(tooMany.status, 1);
    assert.match(tooMany.stderr, /ERROR:cmk:cannot use isolated cores for exclusive and shared pools: 2 cores are isolated but 4 were requested/);
    const isolatedEni = runCmk(["init", `--conf-dir=${confDir()}`, "--num-exclusive-cores=1", "--num-shared-cores=1", "--excl-non-isolcpus=1"], env);
    assert.equal(isolatedEni.status, 2);
    assert.match(isolatedEni.stderr, /already assigned to other pools: 1 \(exclusive\)/);
  });

  it("carves exclusive-non-isolcpus beside isolated exclusive and shared cores (example A of docs/cmk-compatibility.md)", () => {
    const env = fixtureEnv("example-1s8c", join(root, "fixture-1s-a"));
    const dir = confDir();
    const result = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=1", "--excl-non-isolcpus=0,3-5"], env);
    assert.equal(result.status, 0, result.stderr);
    const description = describeState(dir, env);
    assert.deepEqual(listsOf(description, "exclusive"), ["1,9"]);
    assert.deepEqual(listsOf(description, "shared"), ["2,10"]);
    assert.deepEqual(listsOf(description, "exclusive-non-isolcpus"), ["0,8", "3,11", "4,12", "5,13"]);
    assert.deepEqual(listsOf(description, "infra"), ["6,14,7,15"]);
  });
});
