// The node's state as a model: pools (pool -> socket -> CPU list -> task PID strings, the shape of
// CMK's pool document) and beside them, never inside them, the identity of each task (host PIDs
// with start times), with the pure operations every command shares. Its text forms live in
// formats/state-document.ts.
import { CpuSet } from "./cpuset.ts";
import type { PoolLayout, PoolName } from "./pools.ts";

/** A process, told apart from a later one with the same PID by its start time (/proc/<pid>/stat field 22). */
export interface ProcessIdentity {
  readonly pid: number;
  readonly start: number;
}

/** The pod a task runs in, as the downward API names it: for reports and for people, not liveness. */
export interface PodIdentity {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
}

/** What we know of a task beyond its PID string in the pool document. */
export interface TaskRecord {
  readonly isolate: ProcessIdentity;
  readonly child?: ProcessIdentity;
  /** False for `cmk isolate --no-affinity`: its affinity is the workload's business. */
  readonly affinity: boolean;
  readonly pod?: PodIdentity;
}

export interface CpuListState {
  readonly key: string;
  readonly cpus: CpuSet;
  readonly tasks: readonly string[];
}

export interface PoolState {
  readonly name: PoolName;
  readonly sockets: ReadonlyMap<number, readonly CpuListState[]>;
}

export interface NodeState {
  readonly pools: ReadonlyMap<PoolName, PoolState>;
  /** Task id (the PID string in the pool document) -> identity. Tasks without a record are CMK's own. */
  readonly tasks: ReadonlyMap<string, TaskRecord>;
}

export function stateFromLayout(layout: PoolLayout): NodeState {
  const pools = new Map<PoolName, PoolState>();
  for (const [name, sockets] of layout) {
    pools.set(name, {
      name,
      sockets: new Map([...sockets].map(([socket, lists]) => [socket, lists.map((list) => ({ ...list, tasks: [] }))])),
    });
  }
  return { pools, tasks: new Map() };
}

export function* cpuListsOf(pool: PoolState): Generator<CpuListState & { readonly socket: number }> {
  for (const [socket, lists] of pool.sockets) for (const list of lists) yield { ...list, socket };
}

export function allTaskIds(state: NodeState): Set<string> {
  const ids = new Set<string>();
  for (const pool of state.pools.values()) for (const list of cpuListsOf(pool)) for (const task of list.tasks) ids.add(task);
  return ids;
}

/** How much of a pool's share of one socket is taken: what the metrics export per pool and socket. */
export interface PoolUsage {
  readonly pool: PoolName;
  readonly socket: number;
  /** The CPUs of its lists (each counted once, should lists overlap). */
  readonly cpus: number;
  readonly cpuLists: number;
  /** Lists held by at least one task; the others are free. */
  readonly allocatedCpuLists: number;
}

/** Each pool's usage on each of its sockets, in the state's order. */
export function poolUsage(state: NodeState): PoolUsage[] {
  return [...state.pools.values()].flatMap((pool) =>
    [...pool.sockets].map(([socket, lists]) => ({
      pool: pool.name,
      socket,
      cpus: CpuSet.of(lists.flatMap((list) => list.cpus.ids)).size,
      cpuLists: lists.length,
      allocatedCpuLists: lists.filter((list) => list.tasks.length > 0).length,
    })),
  );
}

/** True when both states carve the same pools into the same CPU lists (tasks aside). */
export function sameLayout(a: NodeState, b: NodeState): boolean {
  const shape = (state: NodeState): string =>
    [...state.pools.values()]
      .sort((x, y) => x.name.localeCompare(y.name))
      .map(
        (pool) =>
          `${pool.name}:${[...pool.sockets]
            .sort(([x], [y]) => x - y)
            .map(([socket, lists]) => `${socket}=${lists.map((list) => list.cpus.toString()).join("|")}`)
            .join(";")}`,
      )
      .join("\n");
  return shape(a) === shape(b);
}

/** Returns a copy of the state with `change` applied to the task list of each CPU list. */
export function mapTasks(
  state: NodeState,
  change: (pool: PoolName, list: CpuListState, socket: number) => readonly string[],
  tasks: ReadonlyMap<string, TaskRecord> = state.tasks,
): NodeState {
  const pools = new Map<PoolName, PoolState>();
  for (const pool of state.pools.values()) {
    const sockets = new Map<number, CpuListState[]>();
    for (const [socket, lists] of pool.sockets) {
      sockets.set(
        socket,
        lists.map((list) => ({ ...list, tasks: change(pool.name, list, socket) })),
      );
    }
    pools.set(pool.name, { name: pool.name, sockets });
  }
  return { pools, tasks };
}
