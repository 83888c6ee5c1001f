// cmk init's carving on random topologies (sockets, cores, threads, NUMA and L3 splits, core-id
// schemes, CPU numberings, offline CPUs, isolcpus, SST-BF frequencies and SST-CP preferences, all
// through fixtureTopology, the in-memory twin of the generated sysfs trees the other tests read)
// with random requests. Whatever it carves: pools are disjoint, made of whole cores, shaped as CMK
// writes them, and the requested sizes are met; whatever it refuses is a one-line CmkError of the
// does-not-fit kind; and without SST or exclusive-non-isolcpus it refuses exactly what cannot fit.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type CarveRequest, type Carving, carvePools } from "../../src/core/carve.ts";
import { CpuSet } from "../../src/core/cpuset.ts";
import { CmkError } from "../../src/core/errors.ts";
import { compareCpuLists, isExclusivePool, type PoolName } from "../../src/core/pools.ts";
import type { Core, Topology } from "../../src/core/topology.ts";
import { fc, runs } from "../helpers/property.ts";
import { type Node, nodeArbitrary } from "../helpers/random-node.ts";

/**
 * A random request: mostly counts the node can give (from the cores init may use), sometimes any
 * count, core id or socket around the node's size, so that both carvings and refusals are tried.
 */
function requestArbitrary(node: Node): fc.Arbitrary<CarveRequest> {
  const cores = node.topology.cores.length;
  const isolated = node.topology.cores.filter((core) => core.isolated).length;
  const usable = isolated > 0 ? isolated : cores - 1;
  const count = (likely: number): fc.Arbitrary<number> =>
    fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: Math.max(0, likely) }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: cores + 1 }) });
  const sockets = node.topology.sockets.map((socket) => socket.id);
  const counts = count(usable).chain((exclusive) => fc.tuple(fc.constant(exclusive), count(Math.min(2, usable - exclusive))));
  return fc
    .record({
      counts,
      exclusiveMode: fc.constantFrom("packed" as const, "spread" as const),
      sharedMode: fc.constantFrom("packed" as const, "spread" as const),
      exclNonIsolcpus: fc.oneof(
        { weight: 4, arbitrary: fc.constant(null) },
        { weight: 1, arbitrary: fc.uniqueArray(fc.integer({ min: 0, max: cores + 1 }), { maxLength: 3 }) },
      ),
      sstBf: fc.boolean(),
      sstCp: fc.boolean(),
      socketId: fc.oneof(
        { weight: 3, arbitrary: fc.constant(null) },
        { weight: 2, arbitrary: fc.constantFrom(...sockets) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: sockets.length + 1 }) },
      ),
    })
    .map(({ counts: [numExclusiveCores, numSharedCores], ...rest }) => ({ numExclusiveCores, numSharedCores, ...rest }));
}

const nodeAndRequest = nodeArbitrary.chain((node) => fc.tuple(fc.constant(node), requestArbitrary(node)));

/** Every list of the carving with its pool and socket. */
function listsOf(carving: Carving): { pool: PoolName; socket: number; key: string; cpus: CpuSet }[] {
  return [...carving.layout].flatMap(([pool, sockets]) => [...sockets].flatMap(([socket, lists]) => lists.map((list) => ({ pool, socket, ...list }))));
}

/** The cores of a pool, each found by its CPUs. */
function coresIn(topology: Topology, carving: Carving, pool: PoolName): Core[] {
  const cpus = CpuSet.of(listsOf(carving).flatMap((list) => (list.pool === pool ? list.cpus.ids : [])));
  return topology.cores.filter((core) => core.cpus.isSubsetOf(cpus));
}

function checkCarving(node: Node, request: CarveRequest, carving: Carving): void {
  const { topology } = node;
  const lists = listsOf(carving);
  // Disjoint: no CPU in two lists, of one pool or of two.
  const all = lists.flatMap((list) => list.cpus.ids);
  assert.equal(new Set(all).size, all.length, "a CPU is in two lists");
  assert.ok(CpuSet.of(all).isSubsetOf(topology.online), "a list names a CPU that is not online");
  for (const list of lists) {
    assert.ok(CpuSet.parse(list.key).equals(list.cpus), `key ${list.key} is its CPUs`);
    // Whole cores: every core is wholly in the list or wholly outside it, and on the list's socket.
    const members = topology.cores.filter((core) => core.cpus.intersects(list.cpus));
    for (const core of members) assert.ok(core.cpus.isSubsetOf(list.cpus), `list ${list.key} splits core ${core.cpus}`);
    assert.ok(
      members.every((core) => core.socket === list.socket),
      `list ${list.key} of socket ${list.socket} holds another socket's core`,
    );
    assert.equal(
      members.reduce((size, core) => size + core.cpus.size, 0),
      list.cpus.size,
    );
    if (isExclusivePool(list.pool)) assert.equal(members.length, 1, `exclusive list ${list.key} is one core`);
  }
  for (const [pool, sockets] of carving.layout) {
    assert.deepEqual(
      [...sockets.keys()],
      topology.sockets.map((socket) => socket.id),
      `pool ${pool} has every socket, in order`,
    );
    for (const socketLists of sockets.values()) {
      assert.deepEqual(socketLists, [...socketLists].sort(compareCpuLists), "lists in numeric order");
      if (!isExclusivePool(pool)) assert.ok(socketLists.length <= 1, `${pool}: one list per socket at most`);
    }
  }
  // The sizes asked for.
  const exclusive = coresIn(topology, carving, "exclusive");
  const shared = coresIn(topology, carving, "shared");
  assert.equal(exclusive.length, request.numExclusiveCores, "exclusive cores");
  assert.equal(shared.length, request.numSharedCores, "shared cores");
  assert.ok(coresIn(topology, carving, "infra").length > 0, "infra keeps a core");
  if (request.exclNonIsolcpus === null) assert.equal(carving.layout.has("exclusive-non-isolcpus"), false);
  else
    assert.deepEqual(
      coresIn(topology, carving, "exclusive-non-isolcpus").map((core) => core.id),
      [...request.exclNonIsolcpus].sort((a, b) => a - b),
    );
  if (request.socketId !== null) {
    for (const core of [...exclusive, ...shared]) assert.equal(core.socket, request.socketId, "exclusive and shared cores come from --socket-id");
  }
  const isolated = topology.cores.filter((core) => core.isolated);
  if (carving.strategy === "isolcpus" || carving.strategy === "sst-bf") {
    for (const core of [...exclusive, ...shared]) assert.ok(core.isolated, `core ${core.id} is not isolated`);
    for (const core of coresIn(topology, carving, "infra")) assert.ok(!core.isolated, `infra core ${core.id} is isolated`);
  }
  if (carving.strategy === "no-isolation") assert.equal(isolated.length, 0);
}

/** Whether init must carve this request, for the plain strategies (no SST, no exclusive-non-isolcpus). */
function fits(topology: Topology, request: CarveRequest): boolean {
  if (request.socketId !== null && !topology.sockets.some((socket) => socket.id === request.socketId)) return false;
  const onSocket = (core: Core): boolean => request.socketId === null || core.socket === request.socketId;
  const isolating = topology.cores.some((core) => core.isolated);
  const wanted = request.numExclusiveCores + request.numSharedCores;
  const candidates = topology.cores.filter((core) => (!isolating || core.isolated) && onSocket(core));
  const infra = isolating ? topology.cores.filter((core) => !core.isolated).length : topology.cores.length - wanted;
  return candidates.length >= wanted && infra >= 1;
}

describe("carvePools on random nodes (property)", () => {
  it("carves disjoint pools of whole cores of the requested sizes, or refuses with a one-line does-not-fit error", () => {
    fc.assert(
      fc.property(nodeAndRequest, ([node, request]) => {
        let carving: Carving;
        try {
          carving = carvePools(node.topology, request);
        } catch (error) {
          assert.ok(error instanceof CmkError, `not a CmkError: ${String(error)}`);
          assert.equal(error.kind, "does-not-fit", error.message);
          assert.match(error.message, /^[^\n]{20,}$/, "one line that says something");
          return;
        }
        checkCarving(node, request, carving);
      }),
      runs(800),
    );
  });

  it("without SST and exclusive-non-isolcpus, refuses exactly the requests that cannot fit", () => {
    fc.assert(
      fc.property(nodeAndRequest, ([node, generated]) => {
        const request = { ...generated, sstBf: false, sstCp: false, exclNonIsolcpus: null };
        let carved = true;
        try {
          checkCarving(node, request, carvePools(node.topology, request));
        } catch (error) {
          if (!(error instanceof CmkError)) throw error;
          carved = false;
        }
        assert.equal(carved, fits(node.topology, request), carved ? "carved a request that cannot fit" : "refused a request that fits");
      }),
      runs(600),
    );
  });
});
