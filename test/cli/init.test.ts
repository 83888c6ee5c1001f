// `cmk init`, `cmk describe` and the command line, run as a user would run them.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { editStateDocument, fixtureEnv, readStateDocument, runCmk, scratchDir } from "../helpers/cmk.ts";

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

describe("cmk command line", () => {
  it("prints version, help and per-command help", () => {
    assert.match(runCmk(["--version"]).stdout, /^cmk v\d+\.\d+\.\d+\S* \(build \S+\)\n$/);
    const help = runCmk(["--help"]);
    assert.equal(help.status, 0);
    for (const command of ["init", "describe", "isolate", "reconcile", "node-report"]) assert.match(help.stdout, new RegExp(`\\b${command}\\b`));
    const initHelp = runCmk(["init", "--help"]);
    assert.equal(initHelp.status, 0);
    assert.match(initHelp.stdout, /--num-exclusive-cores=<num>.*\(default 4\)/);
    assert.match(initHelp.stdout, /Exit codes:/);
  });

  it("rejects unknown commands and flags with the nearest spelling and exit 2", () => {
    const command = runCmk(["inti"]);
    assert.equal(command.status, 2);
    assert.match(command.stderr, /^ERROR:cmk:unknown command "inti"; did you mean init\?/);
    assert.equal(command.stderr.trim().split("\n").length, 1);
    const flag = runCmk(["init", "--num-exclusive-core=2", `--conf-dir=${confDir()}`]);
    assert.equal(flag.status, 2);
    assert.match(flag.stderr, /unknown flag --num-exclusive-core for cmk init; did you mean --num-exclusive-cores\?/);
  });

  it("refuses bad values before touching anything", () => {
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
    const level = runCmk(["describe"], { CMK_LOG_LEVEL: "LOUD" });
    assert.equal(level.status, 2);
    assert.match(level.stderr, /CMK_LOG_LEVEL="LOUD" is not a log level/);
    const timeout = runCmk(["init", `--conf-dir=${confDir()}`, "--num-exclusive-cores=1", "--num-shared-cores=0"], { CMK_LOCK_TIMEOUT: "soon" });
    assert.equal(timeout.status, 2);
    assert.match(timeout.stderr, /CMK_LOCK_TIMEOUT="soon" is not valid/);
  });

  it("carves this machine's real CPUs and is a no-op when re-run", () => {
    const dir = confDir();
    const first = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"]);
    assert.equal(first.status, 0, first.stderr);
    const online = readFileSync("/sys/devices/system/cpu/online", "utf8").trim();
    const description = describeState(dir);
    assert.equal(description.path, dir);
    assert.equal(listsOf(description, "exclusive").length, 1);
    assert.deepEqual(listsOf(description, "shared"), []);
    assert.equal(listsOf(description, "infra").length, 1);
    assert.equal(online.includes("-") || online.includes(","), true);
    const before = readFileSync(join(dir, "state.json"), "utf8");
    const again = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"]);
    assert.equal(again.status, 0);
    assert.match(again.stderr, /is already initialised with these pools/);
    assert.equal(readFileSync(join(dir, "state.json"), "utf8"), before);
  });

  it("carves the spec's two-socket example (spread/spread) from a generated sysfs", () => {
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

  it("reads the spec's example A with exclusive-non-isolcpus", () => {
    const env = fixtureEnv("example-1s8c", join(root, "fixture-1s-a"));
    const dir = confDir();
    const result = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=1", "--excl-non-isolcpus=0,3-5"], env);
    assert.equal(result.status, 0, result.stderr);
    const description = describeState(dir, env);
    assert.deepEqual(listsOf(description, "exclusive"), ["1,9"]);
    assert.deepEqual(listsOf(description, "shared"), ["2,10"]);
    assert.deepEqual(listsOf(description, "exclusive-non-isolcpus"), ["0,8", "3,11", "4,12", "5,13"]);
    assert.deepEqual(listsOf(description, "infra"), ["6,14,7,15"]);
    const yaml = runCmk(["describe", `--conf-dir=${dir}`, "--output=yaml"], env);
    assert.equal(yaml.status, 0);
    assert.match(yaml.stdout, /^path: .*\npools:\n  exclusive:\n    cpuLists:\n      1,9:\n        cpus: 1,9\n        tasks: \[\]\n/);
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
  it("restores the pools, with a warning, when a power failure left state.json zero-filled", () => {
    const dir = confDir();
    assert.equal(runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"]).status, 0);
    const described = runCmk(["describe", `--conf-dir=${dir}`]).stdout;
    writeFileSync(join(dir, "state.json"), Buffer.alloc(512));
    const restored = runCmk(["describe", `--conf-dir=${dir}`]);
    assert.equal(restored.status, 0, restored.stderr);
    assert.equal(restored.stdout, described);
    assert.match(restored.stderr, new RegExp(`^WARNING:cmk:${join(dir, "state.json")} was empty or zero-filled .*restored the pools from ${join(dir, "layout.json")}`));
    const isolate = runCmk(["isolate", `--conf-dir=${dir}`, "--pool=infra", "--", "true"]);
    assert.equal(isolate.status, 0, isolate.stderr);
    assert.equal(runCmk(["describe", `--conf-dir=${dir}`]).stderr, "", "the next write repaired state.json");
  });
});
