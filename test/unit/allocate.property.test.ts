// Allocation on random nodes carved by init's own carving, driven by random sequences of what the
// node's processes do: isolates asking for lists of any pool, count and socket (some reusing the
// PID of a dead task), tasks ending, tasks dying without giving their lists back, reconcile.
// Against a model of the pools: an exclusive list is never given to two tasks and a live task
// never loses its lists; shared and infra requests get a least-loaded list; several exclusive
// lists come from one L3 group, else one NUMA node, else one socket, whenever one can hold them;
// and a request is refused exactly when the model says it cannot be met, with the kind it says.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Allocation, allocate, reclaimDead, releaseTask, socketFor } from "../../src/core/allocate.ts";
import { carvePools } from "../../src/core/carve.ts";
import type { CpuSet } from "../../src/core/cpuset.ts";
import { CmkError } from "../../src/core/errors.ts";
import { allTaskIds, type CpuListState, cpuListsOf, type NodeState, stateFromLayout } from "../../src/core/node-state.ts";
import { isExclusivePool, type PoolName } from "../../src/core/pools.ts";
import type { Topology } from "../../src/core/topology.ts";
import { fc, runs } from "../helpers/property.ts";
import { type Node, nodeArbitrary } from "../helpers/random-node.ts";

type Operation =
  | { readonly kind: "isolate"; readonly pool: PoolName; readonly count: number; readonly socket: number | null; readonly reusePid: boolean }
  | { readonly kind: "end" | "die"; readonly pick: number }
  | { readonly kind: "reconcile" };

const operation: fc.Arbitrary<Operation> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("isolate" as const),
      pool: fc.constantFrom<PoolName>("exclusive", "exclusive", "shared", "infra", "exclusive-non-isolcpus"),
      count: fc.integer({ min: 1, max: 4 }),
      socket: fc.option(fc.integer({ min: 0, max: 4 }), { nil: null, freq: 2 }),
      reusePid: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom("end" as const, "die" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ kind: "reconcile" as const }) },
);

/** A node, init's pools on it (at least one exclusive list), and what its processes do. */
const scenario = nodeArbitrary
  .chain((node) => {
    const cores = node.topology.cores.length;
    return fc.tuple(
      fc.constant(node),
      fc.integer({ min: 1, max: Math.max(1, cores - 1) }),
      fc.integer({ min: 0, max: 2 }),
      fc.constantFrom("packed" as const, "spread" as const),
      fc.array(operation, { minLength: 1, maxLength: 40 }),
    );
  })
  .map(([node, exclusive, shared, mode, operations]) => {
    try {
      const carving = carvePools(node.topology, {
        numExclusiveCores: exclusive,
        numSharedCores: shared,
        exclusiveMode: mode,
        sharedMode: mode,
        exclNonIsolcpus: null,
        sstBf: false,
        sstCp: false,
        socketId: null,
      });
      return { node, state: stateFromLayout(carving.layout), operations };
    } catch {
      return null; // Requests init refuses are carve's property tests' business.
    }
  })
  .filter((value): value is { node: Node; state: NodeState; operations: Operation[] } => value !== null);

/** NUMA node and L3 group of a list, as isolate reads them from sysfs: those of its first CPU. */
function placementIn(topology: Topology): (cpus: CpuSet) => { numaNode: number; l3: number } {
  return (cpus) => {
    const cpu = topology.cpus.get(cpus.first ?? -1);
    return { numaNode: cpu?.numaNode ?? -1, l3: cpu?.l3 ?? -1 };
  };
}

type Placed = CpuListState & { readonly socket: number };
const at = (list: Placed): string => `${list.socket}/${list.key}`;

/** What the model expects of a request on `state` (after its PID's old task is released): a refusal's kind, or the lists it may get. */
function expected(
  state: NodeState,
  pool: PoolName,
  socket: number | null,
  count: number,
  alive: (id: string) => boolean,
): string | { lists: Placed[]; take: number } {
  const found = state.pools.get(pool);
  if (found === undefined || (socket !== null && !found.sockets.has(socket))) return "does-not-fit";
  const scoped = [...cpuListsOf(found)].filter((list) => socket === null || list.socket === socket);
  if (!isExclusivePool(pool)) {
    if (scoped.length === 0) return "does-not-fit";
    const least = Math.min(...scoped.map((list) => list.tasks.length));
    return { lists: scoped.filter((list) => list.tasks.length === least), take: 1 };
  }
  if (scoped.length < count) return "does-not-fit";
  const free = scoped.filter((list) => list.tasks.length === 0);
  const usable = free.length >= count ? free : scoped.filter((list) => list.tasks.every((task) => !alive(task)));
  return usable.length < count ? "pool-exhausted" : { lists: usable, take: count };
}

/** When some domain of the free lists (L3 group, NUMA node, socket) holds the request, the lists come from one such domain. */
function checkCloseness(lists: readonly Placed[], chosen: readonly Placed[], placement: ReturnType<typeof placementIn>): void {
  const domains: [string, (list: Placed) => string][] = [
    ["L3 group", (list) => `${list.socket}/${placement(list.cpus).numaNode}/${placement(list.cpus).l3}`],
    ["NUMA node", (list) => `${list.socket}/${placement(list.cpus).numaNode}`],
    ["socket", (list) => `${list.socket}`],
  ];
  for (const [name, domainOf] of domains) {
    const sizes = new Map<string, number>();
    for (const list of lists) sizes.set(domainOf(list), (sizes.get(domainOf(list)) ?? 0) + 1);
    if ([...sizes.values()].some((size) => size >= chosen.length)) {
      assert.equal(new Set(chosen.map(domainOf)).size, 1, `${chosen.length} lists fit in one ${name}, but came from ${chosen.map(at).join(" ")}`);
      return;
    }
  }
}

/** Invariants of every state: exclusive lists hold one task at most, task records match the lists. */
function checkState(state: NodeState, holdings: ReadonlyMap<string, readonly string[]>): void {
  for (const pool of state.pools.values()) {
    if (!isExclusivePool(pool.name)) continue;
    for (const list of cpuListsOf(pool)) assert.ok(list.tasks.length <= 1, `exclusive list ${list.key} is held by ${list.tasks.join(" and ")}`);
  }
  assert.deepEqual([...state.tasks.keys()].sort(), [...allTaskIds(state)].sort(), "a task record for every task on a list, and no other");
  const where = new Map<string, string[]>();
  for (const pool of state.pools.values()) {
    for (const list of cpuListsOf(pool)) for (const task of list.tasks) where.set(task, [...(where.get(task) ?? []), `${pool.name}:${at(list)}`]);
  }
  for (const [task, lists] of holdings) assert.deepEqual((where.get(task) ?? []).sort(), [...lists].sort(), `task ${task} keeps exactly its lists`);
}

describe("allocate on random nodes and histories (property)", () => {
  it("never gives an exclusive list twice, keeps live tasks on their lists, balances shared lists, keeps lists close, refuses only what cannot be met", () => {
    fc.assert(
      fc.property(scenario, ({ node, state: initial, operations }) => {
        const placement = placementIn(node.topology);
        let state = initial;
        let nextPid = 1000;
        const dead = new Set<string>();
        /** Live tasks and the lists they were given (pool:socket/key). */
        const holdings = new Map<string, string[]>();
        const alive = (id: string): boolean => !dead.has(id);
        for (const step of operations) {
          if (step.kind === "end" || step.kind === "die") {
            const live = [...holdings.keys()];
            const id = live[step.pick % Math.max(1, live.length)];
            if (id === undefined) continue;
            holdings.delete(id);
            if (step.kind === "end") state = releaseTask(state, id);
            else dead.add(id);
          } else if (step.kind === "reconcile") {
            state = reclaimDead(state, alive).state;
            for (const task of allTaskIds(state)) assert.ok(alive(task), `reconcile left dead task ${task}`);
          } else if (step.kind === "isolate") {
            const reused = step.reusePid ? [...dead].find((id) => allTaskIds(state).has(id)) : undefined;
            const id = reused ?? String(nextPid++);
            if (reused !== undefined) dead.delete(reused); // The PID is a new, live process now.
            const socket = socketFor(step.pool, step.socket);
            const model = expected(releaseTask(state, id), step.pool, socket, step.count, alive);
            let allocation: Allocation;
            try {
              allocation = allocate(
                state,
                { pool: step.pool, socketId: socket, count: step.count, taskId: id, record: { isolate: { pid: Number(id), start: 1 }, affinity: true } },
                (task) => alive(task),
                placement,
              );
            } catch (error) {
              assert.ok(error instanceof CmkError, String(error));
              assert.equal(error.kind, typeof model === "string" ? model : "(success)", `${step.pool} x${step.count} on ${socket}: ${error.message}`);
              continue;
            }
            assert.notEqual(typeof model, "string", `expected ${String(model)}, got lists ${allocation.lists.map(at).join(" ")}`);
            const { lists, take } = model as { lists: Placed[]; take: number };
            assert.equal(allocation.lists.length, take);
            const allowed = new Set(lists.map(at));
            for (const list of allocation.lists) assert.ok(allowed.has(at(list)), `${at(list)} is not among the model's ${[...allowed].join(" ")}`);
            if (isExclusivePool(step.pool)) checkCloseness(lists, allocation.lists, placement);
            state = allocation.state;
            for (const entry of allocation.reclaimed) holdings.delete(String(entry.pid));
            holdings.set(
              id,
              allocation.lists.map((list) => `${step.pool}:${at(list)}`),
            );
          }
          // Dead tasks may lose their lists to reclaim; live ones never.
          checkState(state, new Map([...holdings].filter(([task]) => alive(task))));
        }
      }),
      runs(600),
    );
  });
});
