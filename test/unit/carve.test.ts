import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type CarveRequest, type Carving, carvePools, orderCores } from "../../src/core/carve.ts";
import { CpuSet } from "../../src/core/cpuset.ts";
import { CmkError } from "../../src/core/errors.ts";
import { isExclusivePool, type PoolName } from "../../src/core/pools.ts";
import { buildTopology, type CpuRecord, type Topology } from "../../src/core/topology.ts";

interface Shape {
  sockets: number;
  coresPerSocket: number;
  threads: number;
  /** Core id of the core-th core of a socket; default: global index socket * coresPerSocket + core. */
  coreId?: (socket: number, core: number) => number;
  /** Default thread-major numbering: thread * totalCores + socket * coresPerSocket + core. */
  cpuId?: (socket: number, core: number, thread: number) => number;
  baseFrequencyKHz?: (cpu: number) => number | undefined;
  epp?: (cpu: number) => string | undefined;
}

function records(shape: Shape): CpuRecord[] {
  const total = shape.sockets * shape.coresPerSocket;
  const coreId = shape.coreId ?? ((socket, core) => socket * shape.coresPerSocket + core);
  const cpuId = shape.cpuId ?? ((socket, core, thread) => thread * total + socket * shape.coresPerSocket + core);
  const out: CpuRecord[] = [];
  for (let socket = 0; socket < shape.sockets; socket++) {
    for (let core = 0; core < shape.coresPerSocket; core++) {
      for (let thread = 0; thread < shape.threads; thread++) {
        const id = cpuId(socket, core, thread);
        const frequency = shape.baseFrequencyKHz?.(id);
        const epp = shape.epp?.(id);
        out.push({
          id,
          socket,
          die: 0,
          core: coreId(socket, core),
          numaNode: socket,
          l3: socket,
          ...(frequency === undefined ? {} : { baseFrequencyKHz: frequency }),
          ...(epp === undefined ? {} : { epp }),
        });
      }
    }
  }
  return out;
}

const topo = (shape: Shape, isolcpus = ""): Topology => buildTopology(records(shape), CpuSet.parse(isolcpus));

const defaults: CarveRequest = {
  numExclusiveCores: 1,
  numSharedCores: 1,
  exclusiveMode: "packed",
  sharedMode: "packed",
  exclNonIsolcpus: null,
  sstBf: false,
  sstCp: false,
  socketId: null,
};
const req = (overrides: Partial<CarveRequest>): CarveRequest => ({ ...defaults, ...overrides });

type Plain = Record<string, Record<string, string[]>>;

/** The layout as pool -> socket -> CPU-list keys, in layout order. */
function plain(carving: Carving): Plain {
  const out: Plain = {};
  for (const [pool, sockets] of carving.layout) {
    const entry: Record<string, string[]> = {};
    for (const [socket, lists] of sockets) entry[String(socket)] = lists.map((list) => list.key);
    out[pool] = entry;
  }
  return out;
}

function allCpus(carving: Carving): CpuSet {
  let all = CpuSet.empty;
  for (const sockets of carving.layout.values()) for (const lists of sockets.values()) for (const list of lists) all = all.union(list.cpus);
  return all;
}

const warnings = (carving: Carving): string[] => carving.notices.filter((notice) => notice.level === "warning").map((notice) => notice.message);

function throwsMentioning(run: () => unknown, ...fragments: (string | RegExp)[]): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof CmkError, `expected a CmkError, got ${String(error)}`);
    for (const fragment of fragments) {
      if (typeof fragment === "string")
        assert.ok(error.message.includes(fragment), `message ${JSON.stringify(error.message)} should mention ${JSON.stringify(fragment)}`);
      else assert.match(error.message, fragment);
    }
    return true;
  });
}

// The nodes of examples A and B of docs/cmk-compatibility.md ("How cmk init carves").
// Example A: one socket, 8 cores, core n = CPUs n and n+8.
const oneSocket8 = { sockets: 1, coresPerSocket: 8, threads: 2 };
// Example B: socket 0 = cores 0-3 (CPUs 0-3, 8-11), socket 1 = cores 4-7 (CPUs 4-7, 12-15).
const twoSockets4 = { sockets: 2, coresPerSocket: 4, threads: 2 };
const exampleBIsolcpus = "0-2,4-6,8-10,12-14";

describe("carvePools: the worked examples of docs/cmk-compatibility.md", () => {
  it("Example A: isolcpus=1,2,9,10, E=1 S=1, excl-non-isolcpus 0,3-5", () => {
    const carving = carvePools(topo(oneSocket8, "1,2,9,10"), req({ exclNonIsolcpus: [0, 3, 4, 5] }));
    assert.equal(carving.strategy, "isolcpus");
    assert.deepEqual(plain(carving), {
      exclusive: { "0": ["1,9"] },
      shared: { "0": ["2,10"] },
      infra: { "0": ["6,14,7,15"] },
      "exclusive-non-isolcpus": { "0": ["0,8", "3,11", "4,12", "5,13"] },
    });
    assert.equal(carving.layout.get("infra")?.get(0)?.[0]?.cpus.toString(), "6-7,14-15");
    assert.deepEqual(warnings(carving), []);
  });

  describe("Example B: two sockets, isolated cores 0,1,2,4,5,6, E=3 S=1", () => {
    const topology = topo(twoSockets4, exampleBIsolcpus);
    const infra = { "0": ["3,11"], "1": ["7,15"] };
    const stranded = (carving: Carving, cores: number[]): void => {
      const all = allCpus(carving);
      for (const core of cores) {
        const cpus = topology.cores.find((candidate) => candidate.id === core)?.cpus ?? CpuSet.empty;
        assert.ok(!cpus.isEmpty);
        assert.equal(all.intersects(cpus), false, `stranded core ${core} (CPUs ${cpus}) must be in no pool`);
      }
    };

    it("packed/packed", () => {
      const carving = carvePools(topology, req({ numExclusiveCores: 3 }));
      assert.deepEqual(plain(carving), {
        exclusive: { "0": ["0,8", "1,9", "2,10"], "1": [] },
        shared: { "0": [], "1": ["4,12"] },
        infra,
      });
      stranded(carving, [5, 6]);
      const warned = warnings(carving);
      assert.equal(warned.length, 1);
      assert.match(warned[0] ?? "", /6 isolated but only 4 used/);
    });

    it("spread/spread", () => {
      const carving = carvePools(topology, req({ numExclusiveCores: 3, exclusiveMode: "spread", sharedMode: "spread" }));
      assert.deepEqual(plain(carving), {
        exclusive: { "0": ["0,8", "1,9"], "1": ["4,12"] },
        shared: { "0": [], "1": ["5,13"] },
        infra,
      });
      stranded(carving, [2, 6]);
      assert.match(warnings(carving).join("\n"), /6 isolated but only 4 used/);
    });

    it("spread/packed", () => {
      const carving = carvePools(topology, req({ numExclusiveCores: 3, exclusiveMode: "spread", sharedMode: "packed" }));
      assert.deepEqual(plain(carving), {
        exclusive: { "0": ["0,8", "1,9"], "1": ["4,12"] },
        shared: { "0": ["2,10"], "1": [] },
        infra,
      });
      stranded(carving, [5, 6]);
    });

    it("orders isolated cores packed 0,1,2,4,5,6 and spread 0,4,1,5,2,6", () => {
      const isolated = topology.cores.filter((core) => core.isolated);
      assert.deepEqual(
        orderCores(topology, isolated, "packed").map((core) => core.id),
        [0, 1, 2, 4, 5, 6],
      );
      assert.deepEqual(
        orderCores(topology, isolated, "spread").map((core) => core.id),
        [0, 4, 1, 5, 2, 6],
      );
      assert.deepEqual(
        orderCores(topology, topology.cores, "spread").map((core) => core.id),
        [0, 4, 1, 5, 2, 6, 3, 7],
      );
    });
  });
});

describe("carvePools: no isolated cores", () => {
  const topology = topo(twoSockets4);

  it("packed fills socket 0 first", () => {
    const carving = carvePools(topology, req({ numExclusiveCores: 2, numSharedCores: 1 }));
    assert.equal(carving.strategy, "no-isolation");
    assert.deepEqual(plain(carving), {
      exclusive: { "0": ["0,8", "1,9"], "1": [] },
      shared: { "0": ["2,10"], "1": [] },
      infra: { "0": ["3,11"], "1": ["4,12,5,13,6,14,7,15"] },
    });
  });

  it("spread alternates sockets", () => {
    const carving = carvePools(topology, req({ numExclusiveCores: 2, numSharedCores: 1, exclusiveMode: "spread", sharedMode: "spread" }));
    assert.deepEqual(plain(carving), {
      exclusive: { "0": ["0,8"], "1": ["4,12"] },
      shared: { "0": ["1,9"], "1": [] },
      infra: { "0": ["2,10,3,11"], "1": ["5,13,6,14,7,15"] },
    });
  });

  it("a spread socket with fewer cores drops out of the round robin", () => {
    // Socket 0 has 1 core, socket 1 has 3 cores.
    const uneven = buildTopology(
      [
        { id: 0, socket: 0, die: 0, core: 0, numaNode: 0, l3: 0 },
        { id: 1, socket: 1, die: 0, core: 0, numaNode: 1, l3: 1 },
        { id: 2, socket: 1, die: 0, core: 1, numaNode: 1, l3: 1 },
        { id: 3, socket: 1, die: 0, core: 2, numaNode: 1, l3: 1 },
      ],
      CpuSet.empty,
    );
    assert.deepEqual(
      orderCores(uneven, uneven.cores, "spread").map((core) => core.cpus.toString()),
      ["0", "1", "2", "3"],
    );
    const carving = carvePools(uneven, req({ numExclusiveCores: 3, numSharedCores: 0, exclusiveMode: "spread" }));
    assert.deepEqual(plain(carving).exclusive, { "0": ["0"], "1": ["1", "2"] });
    assert.deepEqual(plain(carving).infra, { "0": [], "1": ["3"] });
  });

  it("zero-sized pools still have every socket, with no lists", () => {
    const carving = carvePools(topology, req({ numExclusiveCores: 0, numSharedCores: 0 }));
    assert.deepEqual(plain(carving), {
      exclusive: { "0": [], "1": [] },
      shared: { "0": [], "1": [] },
      infra: { "0": ["0,8,1,9,2,10,3,11"], "1": ["4,12,5,13,6,14,7,15"] },
    });
  });

  it("honours --excl-non-isolcpus without isolcpus (CMK silently ignored it)", () => {
    const carving = carvePools(topo(oneSocket8), req({ exclNonIsolcpus: [5, 6] }));
    assert.equal(carving.strategy, "no-isolation");
    assert.deepEqual(plain(carving), {
      exclusive: { "0": ["0,8"] },
      shared: { "0": ["1,9"] },
      infra: { "0": ["2,10,3,11,4,12,7,15"] },
      "exclusive-non-isolcpus": { "0": ["5,13", "6,14"] },
    });
  });

  it("has no exclusive-non-isolcpus pool when it is not requested", () => {
    const carving = carvePools(topo(oneSocket8, "1,9"), req({ numSharedCores: 0 }));
    assert.equal(carving.layout.has("exclusive-non-isolcpus"), false);
  });
});

describe("carvePools: errors name what is wrong", () => {
  it("too few isolated cores for E + S", () => {
    throwsMentioning(() => carvePools(topo(oneSocket8, "1,2,9,10"), req({ numExclusiveCores: 2, numSharedCores: 1 })), /\b2\b.*isolated/, /\b3\b/);
  });

  it("more cores requested than exist", () => {
    throwsMentioning(
      () => carvePools(topo({ sockets: 1, coresPerSocket: 4, threads: 2 }), req({ numExclusiveCores: 5, numSharedCores: 0 })),
      "5",
      "4",
      "exclusive",
    );
    throwsMentioning(
      () => carvePools(topo({ sockets: 1, coresPerSocket: 4, threads: 2 }), req({ numExclusiveCores: 2, numSharedCores: 3 })),
      "3",
      "2",
      "shared",
    );
  });

  it("no core left for infra", () => {
    throwsMentioning(() => carvePools(topo({ sockets: 1, coresPerSocket: 4, threads: 2 }), req({ numExclusiveCores: 3, numSharedCores: 1 })), "infra");
    // Every core isolated: nothing may go to infra.
    throwsMentioning(() => carvePools(topo({ sockets: 1, coresPerSocket: 4, threads: 2 }, "0-7"), req({ numExclusiveCores: 2, numSharedCores: 1 })), "infra");
  });

  it("--excl-non-isolcpus naming a core not on the node", () => {
    throwsMentioning(() => carvePools(topo(oneSocket8, "1,2,9,10"), req({ exclNonIsolcpus: [3, 42, 8] })), "42", "8");
    // Logical CPU 8 is the sibling of core 0, not a core.
    throwsMentioning(() => carvePools(topo(oneSocket8), req({ exclNonIsolcpus: [8] })), "8");
  });

  it("--excl-non-isolcpus naming a core already assigned", () => {
    throwsMentioning(() => carvePools(topo(oneSocket8), req({ exclNonIsolcpus: [0, 5] })), "0 (exclusive)");
    throwsMentioning(() => carvePools(topo(oneSocket8, "1,2,9,10"), req({ exclNonIsolcpus: [2, 4] })), "2 (shared)");
  });

  it("--excl-non-isolcpus naming an isolated (stranded) core", () => {
    throwsMentioning(() => carvePools(topo(oneSocket8, "1,2,9,10"), req({ numSharedCores: 0, exclNonIsolcpus: [2, 4] })), /isolated/, /\b2\b/);
  });

  it("--socket-id naming no socket", () => {
    throwsMentioning(() => carvePools(topo(twoSockets4), req({ socketId: 5 })), "5");
  });
});

describe("carvePools: partially isolated cores", () => {
  it("warns and puts the core in infra", () => {
    const carving = carvePools(topo(oneSocket8, "1,9,2"), req({ numSharedCores: 0 }));
    assert.deepEqual(plain(carving), {
      exclusive: { "0": ["1,9"] },
      shared: { "0": [] },
      infra: { "0": ["0,8,2,10,3,11,4,12,5,13,6,14,7,15"] },
    });
    const warned = warnings(carving).filter((message) => /partially isolated/.test(message));
    assert.equal(warned.length, 1);
    assert.match(warned[0] ?? "", /core 2\b/);
  });

  it("without any fully isolated core, the warning says truthfully where the partially isolated core went", () => {
    // Only CPU 8 (core 0's second thread) is isolated: no core is fully isolated.
    const carving = carvePools(topo(oneSocket8, "8"), req({}));
    const warned = warnings(carving).filter((message) => /partially isolated/.test(message));
    assert.equal(warned.length, 1);
    const poolOfCore0 = [...carving.layout].find(([, sockets]) => [...sockets.values()].flat().some((list) => list.cpus.has(0)))?.[0];
    if (/infra/.test(warned[0] ?? "")) assert.equal(poolOfCore0, "infra", `warning "${warned[0]}" but core 0 is in ${poolOfCore0}`);
  });
});

describe("carvePools: exclusive-non-isolcpus names cores by CMK's node-wide core ids", () => {
  it("numbers cores 0 to N-1 whatever the kernel's core_id: sparse kernel ids 0, 2, 4, 6 are cores 0-3", () => {
    const sparse = { sockets: 1, coresPerSocket: 4, threads: 2, coreId: (_socket: number, core: number) => core * 2 };
    const carving = carvePools(topo(sparse), req({ numExclusiveCores: 1, numSharedCores: 0, exclNonIsolcpus: [3] }));
    assert.deepEqual(plain(carving)["exclusive-non-isolcpus"], { "0": ["3,7"] });
    throwsMentioning(() => carvePools(topo(sparse), req({ numExclusiveCores: 1, numSharedCores: 0, exclNonIsolcpus: [6] })), "6", "from 0 to 3");
  });

  it("takes one core per id when kernel core ids restart on every socket", () => {
    const repeated = { ...twoSockets4, coreId: (_socket: number, core: number) => core };
    const carving = carvePools(topo(repeated), req({ numExclusiveCores: 1, numSharedCores: 0, exclNonIsolcpus: [3, 7] }));
    assert.deepEqual(plain(carving)["exclusive-non-isolcpus"], { "0": ["3,11"], "1": ["7,15"] });
    assert.ok(
      carving.notices.some(
        (notice) => notice.level === "info" && notice.message === "exclusive-non-isolcpus takes core 3 (socket 0, CPUs 3,11), core 7 (socket 1, CPUs 7,15)",
      ),
    );
  });
});

describe("carvePools: SST-BF", () => {
  // Cores 4 and 5 (CPUs 4,12,5,13) run at a higher base frequency.
  const fast = new Set([4, 12, 5, 13]);
  const sstBfShape = { ...oneSocket8, baseFrequencyKHz: (cpu: number) => (fast.has(cpu) ? 2_700_000 : 2_100_000) };
  const isolcpus = "1,2,4,5,9,10,12,13";

  it("takes exclusive cores from isolated high-priority cores first", () => {
    const carving = carvePools(topo(sstBfShape, isolcpus), req({ numExclusiveCores: 2, numSharedCores: 1, sstBf: true }));
    assert.equal(carving.strategy, "sst-bf");
    assert.deepEqual(plain(carving), {
      exclusive: { "0": ["4,12", "5,13"] },
      shared: { "0": ["1,9"] },
      infra: { "0": ["0,8,3,11,6,14,7,15"] },
    });
  });

  it("puts the remaining high-priority cores first for shared too", () => {
    const carving = carvePools(topo(sstBfShape, isolcpus), req({ numExclusiveCores: 1, numSharedCores: 1, sstBf: true }));
    assert.deepEqual(plain(carving).exclusive, { "0": ["4,12"] });
    assert.deepEqual(plain(carving).shared, { "0": ["5,13"] });
  });

  it("fails when fewer isolated high-priority cores than E exist, naming both counts", () => {
    throwsMentioning(
      () => carvePools(topo(sstBfShape, isolcpus), req({ numExclusiveCores: 3, numSharedCores: 1, sstBf: true })),
      /^3 exclusive cores requested but only 2 isolated SST-BF \(high-priority\) cores exist; /,
    );
  });

  it("falls back to plain isolcpus carving when no isolated core is high-priority", () => {
    const carving = carvePools(topo(sstBfShape, "1,2,9,10"), req({ sstBf: true }));
    assert.equal(carving.strategy, "isolcpus");
    assert.deepEqual(plain(carving).exclusive, { "0": ["1,9"] });
  });
});

describe("carvePools: SST-CP", () => {
  // Core index i holds CPUs i and i+4 but has core id 3 - i: CPU <core id> is another core's CPU.
  const reversed = { sockets: 1, coresPerSocket: 4, threads: 2, coreId: (_socket: number, core: number) => 3 - core };
  const eppByFirstCpu =
    (values: string[]) =>
    (cpu: number): string =>
      cpu < 4 ? (values[cpu] ?? "power") : "power";

  it("with 3 EPP values: exclusive from the 1st, shared from the 2nd, infra from the 3rd, using each core's own first CPU", () => {
    const shape = { ...reversed, epp: eppByFirstCpu(["performance", "balance_performance", "power", "power"]) };
    // Siblings (CPUs 4-7) say "power": only the first CPU of a core counts.
    const carving = carvePools(topo(shape, "0,1,4,5"), req({ sstCp: true }));
    assert.equal(carving.strategy, "sst-cp");
    assert.deepEqual(plain(carving), {
      exclusive: { "0": ["0,4"] },
      shared: { "0": ["1,5"] },
      infra: { "0": ["2,6,3,7"] },
    });
  });

  it("with 2 EPP values: exclusive then shared from the 1st, infra from the 2nd", () => {
    const shape = { ...reversed, epp: eppByFirstCpu(["balance_performance", "balance_performance", "balance_performance", "balance_power"]) };
    const carving = carvePools(topo(shape, "0-2,4-6"), req({ numExclusiveCores: 2, numSharedCores: 1, sstCp: true }));
    assert.deepEqual(plain(carving), {
      exclusive: { "0": ["0,4", "1,5"] },
      shared: { "0": ["2,6"] },
      infra: { "0": ["3,7"] },
    });
  });

  it("leaves cores with an unknown EPP value out of every pool, with a warning naming them", () => {
    // Core index 3 (core id 3, kernel core_id 0, CPUs 3,7) says "default", which is no known EPP value.
    const shape = { ...reversed, epp: eppByFirstCpu(["performance", "balance_performance", "power", "default"]) };
    const carving = carvePools(topo(shape, "0,1,4,5"), req({ sstCp: true }));
    assert.deepEqual(plain(carving), {
      exclusive: { "0": ["0,4"] },
      shared: { "0": ["1,5"] },
      infra: { "0": ["2,6"] },
    });
    assert.equal(allCpus(carving).intersects(CpuSet.parse("3,7")), false);
    assert.match(warnings(carving).join("\n"), /the cores with ids 3 have no known EPP value/);
  });

  it("3 values with counts that do not match E and S", () => {
    const shape = { ...reversed, epp: eppByFirstCpu(["performance", "balance_performance", "balance_performance", "power"]) };
    throwsMentioning(() => carvePools(topo(shape, "0-2,4-6"), req({ sstCp: true })), "performance", "found 2");
  });

  it("2 values whose first count differs from E + S", () => {
    const shape = { ...reversed, epp: eppByFirstCpu(["performance", "performance", "power", "power"]) };
    throwsMentioning(() => carvePools(topo(shape, "0-2,4-6"), req({ numExclusiveCores: 2, sstCp: true })), "3", "found 2");
  });

  it("more than 3 values", () => {
    const shape = { ...reversed, epp: eppByFirstCpu(["performance", "balance_performance", "balance_power", "power"]) };
    throwsMentioning(() => carvePools(topo(shape, "0-1,4-5"), req({ sstCp: true })), /more than 3/, /found 4/);
  });

  it("a single value", () => {
    const shape = { ...reversed, epp: () => "performance" };
    throwsMentioning(() => carvePools(topo(shape, "0-1,4-5"), req({ sstCp: true })), /either 2 or 3/, /found 1/);
  });

  it("is not used without isolated cores", () => {
    const shape = { ...reversed, epp: eppByFirstCpu(["performance", "balance_performance", "power", "power"]) };
    assert.equal(carvePools(topo(shape), req({ sstCp: true })).strategy, "no-isolation");
  });
});

describe("carvePools: --socket-id", () => {
  it("takes exclusive and shared cores from that socket only, infra from all", () => {
    const carving = carvePools(topo(twoSockets4), req({ numExclusiveCores: 2, numSharedCores: 1, socketId: 1 }));
    assert.deepEqual(plain(carving), {
      exclusive: { "0": [], "1": ["4,12", "5,13"] },
      shared: { "0": [], "1": ["6,14"] },
      infra: { "0": ["0,8,1,9,2,10,3,11"], "1": ["7,15"] },
    });
  });

  it("uses only that socket's isolated cores", () => {
    const carving = carvePools(topo(twoSockets4, exampleBIsolcpus), req({ numExclusiveCores: 2, numSharedCores: 1, socketId: 1, exclusiveMode: "spread" }));
    assert.deepEqual(plain(carving), {
      exclusive: { "0": [], "1": ["4,12", "5,13"] },
      shared: { "0": [], "1": ["6,14"] },
      infra: { "0": ["3,11"], "1": ["7,15"] },
    });
  });

  it("never puts another socket's isolated cores into infra", () => {
    // Only socket 0 isolates cores; exclusive and shared are wanted from socket 1.
    const topology = topo(twoSockets4, "0-1,8-9");
    let carving: Carving | undefined;
    try {
      carving = carvePools(topology, req({ socketId: 1 }));
    } catch (error) {
      assert.ok(error instanceof CmkError, String(error)); // refusing is acceptable too
      return;
    }
    const infra = [...(carving.layout.get("infra")?.values() ?? [])].flat().reduce((all, list) => all.union(list.cpus), CpuSet.empty);
    assert.equal(
      infra.intersection(topology.isolcpus).toString(),
      "",
      `infra holds isolated CPUs: ${plain(carving).infra ? JSON.stringify(plain(carving).infra) : ""}`,
    );
  });
});

describe("carvePools: CPU-list order is numeric", () => {
  // core n = CPUs n and n+20: lexicographic order would put "10,30" before "2,22".
  const wide = { sockets: 1, coresPerSocket: 20, threads: 2 };

  it("for exclusive lists", () => {
    const carving = carvePools(topo(wide), req({ numExclusiveCores: 11, numSharedCores: 0 }));
    const keys = plain(carving).exclusive?.["0"] ?? [];
    assert.deepEqual(keys.slice(0, 4), ["0,20", "1,21", "2,22", "3,23"]);
    assert.equal(keys[10], "10,30");
  });

  it("for exclusive-non-isolcpus lists given out of order", () => {
    const carving = carvePools(topo(wide), req({ numExclusiveCores: 0, numSharedCores: 0, exclNonIsolcpus: [10, 2] }));
    assert.deepEqual(plain(carving)["exclusive-non-isolcpus"], { "0": ["2,22", "10,30"] });
  });
});

describe("carvePools: properties over random topologies", () => {
  it("pools never overlap, exclusive lists are whole cores, pools stay within online CPUs, infra holds no isolated core", () => {
    let seed = 20261123;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const int = (low: number, high: number): number => low + Math.floor(random() * (high - low + 1));
    let successes = 0;
    const strategies = new Set<string>();
    for (let run = 0; run < 300; run++) {
      const sockets = int(1, 3);
      const coresPerSocket = int(1, 6);
      const threads = int(1, 2);
      const repeatIds = random() < 0.5;
      const coreMajor = random() < 0.3;
      const shape: Shape = {
        sockets,
        coresPerSocket,
        threads,
        coreId: repeatIds ? (_socket, core) => core : (socket, core) => socket * coresPerSocket + core,
        ...(coreMajor ? { cpuId: (socket: number, core: number, thread: number) => (socket * coresPerSocket + core) * threads + thread } : {}),
        ...(random() < 0.3 ? { baseFrequencyKHz: (cpu: number) => (cpu % 3 === 0 ? 2_700_000 : 2_100_000) } : {}),
      };
      const list = records(shape);
      const isolateRate = random() < 0.3 ? 0 : random();
      const isolcpus = CpuSet.of(list.filter(() => random() < isolateRate).map((record) => record.id));
      const topology = buildTopology(list, isolcpus);
      const coreIds = [...new Set(topology.cores.map((core) => core.id))];
      const request = req({
        numExclusiveCores: int(0, 4),
        numSharedCores: int(0, 2),
        exclusiveMode: random() < 0.5 ? "packed" : "spread",
        sharedMode: random() < 0.5 ? "packed" : "spread",
        exclNonIsolcpus: random() < 0.5 ? null : coreIds.filter(() => random() < 0.3),
        sstBf: shape.baseFrequencyKHz !== undefined,
      });
      let carving: Carving;
      try {
        carving = carvePools(topology, request);
      } catch (error) {
        assert.ok(error instanceof CmkError, `run ${run}: ${String(error)}`);
        continue;
      }
      successes++;
      strategies.add(carving.strategy);
      const context = `run ${run}: ${JSON.stringify({ sockets, coresPerSocket, threads, isolcpus: isolcpus.toString(), request })} -> ${JSON.stringify(plain(carving))}`;
      const entries: { pool: PoolName; socket: number; cpus: CpuSet }[] = [];
      for (const [pool, socketsOfPool] of carving.layout) {
        assert.deepEqual(
          [...socketsOfPool.keys()],
          topology.sockets.map((socket) => socket.id),
          context,
        );
        for (const [socket, lists] of socketsOfPool) for (const entry of lists) entries.push({ pool, socket, cpus: entry.cpus });
      }
      for (let i = 0; i < entries.length; i++) {
        for (let j = i + 1; j < entries.length; j++) {
          assert.equal((entries[i] as (typeof entries)[number]).cpus.intersects((entries[j] as (typeof entries)[number]).cpus), false, `overlap; ${context}`);
        }
      }
      for (const entry of entries) {
        assert.ok(entry.cpus.isSubsetOf(topology.online), `outside online CPUs; ${context}`);
        const owner = topology.cores.find((core) => core.cpus.has(entry.cpus.first as number));
        assert.equal(owner?.socket, entry.socket, `list ${entry.cpus} filed under the wrong socket; ${context}`);
        if (isExclusivePool(entry.pool)) {
          assert.ok(
            topology.cores.some((core) => core.cpus.equals(entry.cpus)),
            `exclusive list ${entry.cpus} is not one whole core; ${context}`,
          );
        }
        if (entry.pool === "infra") {
          for (const core of topology.cores) {
            if (core.isolated) assert.equal(entry.cpus.intersects(core.cpus), false, `infra holds isolated core ${core.id}; ${context}`);
          }
        }
      }
      const count = (pool: PoolName): number => entries.filter((entry) => entry.pool === pool).length;
      assert.equal(count("exclusive"), request.numExclusiveCores, context);
      const sharedCpus = entries.filter((entry) => entry.pool === "shared").reduce((all, entry) => all.union(entry.cpus), CpuSet.empty);
      assert.equal(topology.cores.filter((core) => core.cpus.isSubsetOf(sharedCpus)).length, request.numSharedCores, context);
    }
    assert.ok(successes >= 50, `only ${successes} random requests succeeded`);
    assert.deepEqual([...strategies].sort(), ["isolcpus", "no-isolation", "sst-bf"]);
  });
});
