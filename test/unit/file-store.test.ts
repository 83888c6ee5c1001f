// The file store with real processes, real files and real flock.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { FileStateStore } from "../../src/adapters/file-store/store.ts";
import { CpuSet } from "../../src/core/cpuset.ts";
import { CmkError } from "../../src/core/errors.ts";
import { cpuListsOf, mapTasks, type NodeState, stateFromLayout } from "../../src/core/node-state.ts";
import type { CpuList, PoolName } from "../../src/core/pools.ts";

import { storeContract } from "../helpers/store-contract.ts";

const worker = join(import.meta.dirname, "..", "helpers", "store-worker.ts");
const scratch = mkdtempSync(join(tmpdir(), "cmk-store-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

let counter = 0;
function freshDir(): string {
  const dir = join(scratch, String(counter++));
  mkdirSync(dir);
  return dir;
}

function list(text: string): CpuList {
  return { key: text, cpus: CpuSet.parse(text) };
}

function initialState(): NodeState {
  const layout = new Map<PoolName, Map<number, CpuList[]>>([
    ["exclusive", new Map([[0, [list("2,10"), list("3,11")]]])],
    ["shared", new Map([[0, [list("4,12")]]])],
    ["infra", new Map([[0, [list("0,8,1,9")]]])],
  ]);
  return stateFromLayout(layout);
}

async function seeded(): Promise<{ dir: string; store: FileStateStore }> {
  const dir = freshDir();
  const store = new FileStateStore(dir, 30);
  await store.update(() => ({ state: initialState(), result: undefined }));
  return { dir, store };
}

function runWorker(args: string[]): ChildProcess {
  return spawn(process.execPath, [worker, ...args], { stdio: ["ignore", "pipe", "inherit"] });
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.on("exit", (code) => resolve(code)));
}

function lineFrom(child: ChildProcess): Promise<string> {
  return new Promise((resolve) => child.stdout?.once("data", (data: Buffer) => resolve(data.toString().trim())));
}

/** A real change: one more task on the infra list. */
function withInfraTask(state: NodeState | null, task: string): NodeState {
  return mapTasks(state ?? initialState(), (pool, entry) => (pool === "infra" ? [...entry.tasks, task] : entry.tasks));
}

function infraTasks(state: NodeState | null): string[] {
  const infra = state?.pools.get("infra");
  return infra === undefined ? [] : [...cpuListsOf(infra)].flatMap((entry) => [...entry.tasks]);
}

storeContract("file store", async () => {
  const dir = freshDir();
  const stateFile = join(dir, "state.json");
  return {
    store: new FileStateStore(dir, 30),
    reopen: () => new FileStateStore(dir, 30),
    raw: async () => (existsSync(stateFile) ? readFileSync(stateFile, "utf8") : null),
    plantConfig: async (config) => writeFileSync(stateFile, `{ "config": ${config} }\n`),
  };
});

describe("file store", () => {
  it("round-trips the state and keeps the pool document in CMK's shape", async () => {
    const { dir, store } = await seeded();
    const { bootId: _bootId, ...document } = JSON.parse(readFileSync(join(dir, "state.json"), "utf8")) as Record<string, unknown>;
    assert.deepEqual(document, {
      config: { exclusive: { "0": { "2,10": [], "3,11": [] } }, infra: { "0": { "0,8,1,9": [] } }, shared: { "0": { "4,12": [] } } },
    });
    const read = await store.read();
    assert.equal([...cpuListsOf(read?.pools.get("exclusive") ?? { name: "exclusive", sockets: new Map() })].length, 2);
  });

  it("never loses an update when several processes write at once", async () => {
    const { store, dir } = await seeded();
    const writers = [0, 1, 2, 3].map((index) => runWorker([dir, "append", String(1000 + index * 100), "25"]));
    const codes = await Promise.all(writers.map(exited));
    assert.deepEqual(codes, [0, 0, 0, 0]);
    const tasks = infraTasks(await store.read());
    assert.equal(tasks.length, 100);
    assert.equal(new Set(tasks).size, 100);
  });

  it("gets the lock back when its holder is killed with SIGKILL", async () => {
    const { dir } = await seeded();
    const holder = runWorker([dir, "hold"]);
    assert.equal(await lineFrom(holder), "locked");
    holder.kill("SIGKILL");
    await exited(holder);
    const store = new FileStateStore(dir, 2);
    const result = await store.update(() => ({ result: "ran" }));
    assert.equal(result, "ran");
  });

  it("times out naming the holder's PID and changes nothing", async () => {
    const { dir, store } = await seeded();
    const before = readFileSync(join(dir, "state.json"), "utf8");
    const holder = runWorker([dir, "hold"]);
    try {
      assert.equal(await lineFrom(holder), "locked");
      const impatient = new FileStateStore(dir, 0.3);
      const started = performance.now();
      await assert.rejects(
        impatient.update(() => ({ state: initialState(), result: undefined })),
        (error: unknown) =>
          error instanceof CmkError &&
          error.kind === "lock-timeout" &&
          error.message.includes(`PID ${holder.pid}`) &&
          error.message.includes("CMK_LOCK_TIMEOUT"),
      );
      assert.ok(performance.now() - started >= 300);
      assert.equal(readFileSync(join(dir, "state.json"), "utf8"), before);
      assert.notEqual(await store.read(), null);
    } finally {
      holder.kill("SIGKILL");
      await exited(holder);
    }
  });

  it("leaves a state that parses, without losing earlier updates, when a writer is killed at any instant", async () => {
    const { store, dir } = await seeded();
    let previous = 0;
    for (let round = 0; round < 12; round++) {
      const writer = runWorker([dir, "append", String(100000 + round * 1000), "1000"]);
      assert.equal(await lineFrom(writer), "writing");
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 40));
      writer.kill("SIGKILL");
      await exited(writer);
      const tasks = infraTasks(await store.read());
      assert.ok(tasks.length > previous, `round ${round}: ${tasks.length} tasks after ${previous}`);
      assert.equal(new Set(tasks).size, tasks.length);
      previous = tasks.length;
    }
    await store.update((current) => ({ state: withInfraTask(current, "7"), result: undefined }));
    assert.deepEqual(readdirSync(dir).sort(), ["layout.json", "lock", "state.json"]);
  });

  it("does not rewrite the file when a change returns the state it was given", async () => {
    const { dir, store } = await seeded();
    writeFileSync(join(dir, "state.json.tmp-99999"), "left over");
    await store.update((current) => ({ state: current ?? initialState(), result: undefined }));
    assert.ok(readdirSync(dir).includes("state.json.tmp-99999"), "nothing was written, so nothing was cleaned either");
  });

  it("creates nothing when a change on a missing directory fails or has nothing to write", async () => {
    const dir = join(scratch, "never-created");
    const store = new FileStateStore(dir, 30);
    await assert.rejects(
      store.update(() => {
        throw new CmkError("not-initialised", "no state");
      }),
      CmkError,
    );
    assert.equal(await store.update(() => ({ result: "nothing" })), "nothing");
    assert.equal(existsSync(dir), false);
    await store.update(() => ({ state: initialState(), result: undefined }));
    assert.deepEqual(readdirSync(dir).sort(), ["layout.json", "lock", "state.json"]);
  });

  it("reports a corrupt state file with its name and never overwrites it", async () => {
    const dir = freshDir();
    const file = join(dir, "state.json");
    const corrupt = '{ "config": { "exclusive": { "0": { "2,10": ["notapid"] } } } }\n';
    writeFileSync(file, corrupt);
    const store = new FileStateStore(dir, 30);
    await assert.rejects(store.read(), (error: unknown) => error instanceof CmkError && error.kind === "invalid-state" && error.message.startsWith(file));
    await assert.rejects(
      store.update(() => ({ state: initialState(), result: undefined })),
      CmkError,
    );
    assert.equal(readFileSync(file, "utf8"), corrupt);
  });

  it("removes temporary files left by a writer that died mid-write", async () => {
    const { dir, store } = await seeded();
    writeFileSync(join(dir, "state.json.tmp-99999"), '{ "config": { "half-writ');
    writeFileSync(join(dir, "layout.json.tmp-99998"), "{");
    await store.update((current) => ({ state: withInfraTask(current, "7"), result: undefined }));
    assert.deepEqual(readdirSync(dir).sort(), ["layout.json", "lock", "state.json"]);
  });

  it("reads a CMK 1.4 directory tree as is and migrates it on the first write, keeping a backup", async () => {
    const dir = freshDir();
    const tree: Record<string, string> = {
      "pools/exclusive/exclusive": "1",
      "pools/exclusive/0/4,12/tasks": "2000",
      "pools/exclusive/0/5,13/tasks": "",
      "pools/shared/exclusive": "0",
      "pools/shared/0/3,11/tasks": "1000,1001\n",
      "pools/infra/exclusive": "0",
      "pools/infra/0/0-2,8-10/tasks": "",
    };
    for (const [path, content] of Object.entries(tree)) {
      mkdirSync(join(dir, path, ".."), { recursive: true });
      writeFileSync(join(dir, path), content);
    }
    writeFileSync(join(dir, "lock"), "");
    const store = new FileStateStore(dir, 30);
    const legacy = await store.read();
    assert.deepEqual(infraTasks(legacy), []);
    const shared = legacy?.pools.get("shared");
    assert.deepEqual(shared === undefined ? [] : [...cpuListsOf(shared)].map((entry) => [entry.key, entry.tasks]), [["3,11", ["1000", "1001"]]]);
    await store.update((current) => ({ state: withInfraTask(current, "7"), result: undefined }));
    assert.deepEqual(readdirSync(dir).sort(), ["layout.json", "lock", "pools.cmk-1.4-backup", "state.json"]);
    const migrated = await store.read();
    const exclusive = migrated?.pools.get("exclusive");
    assert.deepEqual(exclusive === undefined ? [] : [...cpuListsOf(exclusive)].map((entry) => [entry.key, entry.tasks]), [
      ["4,12", ["2000"]],
      ["5,13", []],
    ]);
  });
  it("skips what CMK 1.4 skipped (files where directories belong), naming each, and migrates only CMK's state", async () => {
    const dir = freshDir();
    const tree: Record<string, string> = {
      "pools/exclusive/exclusive": "1",
      "pools/exclusive/0/4,12/tasks": "2000",
      "pools/exclusive/0/tasks": "",
      "pools/exclusive/README": "notes",
      "pools/infra/exclusive": "0",
      "pools/infra/0/0-2,8-10/tasks": "",
      "pools/stray": "x",
    };
    for (const [path, content] of Object.entries(tree)) {
      mkdirSync(join(dir, path, ".."), { recursive: true });
      writeFileSync(join(dir, path), content);
    }
    const notices: string[] = [];
    const store = new FileStateStore(dir, 30, (message) => notices.push(message));
    const legacy = await store.read();
    const exclusive = legacy?.pools.get("exclusive");
    assert.deepEqual(exclusive === undefined ? [] : [...cpuListsOf(exclusive)].map((entry) => [entry.key, entry.tasks]), [["4,12", ["2000"]]]);
    const skipped = ["pools/exclusive/0/tasks", "pools/exclusive/README", "pools/stray"].map(
      (path) => `skipping ${join(dir, path)} in the CMK 1.4 tree: not a directory, so CMK never read it as state`,
    );
    assert.deepEqual(notices.sort(), skipped.sort());
    await store.update((current) => ({ state: withInfraTask(current, "7"), result: undefined }));
    assert.equal(readFileSync(join(dir, "pools.cmk-1.4-backup", "exclusive", "0", "tasks"), "utf8"), "", "the backup keeps the tree whole");
    const migrated = JSON.parse(readFileSync(join(dir, "state.json"), "utf8")) as { config: Record<string, unknown> };
    assert.deepEqual(migrated.config, { exclusive: { "0": { "4,12": ["2000"] } }, infra: { "0": { "0-2,8-10": ["7"] } } });
  });

  it("refuses a CMK 1.4 tree CMK could not have written: a CPU-list directory that is no CPU list, a tasks file of non-numbers", async () => {
    for (const [path, content, message] of [
      ["pools/exclusive/0/4,x/tasks", "", /"4,x" is not a CPU list/],
      ["pools/exclusive/0/4,12/tasks", "12,abc", /task "abc" is not a process id/],
    ] as const) {
      const dir = freshDir();
      mkdirSync(join(dir, path, ".."), { recursive: true });
      writeFileSync(join(dir, path), content);
      const store = new FileStateStore(dir, 30);
      await assert.rejects(store.read(), (error: unknown) => error instanceof CmkError && error.kind === "invalid-state" && message.test(error.message));
    }
  });

  it("reads cmk 2.0.0-alpha.1's state.yaml and migrates it on the first write, keeping a backup", async () => {
    const dir = freshDir();
    const yaml =
      "config:\n  exclusive:\n    0:\n      2,10:\n      - '500'\n      3,11: []\n  infra:\n    0:\n      0,8,1,9: []\ntasks:\n  '500':\n    pid: 500\n    start: 9\n    child: 501\n    childStart: 10\n    affinity: true\n";
    writeFileSync(join(dir, "state.yaml"), yaml);
    const store = new FileStateStore(dir, 30);
    assert.deepEqual((await store.read())?.tasks.get("500"), { isolate: { pid: 500, start: 9 }, child: { pid: 501, start: 10 }, affinity: true });
    await store.update((current) => ({ state: withInfraTask(current, "7"), result: undefined, durability: "tasks" }));
    assert.deepEqual(readdirSync(dir).sort(), ["layout.json", "lock", "state.json", "state.yaml.cmk-2.0.0-alpha.1-backup"]);
    assert.equal(readFileSync(join(dir, "state.yaml.cmk-2.0.0-alpha.1-backup"), "utf8"), yaml);
    const migrated = await store.read();
    assert.deepEqual(migrated?.tasks.get("500")?.child, { pid: 501, start: 10 });
    assert.deepEqual(infraTasks(migrated), ["7"]);
  });

  it("keeps layout.json to the pools alone: task updates never reach it", async () => {
    const { dir, store } = await seeded();
    const layout = readFileSync(join(dir, "layout.json"), "utf8");
    await store.update((current) => ({ state: withInfraTask(current, "7"), result: undefined, durability: "tasks" }));
    assert.equal(readFileSync(join(dir, "layout.json"), "utf8"), layout);
    assert.deepEqual(infraTasks(await store.read()), ["7"]);
    assert.deepEqual(JSON.parse(layout), JSON.parse(readFileSync(join(dir, "state.json"), "utf8").replace('["7"]', "[]")));
  });

  it("refuses an empty state.json when there is no layout.json to restore, naming both", async () => {
    const dir = freshDir();
    writeFileSync(join(dir, "state.json"), "");
    await assert.rejects(
      new FileStateStore(dir, 30).read(),
      (error: unknown) =>
        error instanceof CmkError &&
        error.kind === "invalid-state" &&
        error.message.includes("state.json") &&
        error.message.includes("layout.json") &&
        error.message.includes("cmk init"),
    );
  });
});
