// A state.json that comes back empty or zero-filled is a power failure's loss only when the machine
// restarted since it was written, which the kernel's boot id tells: then its tasks ended with the
// machine and the pools come back from layout.json. With the same boot id (or none recorded) the
// tasks may still run: they are rebuilt from the cmk isolate processes that run, or the state is
// refused unchanged. Real files in a scratch conf dir; the host is a fake procfs (boot id, isolate
// processes, lock waiters), so every case runs on any machine.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { procfsHost } from "../../src/adapters/file-store/power-failure.ts";
import { FileStateStore } from "../../src/adapters/file-store/store.ts";
import { CpuSet } from "../../src/core/cpuset.ts";
import { CmkError } from "../../src/core/errors.ts";
import { mapTasks, type NodeState, stateFromLayout } from "../../src/core/node-state.ts";
import type { CpuList, PoolName } from "../../src/core/pools.ts";
import { fakeBootId, fakeIsolate, fakeLockWaiters, fakeSelf } from "../helpers/fake-proc.ts";
import { view } from "../helpers/state.ts";

const scratch = mkdtempSync(join(tmpdir(), "cmk-lost-state-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

const bootA = "0b7d8ed6-3f1c-4e7b-9a53-2d4c1f0e9a11";
const bootB = "5e2a1c44-9d07-4b1e-8f6a-7c3d2b1a0f99";

let counter = 0;

interface Node {
  readonly dir: string;
  readonly proc: string;
  readonly notices: string[];
  /** A store of the conf dir as a new cmk process would open it, hearing notices. */
  store(): FileStateStore;
}

/** A conf dir and a fake procfs showing boot `bootId` (none when null) and this reader as PID 1. */
function node(bootId: string | null): Node {
  const dir = join(scratch, `conf-${counter}`);
  const proc = join(scratch, `proc-${counter++}`);
  mkdirSync(dir);
  mkdirSync(proc);
  fakeSelf(proc, 1, 1);
  if (bootId !== null) fakeBootId(proc, bootId);
  const notices: string[] = [];
  return { dir, proc, notices, store: () => new FileStateStore(dir, 30, (message) => notices.push(message), procfsHost(proc, "/etc/cmk", 150)) };
}

function list(text: string): CpuList {
  return { key: text, cpus: CpuSet.parse(text) };
}

function layout(): NodeState {
  return stateFromLayout(
    new Map<PoolName, Map<number, CpuList[]>>([
      ["exclusive", new Map([[0, [list("2,10"), list("3,11")]]])],
      ["shared", new Map([[0, [list("4,12")]]])],
      ["infra", new Map([[0, [list("0,8,1,9")]]])],
    ]),
  );
}

/** Initialises the conf dir, then records task 500 on exclusive 3,11 (with its command 501) and task 600 on infra. */
async function withTasks(target: Node): Promise<void> {
  const store = target.store();
  await store.update(() => ({ state: layout(), result: undefined }));
  await store.update((current) => ({
    state: mapTasks(
      current ?? layout(),
      (pool, entry) => (pool === "exclusive" && entry.key === "3,11" ? ["500"] : pool === "infra" ? ["600"] : entry.tasks),
      new Map([
        ["500", { isolate: { pid: 500, start: 50 }, child: { pid: 501, start: 51 }, affinity: true }],
        ["600", { isolate: { pid: 600, start: 60 }, affinity: true }],
      ]),
    ),
    result: undefined,
    durability: "tasks",
  }));
}

const noTasks = { exclusive: { 0: { "2,10": [], "3,11": [] } }, infra: { 0: { "0,8,1,9": [] } }, shared: { 0: { "4,12": [] } } };

function documentOf(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
}

describe("the boot id in the state files", () => {
  it("is recorded beside config and tasks, in state.json and layout.json, leaving config CMK's pool document", async () => {
    const target = node(bootA);
    await withTasks(target);
    const state = documentOf(join(target.dir, "state.json"));
    assert.deepEqual(Object.keys(state), ["config", "tasks", "bootId"]);
    assert.equal(state["bootId"], bootA);
    assert.deepEqual(state["config"], {
      exclusive: { "0": { "2,10": [], "3,11": ["500"] } },
      infra: { "0": { "0,8,1,9": ["600"] } },
      shared: { "0": { "4,12": [] } },
    });
    assert.deepEqual(documentOf(join(target.dir, "layout.json")), {
      config: { exclusive: { "0": { "2,10": [], "3,11": [] } }, infra: { "0": { "0,8,1,9": [] } }, shared: { "0": { "4,12": [] } } },
      bootId: bootA,
    });
  });

  it("is left out on a host that shows none, and such files read as before", async () => {
    const target = node(null);
    await withTasks(target);
    assert.deepEqual(Object.keys(documentOf(join(target.dir, "state.json"))), ["config", "tasks"]);
    assert.deepEqual(view((await target.store().read()) as NodeState).exclusive, { 0: { "2,10": [], "3,11": ["500"] } });
  });

  it("goes to layout.json, durably, at the first write of a new boot, and task writes of the same boot leave layout.json alone", async () => {
    const target = node(bootA);
    await withTasks(target);
    const layoutFile = join(target.dir, "layout.json");
    const before = statSync(layoutFile).ino;
    await target.store().update((current) => ({
      state: mapTasks(current as NodeState, (_pool, entry) => entry.tasks.filter((task) => task !== "600")),
      result: 0,
      durability: "tasks",
    }));
    assert.equal(statSync(layoutFile).ino, before, "same boot: layout.json was not replaced");
    fakeBootId(target.proc, bootB);
    await target.store().update((current) => ({
      state: mapTasks(current as NodeState, (_pool, entry) => entry.tasks.filter((task) => task !== "500")),
      result: 0,
      durability: "tasks",
    }));
    assert.notEqual(statSync(layoutFile).ino, before, "a new boot: layout.json was replaced");
    assert.equal(documentOf(layoutFile)["bootId"], bootB);
    assert.equal(documentOf(join(target.dir, "state.json"))["bootId"], bootB);
  });
});

describe("an empty or zero-filled state.json", () => {
  for (const [what, lost] of [
    ["empty", ""],
    ["zero-filled", "\0".repeat(300)],
  ] as const) {
    it(`after a restart (${what}; another boot id): restores the pools from layout.json and drops the tasks, which ended with the machine`, async () => {
      const target = node(bootA);
      await withTasks(target);
      writeFileSync(join(target.dir, "state.json"), lost);
      fakeBootId(target.proc, bootB);
      const store = target.store();
      const restored = (await store.read()) as NodeState;
      assert.deepEqual(view(restored), noTasks);
      assert.equal(restored.tasks.size, 0);
      assert.equal(target.notices.length, 1);
      assert.match(
        target.notices[0] ?? "",
        new RegExp(
          `state\\.json was empty or zero-filled and the machine has restarted since it was written \\(boot id ${bootA} then, ${bootB} now\\).*restored the pools from \\S+layout\\.json; the tasks it recorded ended with the machine$`,
        ),
      );
      await store.update((current) => ({
        state: mapTasks(current as NodeState, (pool, entry) => (pool === "infra" ? ["700"] : entry.tasks)),
        result: 0,
        durability: "tasks",
      }));
      assert.deepEqual(view((await target.store().read()) as NodeState).infra, { 0: { "0,8,1,9": ["700"] } }, "the next write repairs state.json");
      assert.equal(documentOf(join(target.dir, "layout.json"))["bootId"], bootB);
    });
  }

  it("in the same boot with no cmk isolate running: restores the pools with no task, saying why that is safe", async () => {
    const target = node(bootA);
    await withTasks(target);
    writeFileSync(join(target.dir, "state.json"), "\0".repeat(64));
    const restored = (await target.store().read()) as NodeState;
    assert.deepEqual(view(restored), noTasks);
    assert.deepEqual(target.notices, [
      `${join(target.dir, "state.json")} was empty or zero-filled but the machine has not restarted since it was written (boot id ${bootA}); restored the pools from ${join(target.dir, "layout.json")} with no task: no cmk isolate of this state directory runs`,
    ]);
  });

  it("in the same boot: rebuilds the tasks of the running isolates onto the lists their commands run on", async () => {
    const target = node(bootA);
    await withTasks(target);
    // Task 500 moved by reconfigure: its mask says 2,10 though it started with 3,11. Task 600 is --no-affinity, infra, CMK's flag form.
    fakeIsolate(target.proc, {
      pid: 500,
      start: 50,
      args: ["--pool=exclusive", `--conf-dir=${target.dir}`, "--", "sleep", "100"],
      command: { pid: 501, start: 51, allowed: "2,10", assigned: "3,11" },
    });
    fakeIsolate(target.proc, {
      pid: 600,
      start: 60,
      args: ["--pool", "infra", "sleep", "--no-affinity", "--conf-dir", target.dir, "--", "100"],
      command: { pid: 601, start: 61, allowed: "0-15", assigned: "0-1,8-9" },
    });
    // An isolate of another state directory is none of this one's business.
    fakeIsolate(target.proc, {
      pid: 700,
      start: 70,
      args: ["--pool=exclusive", "--conf-dir=/elsewhere", "--", "sleep", "100"],
      command: { pid: 701, start: 71, allowed: "3,11", assigned: "3,11" },
    });
    writeFileSync(join(target.dir, "state.json"), "");
    const stateBytes = readFileSync(join(target.dir, "state.json"));
    const restored = (await target.store().read()) as NodeState;
    assert.deepEqual(view(restored), {
      exclusive: { 0: { "2,10": ["500"], "3,11": [] } },
      infra: { 0: { "0,8,1,9": ["600"] } },
      shared: { 0: { "4,12": [] } },
    });
    assert.deepEqual(restored.tasks.get("500"), { isolate: { pid: 500, start: 50 }, child: { pid: 501, start: 51 }, affinity: true });
    assert.deepEqual(restored.tasks.get("600"), { isolate: { pid: 600, start: 60 }, child: { pid: 601, start: 61 }, affinity: false });
    assert.match(target.notices[0] ?? "", /with the 2 tasks of the cmk isolate processes that run \(PIDs 500, 600\)$/);
    assert.deepEqual(readFileSync(join(target.dir, "state.json")), stateBytes, "a read writes nothing");
  });

  it("in the same boot: refuses, changing nothing, when a running isolate's CPUs are no lists of its pool", async () => {
    const target = node(bootA);
    await withTasks(target);
    fakeIsolate(target.proc, {
      pid: 500,
      start: 50,
      args: ["--pool=exclusive", `--conf-dir=${target.dir}`, "--", "sleep", "100"],
      command: { pid: 501, start: 51, allowed: "5", assigned: "5,13" },
    });
    writeFileSync(join(target.dir, "state.json"), "");
    const layoutBefore = readFileSync(join(target.dir, "layout.json"), "utf8");
    const store = target.store();
    const refused = (error: unknown): boolean =>
      error instanceof CmkError &&
      error.kind === "invalid-state" &&
      !error.message.includes("\n") &&
      error.message.includes(`but the machine has not restarted since it was written (boot id ${bootA}), so the tasks it recorded may still run`) &&
      error.message.includes("the command of cmk isolate 500 runs on CPUs 5 / 5,13, which are no CPU lists of pool exclusive") &&
      error.message.includes("nothing was changed");
    await assert.rejects(store.read(), refused);
    await assert.rejects(
      store.update(() => ({ state: layout(), result: undefined })),
      refused,
    );
    assert.equal(readFileSync(join(target.dir, "state.json"), "utf8"), "");
    assert.equal(readFileSync(join(target.dir, "layout.json"), "utf8"), layoutBefore);
  });

  it("in the same boot: refuses when two running isolates run on the same exclusive list", async () => {
    const target = node(bootA);
    await withTasks(target);
    for (const pid of [500, 510]) {
      fakeIsolate(target.proc, {
        pid,
        start: pid / 10,
        args: ["--pool=exclusive", `--conf-dir=${target.dir}`, "--", "sleep", "100"],
        command: { pid: pid + 1, start: pid / 10 + 1, allowed: "3,11", assigned: "3,11" },
      });
    }
    writeFileSync(join(target.dir, "state.json"), "");
    await assert.rejects(
      target.store().read(),
      (error: unknown) => error instanceof CmkError && error.message.includes("CPU list 3,11 of pool exclusive is held by cmk isolate 500 and 510 at once"),
    );
  });

  it("in the same boot: an isolate whose command is held counts for nothing while it waits for the lock, and is refused while it does not", async () => {
    const target = node(bootA);
    await withTasks(target);
    fakeIsolate(target.proc, {
      pid: 800,
      start: 80,
      args: ["--pool=exclusive", `--conf-dir=${target.dir}`, "--", "sleep", "100"],
      command: { pid: 801, start: 81, allowed: "0-15" },
    });
    writeFileSync(join(target.dir, "state.json"), "");
    await assert.rejects(
      target.store().read(),
      (error: unknown) =>
        error instanceof CmkError && error.message.includes("cmk isolate 800 has not started its command and is not waiting for the state lock"),
    );
    writeFileSync(join(target.dir, "lock"), "");
    fakeLockWaiters(target.proc, statSync(join(target.dir, "lock")).ino, [800]);
    assert.deepEqual(view((await target.store().read()) as NodeState), noTasks);
  });

  it("with layout.json from before boot ids (none recorded): treated as the same boot, never as a restart", async () => {
    const target = node(bootB);
    await withTasks(target);
    const layoutFile = join(target.dir, "layout.json");
    const { bootId: _recorded, ...older } = documentOf(layoutFile);
    writeFileSync(layoutFile, JSON.stringify(older));
    fakeIsolate(target.proc, {
      pid: 500,
      start: 50,
      args: ["--pool=exclusive", `--conf-dir=${target.dir}`, "--", "sleep", "100"],
      command: { pid: 501, start: 51, allowed: "3,11", assigned: "3,11" },
    });
    writeFileSync(join(target.dir, "state.json"), "");
    assert.deepEqual(view((await target.store().read()) as NodeState).exclusive, { 0: { "2,10": [], "3,11": ["500"] } });
    assert.match(
      target.notices[0] ?? "",
      /cmk cannot tell whether the machine restarted since it was written \(layout\.json records no boot id\); .*with the task of the cmk isolate process that runs \(PID 500\)$/,
    );
  });

  it("random bytes are corruption even after a restart: reported unreadable, never restored from layout.json", async () => {
    const target = node(bootA);
    await withTasks(target);
    const bytes = randomBytes(2048);
    bytes[0] = 0;
    bytes[1000] = 0x41;
    writeFileSync(join(target.dir, "state.json"), bytes);
    fakeBootId(target.proc, bootB);
    await assert.rejects(
      target.store().read(),
      (error: unknown) => error instanceof CmkError && error.kind === "invalid-state" && /state\.json: not valid JSON/.test(error.message),
    );
    assert.deepEqual(target.notices, []);
    assert.deepEqual(readFileSync(join(target.dir, "state.json")), bytes);
  });
});
