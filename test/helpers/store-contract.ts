// The StateStore contract, one suite of cases run against every store (the file store in
// test/unit/file-store.test.ts, the ConfigMap store in test/integration/configmap-store.test.ts):
// what any command may rely on, whichever store holds the node's state.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CpuSet } from "../../src/core/cpuset.ts";
import { CmkError } from "../../src/core/errors.ts";
import { cpuListsOf, mapTasks, type NodeState, stateFromLayout } from "../../src/core/node-state.ts";
import type { CpuList, PoolName } from "../../src/core/pools.ts";
import type { StateStore } from "../../src/core/state-store.ts";

/** One empty store of the kind under test, and ways to look at and plant its raw document. */
export interface StoreUnderTest {
  readonly store: StateStore;
  /** Another store object on the same state (another process would open its own). */
  readonly reopen: () => StateStore;
  /** The stored document as text, exactly; null when nothing is stored. */
  readonly raw: () => Promise<string | null>;
  /** Stores `config` (a pool document as JSON) bypassing the store's checks, as a hand edit would. */
  readonly plantConfig: (config: string) => Promise<void>;
}

function list(text: string): CpuList {
  return { key: text, cpus: CpuSet.parse(text) };
}

export function contractState(): NodeState {
  const layout = new Map<PoolName, Map<number, CpuList[]>>([
    ["exclusive", new Map([[0, [list("2,10"), list("3,11")]]])],
    ["shared", new Map([[0, [list("4,12")]]])],
    ["infra", new Map([[0, [list("0,8,1,9")]]])],
  ]);
  return stateFromLayout(layout);
}

function withInfraTask(state: NodeState, task: string): NodeState {
  return mapTasks(state, (pool, entry) => (pool === "infra" ? [...entry.tasks, task] : entry.tasks));
}

function infraTasks(state: NodeState | null): string[] {
  const infra = state?.pools.get("infra");
  return infra === undefined ? [] : [...cpuListsOf(infra)].flatMap((entry) => [...entry.tasks]);
}

async function rejectsWith(promise: Promise<unknown>, kind: string, ...fragments: string[]): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof CmkError, `expected a CmkError, got ${String(error)}`);
    assert.equal(error.kind, kind, error.message);
    for (const fragment of fragments)
      assert.ok(error.message.includes(fragment), `${JSON.stringify(error.message)} should mention ${JSON.stringify(fragment)}`);
    return true;
  });
}

/** Registers the contract's cases for the store `open` makes (a fresh, empty one per case). */
export function storeContract(kind: string, open: () => Promise<StoreUnderTest>): void {
  describe(`StateStore contract: ${kind}`, () => {
    it("has no state until a change writes one, and reads back what was written", async () => {
      const { store, reopen, raw } = await open();
      assert.equal(await store.read(), null);
      assert.equal(await raw(), null);
      const result = await store.update((current) => {
        assert.equal(current, null);
        return { state: contractState(), result: "written" };
      });
      assert.equal(result, "written");
      const read = await reopen().read();
      assert.ok(read !== null);
      assert.deepEqual([...read.pools.keys()].sort(), ["exclusive", "infra", "shared"]);
      assert.equal([...cpuListsOf(read.pools.get("exclusive") as NonNullable<ReturnType<typeof read.pools.get>>)].length, 2);
    });

    it("writes nothing when a change returns no state, returns the state it was given, or throws", async () => {
      const { store, raw } = await open();
      assert.equal(await store.update(() => ({ result: 1 })), 1);
      assert.equal(await raw(), null, "a change with nothing to write left a document");
      await store.update(() => ({ state: contractState(), result: undefined }));
      const before = await raw();
      await store.update((current) => ({ state: current as NodeState, result: undefined }));
      assert.equal(await raw(), before);
      await assert.rejects(
        store.update(() => {
          throw new Error("change failed");
        }),
        /change failed/,
      );
      assert.equal(await raw(), before);
    });

    it("loses no update when several writers change the state at once", async () => {
      const { store, reopen } = await open();
      await store.update(() => ({ state: contractState(), result: undefined }));
      const writers = Array.from({ length: 6 }, () => reopen());
      await Promise.all(
        writers.map(async (writer, index) => {
          for (let round = 0; round < 5; round++) {
            const task = String(1000 + index * 10 + round);
            await writer.update((current) => ({ state: withInfraTask(current as NodeState, task), result: undefined, durability: "tasks" }));
          }
        }),
      );
      const tasks = infraTasks(await store.read());
      assert.equal(tasks.length, 30, `tasks: ${tasks.join(",")}`);
      assert.equal(new Set(tasks).size, 30);
    });

    it("reports a document it cannot read, naming where it is, and changes nothing until it is set aside", async () => {
      const { store, raw, plantConfig } = await open();
      await plantConfig('{ "exclusive": { "0": { "4,12": "not a list" } } }');
      const planted = await raw();
      await rejectsWith(store.read(), "invalid-state", store.location, "tasks must be a list");
      await rejectsWith(
        store.update(() => ({ state: contractState(), result: undefined })),
        "invalid-state",
        store.location,
      );
      assert.equal(await raw(), planted);
      const movedTo = await store.setAsideUnreadable();
      assert.ok(movedTo !== null, "setAsideUnreadable moved nothing");
      assert.equal(await store.read(), null);
      assert.equal(await store.setAsideUnreadable(), null, "a second call has nothing to move");
    });

    it("refuses to change a document whose CPU lists share a CPU, and leaves it as it was", async () => {
      const { store, raw, plantConfig } = await open();
      await plantConfig('{ "exclusive": { "0": { "2,10": [], "3,11": [] } }, "shared": { "0": { "3,11,4": [] } } }');
      const planted = await raw();
      // Read-only commands still see it (node-report reports the overlap).
      assert.ok((await store.read()) !== null);
      await rejectsWith(
        store.update((current) => ({ state: withInfraTask(current as NodeState, "7"), result: undefined })),
        "invalid-state",
        store.location,
        "share CPU 3,11",
      );
      assert.equal(await raw(), planted);
    });

    it("refuses unknown pools and PIDs that are no PIDs, naming the problem", async () => {
      const { store, plantConfig } = await open();
      await plantConfig('{ "turbo": { "0": { "2,10": [] } } }');
      await rejectsWith(store.read(), "invalid-state", 'unknown pool "turbo"');
      await plantConfig('{ "exclusive": { "0": { "2,10": ["-4"] } } }');
      await rejectsWith(store.read(), "invalid-state", "is not a process id");
    });
  });
}
