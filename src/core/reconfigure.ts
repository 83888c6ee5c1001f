// Re-carving a node with running tasks: every live task keeps its exclusive list when the new
// layout still has it, otherwise moves to a free list (same socket first); shared and infra tasks
// follow their socket's new list. Refuses, changing nothing, when the tasks do not fit.
import { type ReclaimedTask, reclaimDead, type TaskLiveness } from "./allocate.ts";
import { CpuSet } from "./cpuset.ts";
import { CmkError } from "./errors.ts";
import { cpuListsOf, mapTasks, type NodeState } from "./node-state.ts";
import { isExclusivePool, type PoolName } from "./pools.ts";

export interface Move {
  readonly taskId: string;
  readonly pool: PoolName;
  readonly from: CpuSet;
  readonly to: CpuSet;
}

export interface ReconfigurePlan {
  readonly state: NodeState;
  readonly moves: readonly Move[];
  readonly reclaimed: readonly ReclaimedTask[];
}

interface Slot {
  readonly socket: number;
  readonly key: string;
  readonly cpus: CpuSet;
}

export function planReconfigure(current: NodeState, carved: NodeState, isAlive: TaskLiveness): ReconfigurePlan {
  const { state: live, reclaimed } = reclaimDead(current, isAlive);
  const placement = new Map<string, string[]>(); // "pool/socket/key" in the new layout -> tasks
  const from = new Map<string, { pool: PoolName; cpus: CpuSet }>();
  const to = new Map<string, CpuSet>();
  const place = (pool: PoolName, slot: Slot, tasks: readonly string[]): void => {
    const key = `${pool}/${slot.socket}/${slot.key}`;
    placement.set(key, [...(placement.get(key) ?? []), ...tasks]);
    for (const task of tasks) to.set(task, (to.get(task) ?? CpuSet.empty).union(slot.cpus));
  };

  for (const pool of live.pools.values()) {
    const busy = [...cpuListsOf(pool)].filter((list) => list.tasks.length > 0);
    if (busy.length === 0) continue;
    for (const list of busy) {
      for (const task of list.tasks) from.set(task, { pool: pool.name, cpus: (from.get(task)?.cpus ?? CpuSet.empty).union(list.cpus) });
    }
    const target = carved.pools.get(pool.name);
    const slots: Slot[] = target === undefined ? [] : [...cpuListsOf(target)].map((list) => ({ socket: list.socket, key: list.key, cpus: list.cpus }));
    const holders = [...new Set(busy.flatMap((list) => list.tasks))].join(", ");
    if (isExclusivePool(pool.name)) {
      if (busy.length > slots.length) {
        throw new CmkError(
          "conflict",
          `the new layout has ${slots.length} ${pool.name} CPU lists but running tasks (${holders}) hold ${busy.length}; request at least ${busy.length} or stop tasks first; nothing was changed`,
        );
      }
      const taken = new Set<Slot>();
      const unplaced = busy.filter((list) => {
        const same = slots.find((slot) => !taken.has(slot) && slot.socket === list.socket && slot.cpus.equals(list.cpus));
        if (same === undefined) return true;
        taken.add(same);
        place(pool.name, same, list.tasks);
        return false;
      });
      for (const list of unplaced) {
        const free = slots.filter((slot) => !taken.has(slot));
        const slot = free.find((candidate) => candidate.socket === list.socket) ?? (free[0] as Slot);
        taken.add(slot);
        place(pool.name, slot, list.tasks);
      }
    } else {
      if (slots.length === 0) {
        throw new CmkError(
          "conflict",
          `the new layout has no ${pool.name} CPU lists but running tasks (${holders}) use that pool; give it cores or stop those tasks first; nothing was changed`,
        );
      }
      for (const list of busy) place(pool.name, slots.find((slot) => slot.socket === list.socket) ?? (slots[0] as Slot), list.tasks);
    }
  }

  const state = mapTasks(carved, (pool, list, socket) => placement.get(`${pool}/${socket}/${list.key}`) ?? [], live.tasks);
  const moves: Move[] = [];
  for (const [taskId, origin] of from) {
    const destination = to.get(taskId) as CpuSet;
    if (!destination.equals(origin.cpus)) moves.push({ taskId, pool: origin.pool, from: origin.cpus, to: destination });
  }
  return { state, moves: moves.sort((a, b) => Number(a.taskId) - Number(b.taskId)), reclaimed };
}
