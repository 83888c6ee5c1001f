// An empty or zero-filled state.json is taken for a power failure's loss, its tasks ended with the
// machine, only when the machine restarted since it was written (the kernel's boot id changed).
// In the same boot the tasks may still run: cmk rebuilds them from the running cmk isolate
// processes, so their CPU lists are never handed out twice, or refuses (exit 3) changing nothing.
// Real isolates on this machine's CPUs; a restart is pretended with a fixture's procfs.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { it } from "node:test";
import { bootIdOf, collect, editStateDocument, fixtureEnv, readStateDocument, recordedChild, runCmk, scratchDir, spawnCmk, waitFor } from "../helpers/cmk.ts";
import { fakeBootId } from "../helpers/fake-proc.ts";
import { type ExpectedList, expectedPools, hostNode } from "../helpers/topology.ts";

const root = scratchDir("lost-state");
const exclusive = expectedPools(hostNode(), { exclusive: 1, shared: 0 }).exclusive[0] as ExpectedList;
let counter = 0;

function initialised(env: Record<string, string> = {}): string {
  const dir = join(root, `conf-${counter++}`);
  const init = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"], env);
  assert.equal(init.status, 0, init.stderr);
  return dir;
}

/** Runs `cmk isolate --pool=exclusive` until `body` is done, with the task recorded meanwhile. */
async function whileIsolated(dir: string, body: (pid: number) => void | Promise<void>): Promise<void> {
  const flag = join(dir, "go");
  const task = spawnCmk(["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--", "sh", "-c", `while [ ! -e ${flag} ]; do sleep 0.02; done`]);
  const finished = collect(task);
  try {
    await waitFor("the task to be recorded", () => recordedChild(dir));
    await body(task.pid as number);
  } finally {
    writeFileSync(flag, "");
    const result = await finished;
    assert.equal(result.status, 0, result.stderr);
  }
}

it("in the same boot, a zero-filled state.json gets the running isolate's task back: its exclusive list is not handed out again", async () => {
  const dir = initialised();
  await whileIsolated(dir, (pid) => {
    writeFileSync(join(dir, "state.json"), Buffer.alloc(700));
    const second = runCmk(["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--", "true"]);
    assert.equal(second.status, 5, `the only exclusive list is still taken: ${second.stderr}`);
    assert.match(
      second.stderr,
      new RegExp(
        `^WARNING:cmk:\\S+state\\.json was empty or zero-filled but the machine has not restarted since it was written \\(boot id ${bootIdOf()}\\); restored the pools from \\S+layout\\.json with the task of the cmk isolate process that runs \\(PID ${pid}\\)\\n`,
      ),
    );
    const described = JSON.parse(runCmk(["describe", `--conf-dir=${dir}`]).stdout) as {
      pools: Record<string, { cpuLists: Record<string, { tasks: number[] }> }>;
    };
    assert.deepEqual(described.pools["exclusive"]?.cpuLists[exclusive.key]?.tasks, [pid]);
    assert.deepEqual(Object.keys(readStateDocument(dir)?.tasks ?? {}), [String(pid)], "the first command that took the lock wrote the rebuilt state back");
    assert.equal(runCmk(["describe", `--conf-dir=${dir}`]).stderr, "", "and later commands read it");
  });
  assert.deepEqual(readStateDocument(dir)?.tasks, undefined, "the task gave its list back");
});

it("in the same boot, a running isolate whose CPUs are no list of the layout: every command refuses (exit 3) and nothing changes", async () => {
  const dir = initialised();
  await whileIsolated(dir, (pid) => {
    const layoutFile = join(dir, "layout.json");
    const layout = JSON.parse(readFileSync(layoutFile, "utf8")) as { config: Record<string, Record<string, Record<string, string[]>>> };
    layout.config["exclusive"] = { [String(exclusive.socket)]: {} };
    writeFileSync(layoutFile, JSON.stringify(layout));
    writeFileSync(join(dir, "state.json"), "");
    for (const args of [["describe"], ["reconcile"], ["init", "--num-exclusive-cores=1", "--num-shared-cores=0"]]) {
      const result = runCmk([...args, `--conf-dir=${dir}`]);
      assert.equal(result.status, 3, `${args[0]}: ${result.stderr}`);
      assert.match(
        result.stderr,
        /^ERROR:cmk:\S+state\.json is empty or zero-filled but the machine has not restarted since it was written .*, so the tasks it recorded may still run/m,
      );
      assert.match(result.stderr, new RegExp(`the command of cmk isolate ${pid} runs on CPUs`));
      assert.equal(result.stderr.split("\n").filter((line) => line.startsWith("ERROR:")).length, 1, "one line");
    }
    assert.equal(readFileSync(join(dir, "state.json"), "utf8"), "");
    assert.equal(readFileSync(layoutFile, "utf8"), JSON.stringify(layout));
  });
});

it("after a restart (another boot id), a zero-filled state.json loses its tasks, which ended with the machine", () => {
  const env = fixtureEnv("example-1s8c", join(root, "fixture"));
  fakeBootId(env["CMK_PROC_FS"] as string, "0b7d8ed6-3f1c-4e7b-9a53-2d4c1f0e9a11");
  const dir = initialised(env);
  editStateDocument(dir, (document) => {
    (document.config["exclusive"]?.["0"] ?? {})["1,9"] = ["4242"];
    document.tasks = { "4242": { pid: 4242, start: 1, child: 4243, childStart: 2, affinity: true } };
  });
  assert.equal(readStateDocument(dir)?.bootId, "0b7d8ed6-3f1c-4e7b-9a53-2d4c1f0e9a11");
  writeFileSync(join(dir, "state.json"), Buffer.alloc(300));
  fakeBootId(env["CMK_PROC_FS"] as string, "5e2a1c44-9d07-4b1e-8f6a-7c3d2b1a0f99");
  const described = runCmk(["describe", `--conf-dir=${dir}`], env);
  assert.equal(described.status, 0, described.stderr);
  assert.match(
    described.stderr,
    /^WARNING:cmk:\S+state\.json was empty or zero-filled and the machine has restarted since it was written \(boot id 0b7d8ed6-\S+ then, 5e2a1c44-\S+ now\): a power failure before it reached the disk; restored the pools from \S+layout\.json; the tasks it recorded ended with the machine\n$/,
  );
  const pools = (JSON.parse(described.stdout) as { pools: Record<string, { cpuLists: Record<string, { tasks: number[] }> }> }).pools;
  assert.deepEqual(pools["exclusive"]?.cpuLists["1,9"]?.tasks, []);
});
