// Carves a node's physical cores into CMK's pools, as `cmk init` does (strategies: SST-CP,
// SST-BF, isolcpus, no isolation). Pure: topology and request in, layout and notices out.
import { CpuSet } from "./cpuset.ts";
import { CmkError } from "./errors.ts";
import { type CpuList, compareCpuLists, isExclusivePool, type PoolLayout, type PoolName } from "./pools.ts";
import { type Core, isSstBfCore, sstBfCpus, type Topology } from "./topology.ts";

export type Mode = "packed" | "spread";

export interface CarveRequest {
  readonly numExclusiveCores: number;
  readonly numSharedCores: number;
  readonly exclusiveMode: Mode;
  readonly sharedMode: Mode;
  /** Core ids (CMK's, unique on the node) for the exclusive-non-isolcpus pool; null when the pool is not wanted. */
  readonly exclNonIsolcpus: readonly number[] | null;
  readonly sstBf: boolean;
  readonly sstCp: boolean;
  /** Take exclusive and shared cores from this socket only; null for any socket. */
  readonly socketId: number | null;
}

export interface Notice {
  readonly level: "info" | "warning";
  readonly message: string;
}

export interface Carving {
  readonly layout: PoolLayout;
  readonly strategy: "sst-cp" | "sst-bf" | "isolcpus" | "no-isolation";
  readonly notices: readonly Notice[];
}

const eppPriority = ["performance", "balance_performance", "balance_power", "power"];

function coreName(core: Core): string {
  return `${core.id} (socket ${core.socket}, CPUs ${core.cpus})`;
}

/** Core ids (unique on the node) in the kernel's list form: "4-15,36-47". */
function coreIds(cores: readonly Core[]): string {
  // Core ids are small whole numbers, so the CPU-list notation fits them as well.
  return CpuSet.of(cores.map((core) => core.id)).toString();
}

/** Cores in the order a mode visits them: packed = socket by socket; spread = round robin over sockets. */
export function orderCores(topology: Topology, cores: readonly Core[], mode: Mode): Core[] {
  const wanted = new Set(cores);
  const perSocket = topology.sockets.map((socket) => socket.cores.filter((core) => wanted.has(core)));
  if (mode === "packed") return perSocket.flat();
  const ordered: Core[] = [];
  for (let round = 0; perSocket.some((list) => round < list.length); round++) {
    for (const list of perSocket) {
      const core = list[round];
      if (core !== undefined) ordered.push(core);
    }
  }
  return ordered;
}

export function carvePools(topology: Topology, request: CarveRequest): Carving {
  requireSocket(topology, request.socketId);
  const notices = partialIsolationNotices(topology);
  const pools = poolAssigner(topology, request);
  const cores = isolationOf(topology, request, pools.onSocket, notices);
  const strategy = carveWithStrategy(topology, request, cores, pools, notices);
  const carved: PoolName[] = ["exclusive", "shared", "infra"];
  if (request.exclNonIsolcpus !== null) carved.push("exclusive-non-isolcpus");
  return { layout: buildLayout(topology, pools.assigned, carved), strategy, notices };
}

/** Refuses a socket the node does not have. */
function requireSocket(topology: Topology, socketId: number | null): void {
  if (socketId !== null && !topology.sockets.some((socket) => socket.id === socketId)) {
    throw new CmkError(
      "does-not-fit",
      `socket ${socketId} is not a socket of this node; sockets are ${topology.sockets.map((socket) => socket.id).join(", ")}`,
      { field: "socketId" },
    );
  }
}

/** A warning for each core that isolcpus covers only in part (cmk treats it as not isolated). */
function partialIsolationNotices(topology: Topology): Notice[] {
  return topology.cores
    .filter((core) => core.partiallyIsolated)
    .map((core) => ({
      level: "warning",
      message: `physical core ${coreName(core)} is partially isolated: isolcpus covers ${core.cpus.intersection(topology.isolcpus)} only, so cmk treats the core as not isolated; isolate all its CPUs or none`,
    }));
}

type Assign = (candidates: readonly Core[], pool: PoolName, count?: number) => void;

interface PoolAssigner {
  readonly assigned: ReadonlyMap<Core, PoolName>;
  readonly assign: Assign;
  readonly isSstBf: (core: Core) => boolean;
  /** Whether a core may go to a pool under the request's socket restriction. */
  readonly onSocket: (pool: PoolName, core: Core) => boolean;
}

/** Hands cores to pools in the order given (SST-BF cores first), each core to one pool only. */
function poolAssigner(topology: Topology, request: CarveRequest): PoolAssigner {
  const assigned = new Map<Core, PoolName>();
  const highPriority = request.sstBf ? sstBfCpus(topology) : CpuSet.empty;
  const isSstBf = (core: Core): boolean => isSstBfCore(core, highPriority);
  const onSocket = (pool: PoolName, core: Core): boolean =>
    request.socketId === null || pool === "infra" || pool === "exclusive-non-isolcpus" || core.socket === request.socketId;
  const assign: Assign = (candidates, pool, count) => {
    const free = candidates.filter((core) => !assigned.has(core) && onSocket(pool, core));
    // SST-BF cores first, keeping the mode's order otherwise (a stable sort).
    if (!highPriority.isEmpty) free.sort((a, b) => Number(isSstBf(b)) - Number(isSstBf(a)));
    if (count !== undefined && free.length < count) {
      throw new CmkError(
        "does-not-fit",
        `${count} cores requested for ${pool}, but only ${free.length} cores are available for it; request fewer cores or free more (see isolcpus)`,
        { field: pool === "shared" ? "numSharedCores" : "numExclusiveCores" },
      );
    }
    if (free.length === 0 && pool === "infra") {
      throw new CmkError(
        "does-not-fit",
        "no cores are left for the infra pool; request fewer exclusive or shared cores, or isolate fewer cores, so the system keeps at least one core",
        { field: "numExclusiveCores" },
      );
    }
    for (const core of count === undefined ? free : free.slice(0, count)) assigned.set(core, pool);
  };
  return { assigned, assign, isSstBf, onSocket };
}

interface Isolation {
  /** Isolated cores anywhere on the node: whether there are any decides the strategy. */
  readonly nodeIsolated: readonly Core[];
  /** Isolated cores exclusive and shared pools may take (on the requested socket). */
  readonly isolated: readonly Core[];
  readonly notIsolated: readonly Core[];
}

/**
 * Sorts the cores by isolation and checks there are enough isolated ones. The socket only narrows
 * where exclusive and shared cores come from, so other sockets' isolated cores never reach infra.
 */
function isolationOf(topology: Topology, request: CarveRequest, onSocket: PoolAssigner["onSocket"], notices: Notice[]): Isolation {
  const nodeIsolated = topology.cores.filter((core) => core.isolated);
  const isolated = nodeIsolated.filter((core) => onSocket("exclusive", core));
  const notIsolated = topology.cores.filter((core) => !core.isolated);
  const requested = request.numExclusiveCores + request.numSharedCores;
  if (nodeIsolated.length > 0) {
    const where = request.socketId === null ? "" : ` on socket ${request.socketId}`;
    if (isolated.length < requested) {
      throw new CmkError(
        "does-not-fit",
        `cannot use isolated cores for exclusive and shared pools: ${isolated.length} cores are isolated${where} but ${requested} were requested; isolate more cores (isolcpus) or request fewer`,
        { field: "numExclusiveCores" },
      );
    }
    if (nodeIsolated.length > requested) {
      notices.push({
        level: "warning",
        message: `not all isolated cores will be used by exclusive and shared pools: ${nodeIsolated.length} isolated but only ${requested} used; the rest stay idle (they cannot join infra)`,
      });
    }
  }
  return { nodeIsolated, isolated, notIsolated };
}

/** Carves with the first strategy that applies: SST-CP, SST-BF, isolcpus, or no isolation. */
function carveWithStrategy(topology: Topology, request: CarveRequest, cores: Isolation, pools: PoolAssigner, notices: Notice[]): Carving["strategy"] {
  const { assign } = pools;
  const exclNonIsolcpus = (): void => assignExclNonIsolcpus(topology, request, pools.assigned, assign, notices);
  if (request.sstCp && cores.nodeIsolated.length > 0) {
    const infraCandidates = carveSstCp(topology, request, assign, notices);
    exclNonIsolcpus();
    assign(infraCandidates, "infra");
    return "sst-cp";
  }
  if (request.sstBf && cores.isolated.some(pools.isSstBf)) {
    const sstBfIsolated = cores.isolated.filter(pools.isSstBf);
    notices.push({ level: "info", message: `isolated SST-BF cores (core ids): ${coreIds(sstBfIsolated)}` });
    if (sstBfIsolated.length < request.numExclusiveCores) {
      throw new CmkError(
        "does-not-fit",
        `${request.numExclusiveCores} exclusive cores requested but only ${sstBfIsolated.length} isolated SST-BF (high-priority) cores exist; request fewer or isolate more high-priority cores`,
        { field: "numExclusiveCores" },
      );
    }
    assign(orderCores(topology, sstBfIsolated, request.exclusiveMode), "exclusive", request.numExclusiveCores);
    assign(orderCores(topology, cores.isolated, request.sharedMode), "shared", request.numSharedCores);
    exclNonIsolcpus();
    assign(cores.notIsolated, "infra");
    return "sst-bf";
  }
  const isolating = cores.nodeIsolated.length > 0;
  const source = isolating ? cores.isolated : topology.cores;
  notices.push(
    isolating
      ? { level: "info", message: `isolated physical cores (core ids): ${coreIds(cores.isolated)}` }
      : { level: "info", message: "no isolated physical cores detected: carving pools from all cores" },
  );
  assign(orderCores(topology, source, request.exclusiveMode), "exclusive", request.numExclusiveCores);
  assign(orderCores(topology, source, request.sharedMode), "shared", request.numSharedCores);
  exclNonIsolcpus();
  assign(isolating ? cores.notIsolated : topology.cores, "infra");
  return isolating ? "isolcpus" : "no-isolation";
}

/** Assigns exclusive and shared by EPP priority; returns the cores infra may take. */
function carveSstCp(topology: Topology, request: CarveRequest, assign: Assign, notices: Notice[]): Core[] {
  // The EPP of a core is that of its first CPU (CMK read the CPU numbered like the core id).
  const eppOf = (core: Core): string | undefined => topology.cpus.get(core.cpus.first as number)?.epp;
  const present = eppPriority.filter((value) => topology.cores.some((core) => eppOf(core) === value));
  const coresWith = (value: string | undefined): Core[] => topology.cores.filter((core) => eppOf(core) === value);
  const counts = present.map((value) => `${value}: ${coresWith(value).length}`).join(", ");
  if (present.length > 3) {
    throw new CmkError(
      "does-not-fit",
      `there must not be more than 3 EPP values among the cores for SST-CP, found ${present.length} (${counts}); set energy_performance_preference to at most 3 values`,
    );
  }
  if (present.length < 2) {
    throw new CmkError(
      "does-not-fit",
      `there must be either 2 or 3 EPP values set among the cores for SST-CP, found ${present.length} (${counts || "none"}); set energy_performance_preference per core or disable SST-CP`,
      { field: "sst" },
    );
  }
  const [high, middle, low] = present as [string, string, string?];
  const { numExclusiveCores: e, numSharedCores: s } = request;
  if (low !== undefined) {
    if (coresWith(high).length !== e || coresWith(middle).length !== s) {
      throw new CmkError(
        "does-not-fit",
        `SST-CP needs exactly ${e} cores with EPP ${high} (found ${coresWith(high).length}) and ${s} with ${middle} (found ${coresWith(middle).length}); adjust the exclusive and shared core counts or the EPP settings`,
        { field: "numExclusiveCores" },
      );
    }
  } else if (coresWith(high).length !== e + s) {
    throw new CmkError(
      "does-not-fit",
      `SST-CP needs exactly ${e + s} cores with EPP ${high} for exclusive and shared pools (found ${coresWith(high).length}); adjust the exclusive and shared core counts or the EPP settings`,
      { field: "numExclusiveCores" },
    );
  }
  notices.push({ level: "info", message: `SST-CP: EPP values in priority order: ${present.join(", ")}` });
  assign(coresWith(high), "exclusive", e);
  assign(low !== undefined ? coresWith(middle) : coresWith(high), "shared", s);
  const unknown = topology.cores.filter((core) => !present.includes(eppOf(core) ?? ""));
  if (unknown.length > 0) {
    notices.push({ level: "warning", message: `the cores with ids ${coreIds(unknown)} have no known EPP value and join no pool` });
  }
  return coresWith(low ?? middle);
}

/** The cores `--excl-non-isolcpus` names, by CMK's node-wide core ids, checked and assigned. */
function assignExclNonIsolcpus(topology: Topology, request: CarveRequest, assigned: ReadonlyMap<Core, PoolName>, assign: Assign, notices: Notice[]): void {
  if (request.exclNonIsolcpus === null) return;
  const ids = new Set(request.exclNonIsolcpus);
  const missing = [...ids].filter((id) => !topology.cores.some((core) => core.id === id));
  if (missing.length > 0) {
    throw new CmkError(
      "does-not-fit",
      `exclusive-non-isolcpus names cores not on this node: ${missing.join(", ")}; core ids run from 0 to ${topology.cores.length - 1} across the node (not CPU ids, not per-socket core_id)`,
      { field: "exclNonIsolcpus" },
    );
  }
  const chosen = topology.cores.filter((core) => ids.has(core.id));
  const taken = chosen.filter((core) => assigned.has(core));
  if (taken.length > 0) {
    throw new CmkError(
      "does-not-fit",
      `exclusive-non-isolcpus cores already assigned to other pools: ${taken.map((core) => `${core.id} (${assigned.get(core)})`).join(", ")}; choose other cores`,
      { field: "exclNonIsolcpus" },
    );
  }
  const isolated = chosen.filter((core) => core.isolated);
  if (isolated.length > 0) {
    throw new CmkError(
      "does-not-fit",
      `exclusive-non-isolcpus cores are isolated by isolcpus and cannot join that pool: ${isolated.map((core) => core.id).join(", ")}; choose non-isolated cores`,
      { field: "exclNonIsolcpus" },
    );
  }
  assign(chosen, "exclusive-non-isolcpus");
  notices.push({
    level: "info",
    message: `exclusive-non-isolcpus takes ${chosen.length === 0 ? "no core" : chosen.map((core) => `core ${coreName(core)}`).join(", ")}`,
  });
}

function buildLayout(topology: Topology, assigned: ReadonlyMap<Core, PoolName>, pools: readonly PoolName[]): PoolLayout {
  const layout = new Map<PoolName, Map<number, CpuList[]>>();
  for (const pool of pools) {
    const sockets = new Map<number, CpuList[]>();
    for (const socket of topology.sockets) {
      const cores = socket.cores.filter((core) => assigned.get(core) === pool);
      let lists: CpuList[];
      if (isExclusivePool(pool)) {
        lists = cores.map((core) => ({ key: core.cpus.toPlainList(), cpus: core.cpus }));
      } else if (cores.length > 0) {
        // One list per socket, CPU ids core by core as CMK writes it ("3,11,4,12").
        lists = [{ key: cores.map((core) => core.cpus.toPlainList()).join(","), cpus: cores.reduce((all, core) => all.union(core.cpus), CpuSet.empty) }];
      } else {
        lists = [];
      }
      sockets.set(socket.id, lists.sort(compareCpuLists));
    }
    layout.set(pool, sockets);
  }
  return layout;
}
