// Which CPU lists a task gets, gives back, and which dead tasks' lists are reclaimed.
// Pure: liveness and topology arrive as functions and data, so a store may re-run these.
import { CpuSet } from "./cpuset.ts";
import { CmkError } from "./errors.ts";
import { type CpuListState, cpuListsOf, mapTasks, type NodeState, type TaskRecord } from "./node-state.ts";
import { isExclusivePool, type PoolName } from "./pools.ts";

/** Whether a task still runs: its isolate process or its child, with the recorded start times. */
export type TaskLiveness = (taskId: string, record: TaskRecord | undefined) => boolean;

/** Where a CPU list sits, to keep a multi-list allocation close together. */
export interface Placement {
  readonly numaNode: number;
  readonly l3: number;
}

export interface AllocationRequest {
  readonly pool: PoolName;
  /** The socket to take lists from, null for any (socketFor says which socket a user's request is held to). */
  readonly socketId: number | null;
  /** Lists to take from an exclusive pool; shared and infra always give one. */
  readonly count: number;
  readonly taskId: string;
  readonly record: TaskRecord;
}

export interface Allocation {
  readonly state: NodeState;
  readonly lists: readonly (CpuListState & { readonly socket: number })[];
  readonly reclaimed: readonly ReclaimedTask[];
  /** Why these lists, in a few words, for the debug log. */
  readonly why: string;
}

export interface ReclaimedTask {
  readonly pid: number;
  readonly pool: PoolName;
  readonly cpus: string;
}

/**
 * The socket a user's request (isolate --socket-id) is held to. CMK's rule: the socket chooses
 * among the lists of the exclusive, exclusive-non-isolcpus and shared pools, while infra, the
 * pool of housekeeping and daemons, serves a request from any socket.
 */
export function socketFor(pool: PoolName, socketId: number | null): number | null {
  return pool === "infra" ? null : socketId;
}

export function allocate(
  state: NodeState,
  request: AllocationRequest,
  isAlive: TaskLiveness,
  placementOf: (cpus: CpuSet) => Placement = () => ({ numaNode: -1, l3: -1 }),
): Allocation {
  const pool = state.pools.get(request.pool);
  if (pool === undefined) {
    throw new CmkError("does-not-fit", `pool "${request.pool}" does not exist on this node; pools here: ${[...state.pools.keys()].join(", ")}`, {
      field: "pool",
    });
  }
  if (request.socketId !== null && !pool.sockets.has(request.socketId)) {
    throw new CmkError("does-not-fit", `pool ${request.pool} has no socket ${request.socketId}; sockets: ${[...pool.sockets.keys()].join(", ")}`, {
      field: "socketId",
    });
  }
  // A PID already recorded as a task belongs to a dead process: the PID is ours now.
  let current = releaseTask(state, request.taskId);
  const inScope = (socket: number): boolean => request.socketId === null || socket === request.socketId;
  const candidates = (from: NodeState): (CpuListState & { socket: number })[] =>
    [...cpuListsOf(from.pools.get(request.pool) ?? pool)].filter((list) => inScope(list.socket));

  let reclaimed: ReclaimedTask[] = [];
  let chosen: (CpuListState & { socket: number })[];
  let why: string;
  if (isExclusivePool(request.pool)) {
    const total = candidates(current).length;
    if (total < request.count) {
      throw new CmkError(
        "does-not-fit",
        `pool ${request.pool}${onSocket(request)} has ${total} CPU list${total === 1 ? "" : "s"} in all, ${request.count} requested; request at most ${total}`,
        { field: "count" },
      );
    }
    let free = candidates(current).filter((list) => list.tasks.length === 0);
    if (free.length < request.count) {
      // Lists of killed isolates are taken back here, without waiting for cmk reconcile.
      const reclaim = reclaimDead(current, isAlive, request.pool);
      current = reclaim.state;
      reclaimed = [...reclaim.reclaimed];
      free = candidates(current).filter((list) => list.tasks.length === 0);
    }
    if (free.length < request.count) throw exhausted(request, candidates(current), free.length, current);
    ({ lists: chosen, why } = closest(free, request.count, placementOf));
    why += `, ${free.length} of ${candidates(current).length} lists free`;
  } else {
    const lists = candidates(current);
    if (lists.length === 0) {
      throw new CmkError("does-not-fit", `pool ${request.pool} has no CPU lists${onSocket(request)}; re-run cmk init with cores for it`);
    }
    chosen = [lists.reduce((best, list) => (list.tasks.length < best.tasks.length ? list : best))];
    why = `the least-loaded of ${lists.length} list${lists.length === 1 ? "" : "s"} (${chosen[0]?.tasks.length ?? 0} tasks on it)`;
  }
  const keys = new Set(chosen.map((list) => `${list.socket}/${list.key}`));
  const tasks = new Map(current.tasks).set(request.taskId, request.record);
  const next = mapTasks(
    current,
    (name, list, socket) => (name === request.pool && keys.has(`${socket}/${list.key}`) ? [...list.tasks, request.taskId] : list.tasks),
    tasks,
  );
  return { state: next, lists: chosen, reclaimed, why };
}

function exhausted(request: AllocationRequest, lists: readonly (CpuListState & { socket: number })[], free: number, state: NodeState): CmkError {
  const holders = lists
    .filter((list) => list.tasks.length > 0)
    .slice(0, 8)
    .map((list) => `${list.key} by ${list.tasks.map((task) => describeHolder(task, state.tasks.get(task))).join("+")}`);
  const more = lists.filter((list) => list.tasks.length > 0).length - holders.length;
  const scope = onSocket(request);
  return new CmkError(
    "pool-exhausted",
    `pool ${request.pool}${scope} has ${free} free of ${lists.length} CPU lists, ${request.count} requested; held: ${holders.join(", ")}${more > 0 ? `, and ${more} more` : ""}; wait for a task to end or request fewer`,
    { field: "count" },
  );
}

/** " on socket N" for a request restricted to a socket, else "". */
function onSocket(request: AllocationRequest): string {
  return request.socketId === null ? "" : ` on socket ${request.socketId}`;
}

function describeHolder(taskId: string, record: TaskRecord | undefined): string {
  return record?.child === undefined ? `PID ${taskId}` : `PID ${taskId} (child ${record.child.pid})`;
}

/** Picks `count` lists that sit close: within one L3 group, else one NUMA node, else one socket. */
function closest<T extends CpuListState & { socket: number }>(
  free: readonly T[],
  count: number,
  placementOf: (cpus: CpuSet) => Placement,
): { lists: T[]; why: string } {
  if (count === 1) return { lists: free.slice(0, 1), why: "the first free list in pool order" };
  const placed = free.map((list, order) => ({ list, order, ...placementOf(list.cpus) }));
  const domains: [string, (entry: (typeof placed)[number]) => string][] = [
    ["one L3 group", (entry) => `${entry.list.socket}/${entry.numaNode}/${entry.l3}`],
    ["one NUMA node", (entry) => `${entry.list.socket}/${entry.numaNode}`],
    ["one socket", (entry) => `${entry.list.socket}`],
  ];
  for (const [domainName, domainOf] of domains) {
    const groups = new Map<string, (typeof placed)[number][]>();
    for (const entry of placed) {
      const key = domainOf(entry);
      groups.set(key, [...(groups.get(key) ?? []), entry]);
    }
    // Best fit: the fullest domain that still holds the request keeps larger domains whole.
    const fitting = [...groups.values()]
      .filter((group) => group.length >= count)
      .sort((a, b) => a.length - b.length || (a[0]?.order ?? 0) - (b[0]?.order ?? 0));
    const best = fitting[0];
    if (best !== undefined) return { lists: best.slice(0, count).map((entry) => entry.list), why: `${count} lists in ${domainName}, the fullest that fits` };
  }
  const lists = [...placed]
    .sort((a, b) => a.list.socket - b.list.socket || a.numaNode - b.numaNode || a.l3 - b.l3 || a.order - b.order)
    .slice(0, count)
    .map((entry) => entry.list);
  return { lists, why: `${count} lists across sockets: no one socket has that many free` };
}

/** Removes a task from every list and forgets its record. */
export function releaseTask(state: NodeState, taskId: string): NodeState {
  const held = [...state.pools.values()].some((pool) => [...cpuListsOf(pool)].some((list) => list.tasks.includes(taskId)));
  if (!held && !state.tasks.has(taskId)) return state;
  const tasks = new Map(state.tasks);
  tasks.delete(taskId);
  return mapTasks(state, (_pool, list) => list.tasks.filter((task) => task !== taskId), tasks);
}

/** Frees every list entry of dead tasks (optionally in one pool), reporting each as CMK's reconcile does. */
export function reclaimDead(state: NodeState, isAlive: TaskLiveness, onlyPool?: PoolName): { state: NodeState; reclaimed: ReclaimedTask[] } {
  const verdicts = new Map<string, boolean>();
  const alive = (taskId: string): boolean => {
    let verdict = verdicts.get(taskId);
    if (verdict === undefined) {
      verdict = isAlive(taskId, state.tasks.get(taskId));
      verdicts.set(taskId, verdict);
    }
    return verdict;
  };
  const reclaimed: ReclaimedTask[] = [];
  for (const pool of state.pools.values()) {
    if (onlyPool !== undefined && pool.name !== onlyPool) continue;
    for (const list of cpuListsOf(pool)) {
      for (const task of list.tasks) if (!alive(task)) reclaimed.push({ pid: Number(task), pool: pool.name, cpus: list.key });
    }
  }
  if (reclaimed.length === 0) return { state, reclaimed };
  const dead = new Set(reclaimed.map((entry) => String(entry.pid)));
  const tasks = new Map([...state.tasks].filter(([id]) => !dead.has(id)));
  const next = mapTasks(state, (name, list) => (onlyPool !== undefined && name !== onlyPool ? list.tasks : list.tasks.filter((task) => alive(task))), tasks);
  return { state: next, reclaimed: reclaimed.sort((a, b) => a.pid - b.pid) };
}

/**
 * The CMK_CPUS_* variables a task's command gets: its CPUs as a list and as CMK's mask, and the
 * shared and infra pools' CPUs when the node has those pools.
 */
export function allocationEnvironment(lists: readonly { readonly cpus: CpuSet }[], state: NodeState): Record<string, string> {
  const cpus = lists.reduce((all, list) => all.union(list.cpus), CpuSet.empty);
  const env: Record<string, string> = { CMK_CPUS_ASSIGNED: cpus.toString(), CMK_CPUS_ASSIGNED_MASK: cpus.toCmkMask() };
  const shared = poolCpus(state, "shared");
  const infra = poolCpus(state, "infra");
  if (shared !== null) env["CMK_CPUS_SHARED"] = shared.toString();
  if (infra !== null) env["CMK_CPUS_INFRA"] = infra.toString();
  return env;
}

/** The union of CPUs of a pool's lists, canonical; null when the node has no such pool. */
export function poolCpus(state: NodeState, pool: PoolName): CpuSet | null {
  const found = state.pools.get(pool);
  if (found === undefined) return null;
  return CpuSet.of([...cpuListsOf(found)].flatMap((list) => list.cpus.ids));
}
