// Rebuilding the task records of a state that was lost while its tasks may still run (the state
// file emptied, the machine not restarted): the pools come back from the layout, and each running
// cmk isolate is put back on the CPU lists its command runs on. Pure: what runs arrives as data.
// A task whose lists cannot be told for certain is a problem, never a guess: the caller refuses
// rather than hand the same CPUs out twice.
import type { CpuSet } from "./cpuset.ts";
import { type CpuListState, cpuListsOf, mapTasks, type NodeState, type TaskRecord } from "./node-state.ts";
import { isExclusivePool, isPoolName } from "./pools.ts";

/** A running task as seen on the host. */
export interface ObservedTask {
  /** Its isolate process and command, with start times. */
  readonly record: TaskRecord;
  /** The pool it asked for, as given (unchecked); undefined when it named none. */
  readonly pool: string | undefined;
  /**
   * CPU sets that may name its lists, the most telling first: the command's CPU mask (which
   * reconfigure keeps up to date) for a pinned task, then CMK_CPUS_ASSIGNED as it started.
   */
  readonly cpus: readonly CpuSet[];
}

export interface Rebuilt {
  /** The layout with every observed task on its lists (meaningful only without problems). */
  readonly state: NodeState;
  /** One sentence per task whose lists cannot be told, or per list two tasks claim. */
  readonly problems: readonly string[];
}

/** Puts each observed task back on its lists of `layout` (a state without tasks). */
export function rebuildTasks(layout: NodeState, observed: readonly ObservedTask[]): Rebuilt {
  const problems: string[] = [];
  const holders = new Map<string, string[]>();
  const tasks = new Map<string, TaskRecord>();
  const where = (pool: string, socket: number, key: string): string => `${pool}/${socket}/${key}`;
  for (const task of [...observed].sort((a, b) => a.record.isolate.pid - b.record.isolate.pid)) {
    const id = String(task.record.isolate.pid);
    const pool = task.pool !== undefined && isPoolName(task.pool) ? layout.pools.get(task.pool) : undefined;
    if (pool === undefined || task.pool === undefined) {
      problems.push(`cmk isolate ${id} asks for pool ${task.pool ?? "(none)"}, which this layout does not have`);
      continue;
    }
    const lists = [...cpuListsOf(pool)];
    const held = task.cpus.map((cpus) => listsCovering(lists, cpus, isExclusivePool(pool.name))).find((found) => found !== null);
    if (held === undefined || held === null) {
      problems.push(
        `the command of cmk isolate ${id} runs on CPUs ${task.cpus.map(String).join(" / ") || "(unknown)"}, which are no CPU list${isExclusivePool(pool.name) ? "s" : ""} of pool ${pool.name}`,
      );
      continue;
    }
    tasks.set(id, task.record);
    for (const list of held) {
      const key = where(pool.name, list.socket, list.key);
      holders.set(key, [...(holders.get(key) ?? []), id]);
    }
  }
  for (const pool of layout.pools.values()) {
    if (!isExclusivePool(pool.name)) continue;
    for (const list of cpuListsOf(pool)) {
      const ids = holders.get(where(pool.name, list.socket, list.key)) ?? [];
      if (ids.length > 1) problems.push(`CPU list ${list.key} of pool ${pool.name} is held by cmk isolate ${ids.join(" and ")} at once`);
    }
  }
  const state = mapTasks(layout, (pool, list, socket) => holders.get(where(pool, socket, list.key)) ?? [], tasks);
  return { state, problems };
}

/**
 * The lists whose union is exactly `cpus`: for an exclusive pool any number of whole lists, for a
 * shared one the one list equal to it; null when there are none.
 */
function listsCovering<T extends CpuListState>(lists: readonly T[], cpus: CpuSet, exclusive: boolean): T[] | null {
  if (cpus.isEmpty) return null;
  if (!exclusive) {
    const list = lists.find((candidate) => candidate.cpus.equals(cpus));
    return list === undefined ? null : [list];
  }
  const inside = lists.filter((list) => list.cpus.isSubsetOf(cpus));
  const covered = inside.reduce((all, list) => all + list.cpus.size, 0);
  // Lists of one pool never overlap, so sizes add up to the union's size exactly when they cover it.
  return covered === cpus.size ? inside : null;
}
