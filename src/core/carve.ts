// Carves a node's physical cores into CMK's pools, as `cmk init` does (strategies: SST-CP,
// SST-BF, isolcpus, no isolation). Pure: topology and request in, layout and notices out.
import { CpuSet } from "./cpuset.ts";
import { CmkError } from "./errors.ts";
import { compareCpuLists, isExclusivePool, type CpuList, type PoolLayout, type PoolName } from "./pools.ts";
import { isSstBfCore, sstBfCpus, type Core, type Topology } from "./topology.ts";

export type Mode = "packed" | "spread";

export interface CarveRequest {
  readonly numExclusiveCores: number;
  readonly numSharedCores: number;
  readonly exclusiveMode: Mode;
  readonly sharedMode: Mode;
  /** Physical core ids for the exclusive-non-isolcpus pool; null when the pool is not wanted. */
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

/** Core ids repeat across sockets on many servers, so lists name cores as socket:core. */
function coreIds(cores: readonly Core[]): string {
  return cores.map((core) => `${core.socket}:${core.id}`).join(", ");
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
  const notices: Notice[] = [];
  const assigned = new Map<Core, PoolName>();
  const highPriority = request.sstBf ? sstBfCpus(topology) : CpuSet.empty;
  const isSstBf = (core: Core): boolean => isSstBfCore(core, highPriority);

  if (request.socketId !== null && !topology.sockets.some((socket) => socket.id === request.socketId)) {
    throw new CmkError("usage", `--socket-id=${request.socketId} names no socket of this node; sockets are ${topology.sockets.map((socket) => socket.id).join(", ")}`);
  }
  const onSocket = (pool: PoolName, core: Core): boolean =>
    request.socketId === null || pool === "infra" || pool === "exclusive-non-isolcpus" || core.socket === request.socketId;
  const assign = (candidates: readonly Core[], pool: PoolName, count?: number): void => {
    const free = candidates.filter((core) => !assigned.has(core) && onSocket(pool, core));
    // SST-BF cores first, keeping the mode's order otherwise (a stable sort).
    if (!highPriority.isEmpty) free.sort((a, b) => Number(isSstBf(b)) - Number(isSstBf(a)));
    if (count !== undefined && free.length < count) {
      throw new CmkError("failure", `${count} cores requested for ${pool}, but only ${free.length} cores are available for it; request fewer cores or free more (see isolcpus)`);
    }
    if (free.length === 0 && pool === "infra") {
      throw new CmkError("failure", "no cores are left for the infra pool; request fewer exclusive or shared cores, or isolate fewer cores, so the system keeps at least one core");
    }
    for (const core of count === undefined ? free : free.slice(0, count)) assigned.set(core, pool);
  };

  for (const core of topology.cores) {
    if (core.partiallyIsolated) {
      notices.push({ level: "warning", message: `physical core ${coreName(core)} is partially isolated: isolcpus covers ${core.cpus.intersection(topology.isolcpus)} only, so cmk treats the core as not isolated; isolate all its CPUs or none` });
    }
  }
  // Whether the node isolates cores decides the strategy; --socket-id only narrows where
  // exclusive and shared cores come from, so other sockets' isolated cores never reach infra.
  const nodeIsolated = topology.cores.filter((core) => core.isolated);
  const isolated = nodeIsolated.filter((core) => onSocket("exclusive", core));
  const notIsolated = topology.cores.filter((core) => !core.isolated);
  const requested = request.numExclusiveCores + request.numSharedCores;
  if (nodeIsolated.length > 0) {
    const where = request.socketId === null ? "" : ` on socket ${request.socketId}`;
    if (isolated.length < requested) {
      throw new CmkError("failure", `cannot use isolated cores for exclusive and shared pools: ${isolated.length} cores are isolated${where} but ${requested} were requested; isolate more cores (isolcpus) or request fewer`);
    }
    if (nodeIsolated.length > requested) {
      notices.push({ level: "warning", message: `not all isolated cores will be used by exclusive and shared pools: ${nodeIsolated.length} isolated but only ${requested} used; the rest stay idle (they cannot join infra)` });
    }
  }

  let strategy: Carving["strategy"];
  if (request.sstCp && nodeIsolated.length > 0) {
    strategy = "sst-cp";
    const infraCandidates = carveSstCp(topology, request, assign, notices);
    assignExclNonIsolcpus(topology, request, assigned, assign);
    assign(infraCandidates, "infra");
  } else if (request.sstBf && isolated.some(isSstBf)) {
    strategy = "sst-bf";
    const sstBfIsolated = isolated.filter(isSstBf);
    notices.push({ level: "info", message: `isolated SST-BF cores (socket:core): ${coreIds(sstBfIsolated)}` });
    if (sstBfIsolated.length < request.numExclusiveCores) {
      throw new CmkError("failure", `${request.numExclusiveCores} exclusive cores requested but only ${sstBfIsolated.length} isolated SST-BF (high-priority) cores exist; request fewer or isolate more high-priority cores`);
    }
    assign(orderCores(topology, sstBfIsolated, request.exclusiveMode), "exclusive", request.numExclusiveCores);
    assign(orderCores(topology, isolated, request.sharedMode), "shared", request.numSharedCores);
    assignExclNonIsolcpus(topology, request, assigned, assign);
    assign(notIsolated, "infra");
  } else if (nodeIsolated.length > 0) {
    strategy = "isolcpus";
    notices.push({ level: "info", message: `isolated physical cores (socket:core): ${coreIds(isolated)}` });
    assign(orderCores(topology, isolated, request.exclusiveMode), "exclusive", request.numExclusiveCores);
    assign(orderCores(topology, isolated, request.sharedMode), "shared", request.numSharedCores);
    assignExclNonIsolcpus(topology, request, assigned, assign);
    assign(notIsolated, "infra");
  } else {
    strategy = "no-isolation";
    notices.push({ level: "info", message: "no isolated physical cores detected: carving pools from all cores" });
    assign(orderCores(topology, topology.cores, request.exclusiveMode), "exclusive", request.numExclusiveCores);
    assign(orderCores(topology, topology.cores, request.sharedMode), "shared", request.numSharedCores);
    assignExclNonIsolcpus(topology, request, assigned, assign);
    assign(topology.cores, "infra");
  }

  const pools: PoolName[] = ["exclusive", "shared", "infra"];
  if (request.exclNonIsolcpus !== null) pools.push("exclusive-non-isolcpus");
  return { layout: buildLayout(topology, assigned, pools), strategy, notices };
}

type Assign = (candidates: readonly Core[], pool: PoolName, count?: number) => void;

/** Assigns exclusive and shared by EPP priority; returns the cores infra may take. */
function carveSstCp(topology: Topology, request: CarveRequest, assign: Assign, notices: Notice[]): Core[] {
  // The EPP of a core is that of its first CPU (CMK read the CPU numbered like the core id).
  const eppOf = (core: Core): string | undefined => topology.cpus.get(core.cpus.first as number)?.epp;
  const present = eppPriority.filter((value) => topology.cores.some((core) => eppOf(core) === value));
  const coresWith = (value: string | undefined): Core[] => topology.cores.filter((core) => eppOf(core) === value);
  const counts = present.map((value) => `${value}: ${coresWith(value).length}`).join(", ");
  if (present.length > 3) {
    throw new CmkError("failure", `there must not be more than 3 EPP values among the cores for SST-CP, found ${present.length} (${counts}); set energy_performance_preference to at most 3 values`);
  }
  if (present.length < 2) {
    throw new CmkError("failure", `there must be either 2 or 3 EPP values set among the cores for SST-CP, found ${present.length} (${counts || "none"}); set energy_performance_preference per core or disable SST-CP with --sst=off`);
  }
  const [high, middle, low] = present as [string, string, string?];
  const { numExclusiveCores: e, numSharedCores: s } = request;
  if (low !== undefined) {
    if (coresWith(high).length !== e || coresWith(middle).length !== s) {
      throw new CmkError("failure", `SST-CP needs exactly ${e} cores with EPP ${high} (found ${coresWith(high).length}) and ${s} with ${middle} (found ${coresWith(middle).length}); adjust --num-exclusive-cores/--num-shared-cores or the EPP settings`);
    }
  } else if (coresWith(high).length !== e + s) {
    throw new CmkError("failure", `SST-CP needs exactly ${e + s} cores with EPP ${high} for exclusive and shared pools (found ${coresWith(high).length}); adjust --num-exclusive-cores/--num-shared-cores or the EPP settings`);
  }
  notices.push({ level: "info", message: `SST-CP: EPP values in priority order: ${present.join(", ")}` });
  assign(coresWith(high), "exclusive", e);
  assign(low !== undefined ? coresWith(middle) : coresWith(high), "shared", s);
  const unknown = topology.cores.filter((core) => !present.includes(eppOf(core) ?? ""));
  if (unknown.length > 0) {
    notices.push({ level: "warning", message: `cores (socket:core) ${coreIds(unknown)} have no known EPP value and join no pool` });
  }
  return coresWith(low ?? middle);
}

function assignExclNonIsolcpus(topology: Topology, request: CarveRequest, assigned: Map<Core, PoolName>, assign: Assign): void {
  if (request.exclNonIsolcpus === null) return;
  const ids = new Set(request.exclNonIsolcpus);
  const missing = [...ids].filter((id) => !topology.cores.some((core) => core.id === id));
  if (missing.length > 0) {
    throw new CmkError("usage", `--excl-non-isolcpus names physical cores not on this node: ${missing.join(", ")}; list physical core ids (see cmk node-report), not logical CPUs`);
  }
  const chosen = topology.cores.filter((core) => ids.has(core.id));
  const taken = chosen.filter((core) => assigned.has(core));
  if (taken.length > 0) {
    throw new CmkError("usage", `--excl-non-isolcpus cores already assigned to other pools: ${taken.map((core) => `${core.id} (${assigned.get(core)})`).join(", ")}; choose other cores`);
  }
  const isolated = chosen.filter((core) => core.isolated);
  if (isolated.length > 0) {
    throw new CmkError("usage", `--excl-non-isolcpus cores are isolated by isolcpus and cannot join exclusive-non-isolcpus: ${isolated.map((core) => core.id).join(", ")}; choose non-isolated cores`);
  }
  assign(chosen, "exclusive-non-isolcpus");
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
