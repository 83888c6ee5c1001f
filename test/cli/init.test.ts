// `cmk init`: the pools it carves from the node's topology, from this machine (or the fixture
// CMK_TEST_TOPOLOGY names) and from fixed fixtures whose layouts are worked out by hand.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { type FixtureSpec, fixtures, generateSysfs } from "../../scripts/gen-sysfs-fixture.ts";
import { bootIdOf, editStateDocument, fixtureEnv, readStateDocument, runCmk, scratchDir } from "../helpers/cmk.ts";
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
    const { bootId, ...document } = readStateDocument(dir) ?? { config: {} };
    assert.deepEqual(document, { config: expectedPools(node, { exclusive: 1, shared: 0 }).config });
    assert.equal(bootId, bootIdOf(node.env), "the boot id of the procfs cmk reads, beside config");
    const before = readFileSync(join(dir, "state.json"), "utf8");
    const again = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"], node.env);
    assert.equal(again.status, 0);
    assert.match(again.stderr, /is already initialised with these pools/);
    assert.equal(readFileSync(join(dir, "state.json"), "utf8"), before);
  });

  it("carves two sockets with isolated cores spread/spread (example B of docs/cmk-compatibility.md) from a generated sysfs", () => {
    const env = fixtureEnv("example-2s16c", join(root, "fixture-2s"));
    const dir = confDir();
    const result = runCmk(
      ["init", `--conf-dir=${dir}`, "--num-exclusive-cores=3", "--num-shared-cores=1", "--exclusive-mode=spread", "--shared-mode=spread"],
      env,
    );
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
    assert.deepEqual(
      firstCpus,
      [...firstCpus].sort((a, b) => a - b),
    );
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

  it("reports errors of carving in one line with exit 9 (the request does not fit the node)", () => {
    const env = fixtureEnv("example-1s8c", join(root, "fixture-1s"));
    const tooMany = runCmk(["init", `--conf-dir=${confDir()}`, "--num-exclusive-cores=3", "--num-shared-cores=1"], env);
    assert.equal(tooMany.status, 9);
    assert.match(tooMany.stderr, /ERROR:cmk:cannot use isolated cores for exclusive and shared pools: 2 cores are isolated but 4 were requested/);
    const isolatedEni = runCmk(["init", `--conf-dir=${confDir()}`, "--num-exclusive-cores=1", "--num-shared-cores=1", "--excl-non-isolcpus=1"], env);
    assert.equal(isolatedEni.status, 9);
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

  it("names --excl-non-isolcpus cores by CMK's node-wide core ids, as lscpu -p numbers them (4 sockets)", () => {
    // server-4s256: socket s holds cores 32s..32s+31; cores 4-15 of every socket are isolated.
    const env = fixtureEnv("server-4s256", join(root, "fixture-srv-eni"));
    const init = (ids: string): { status: number | null; stderr: string; dir: string } => {
      const dir = confDir();
      const result = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=1", `--excl-non-isolcpus=${ids}`], env);
      return { status: result.status, stderr: result.stderr, dir };
    };
    const pool = (dir: string): Record<string, Record<string, string[]>> | undefined => readStateDocument(dir)?.config["exclusive-non-isolcpus"];
    const zero = init("0");
    assert.equal(zero.status, 0, zero.stderr);
    assert.deepEqual(pool(zero.dir), { "0": { "0,128": [] }, "1": {}, "2": {}, "3": {} });
    assert.match(zero.stderr, /^INFO:cmk:exclusive-non-isolcpus takes core 0 \(socket 0, CPUs 0,128\)$/m);
    const one = init("1");
    assert.equal(one.status, 0, one.stderr);
    assert.deepEqual(pool(one.dir), { "0": { "1,129": [] }, "1": {}, "2": {}, "3": {} });
    const onSocket1 = init("33");
    assert.equal(onSocket1.status, 0, onSocket1.stderr);
    assert.deepEqual(pool(onSocket1.dir), { "0": {}, "1": { "33,161": [] }, "2": {}, "3": {} });
    const four = init("4");
    assert.equal(four.status, 9, four.stderr);
    assert.match(four.stderr, /already assigned to other pools: 4 \(exclusive\)/);
    assert.equal(readStateDocument(four.dir), undefined, "nothing was initialised");
    const beyond = init("128");
    assert.equal(beyond.status, 9, beyond.stderr);
    assert.match(beyond.stderr, /names cores not on this node: 128; core ids run from 0 to 127 across the node/);
  });

  it("names --excl-non-isolcpus cores by node-wide ids on a 4-socket node without isolcpus", () => {
    const sysRoot = join(root, "fixture-srv-plain");
    generateSysfs(sysRoot, { ...(fixtures["server-4s256"] as FixtureSpec), cmdline: "root=/dev/sda1" });
    const env = { CMK_DEV_LSCPU_SYSFS: sysRoot, CMK_PROC_FS: join(sysRoot, "proc") };
    const dir = confDir();
    const result = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=1", "--excl-non-isolcpus=4,32"], env);
    assert.equal(result.status, 0, result.stderr);
    // Core 4 is socket 0's fifth core (kernel core_id 8), core 32 socket 1's first: one list each.
    assert.deepEqual(readStateDocument(dir)?.config["exclusive-non-isolcpus"], { "0": { "4,132": [] }, "1": { "32,160": [] }, "2": {}, "3": {} });
    const taken = runCmk(["init", `--conf-dir=${confDir()}`, "--num-exclusive-cores=1", "--num-shared-cores=1", "--excl-non-isolcpus=0"], env);
    assert.equal(taken.status, 9);
    assert.match(taken.stderr, /already assigned to other pools: 0 \(exclusive\)/);
  });

  it("accepts CMK's older mode names vertical and horizontal with one warning per flag, and refuses others", () => {
    const env = fixtureEnv("example-2s16c", join(root, "fixture-2s-modes"));
    const dir = confDir();
    const result = runCmk(
      ["init", `--conf-dir=${dir}`, "--num-exclusive-cores=3", "--num-shared-cores=1", "--exclusive-mode=horizontal", "--shared-mode=vertical"],
      env,
    );
    assert.equal(result.status, 0, result.stderr);
    const warned = result.stderr.split("\n").filter((line) => line.includes("deprecated"));
    assert.deepEqual(warned, [
      "WARNING:cmk:--exclusive-mode=horizontal is deprecated: it is older CMK documentation's name for spread; write --exclusive-mode=spread",
      "WARNING:cmk:--shared-mode=vertical is deprecated: it is older CMK documentation's name for packed; write --shared-mode=packed",
    ]);
    // The spec's spread/packed row: exclusive spread over both sockets, shared packed on socket 0.
    assert.deepEqual(readStateDocument(dir)?.config["exclusive"], { "0": { "0,8": [], "1,9": [] }, "1": { "4,12": [] } });
    assert.deepEqual(readStateDocument(dir)?.config["shared"], { "0": { "2,10": [] }, "1": {} });
    for (const [value, pattern] of [
      ["diagonal", /--exclusive-mode="diagonal" is not valid: expected one of packed, spread$/m],
      ["vertcal", /expected one of packed, spread \(did you mean packed, once called vertical\?\)/],
    ] as const) {
      const refused = runCmk(["init", `--conf-dir=${confDir()}`, `--exclusive-mode=${value}`], env);
      assert.equal(refused.status, 2, refused.stderr);
      assert.match(refused.stderr, pattern);
    }
  });

  it("describes a node without state as not initialised (exit 8) and a corrupt file as invalid (exit 3)", () => {
    const dir = confDir();
    const missing = runCmk(["describe", `--conf-dir=${dir}`]);
    assert.equal(missing.status, 8);
    assert.match(missing.stderr, /no cmk state in .*; run cmk init/);
    assert.equal(runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"]).status, 0);
    writeFileSync(join(dir, "state.json"), '{ "config": { "exclusive": [1, 2\n');
    const corrupt = runCmk(["describe", `--conf-dir=${dir}`]);
    assert.equal(corrupt.status, 3);
    assert.match(corrupt.stderr, new RegExp(`^ERROR:cmk:${join(dir, "state.json")}: not valid JSON \\(.+\\); restore it`));
    assert.doesNotMatch(corrupt.stderr, /\n\s+at /, "no stack trace");
  });
  it("restores the pools, with a warning, when state.json is zero-filled in this boot and no cmk isolate of it runs", () => {
    const dir = confDir();
    assert.equal(runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"]).status, 0);
    const described = runCmk(["describe", `--conf-dir=${dir}`]).stdout;
    writeFileSync(join(dir, "state.json"), Buffer.alloc(512));
    const restored = runCmk(["describe", `--conf-dir=${dir}`]);
    assert.equal(restored.status, 0, restored.stderr);
    assert.equal(restored.stdout, described);
    assert.match(
      restored.stderr,
      new RegExp(
        `^WARNING:cmk:${join(dir, "state.json")} was empty or zero-filled but the machine has not restarted since it was written .*; restored the pools from ${join(dir, "layout.json")} with no task: no cmk isolate of this state directory runs\n$`,
      ),
    );
    const isolate = runCmk(["isolate", `--conf-dir=${dir}`, "--pool=infra", "--", "true"]);
    assert.equal(isolate.status, 0, isolate.stderr);
    assert.equal(runCmk(["describe", `--conf-dir=${dir}`]).stderr, "", "the next write repaired state.json");
  });
});
