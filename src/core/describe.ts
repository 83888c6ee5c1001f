// The JSON description of the node's pools (CMK's `describe` and node-report `description`).
import { cpuListsOf, type NodeState } from "./node-state.ts";
import { isExclusivePool } from "./pools.ts";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** `path` and integer tasks as CMK 1.4 printed them for a directory-based state. */
export function describeState(state: NodeState, path: string | null): Json {
  const pools: { [key: string]: Json } = {};
  for (const pool of state.pools.values()) {
    const cpuLists: { [key: string]: Json } = {};
    for (const list of cpuListsOf(pool)) {
      cpuLists[list.key] = { cpus: list.key, tasks: list.tasks.map((task) => (path === null ? task : Number(task))) };
    }
    pools[pool.name] = { cpuLists, exclusive: isExclusivePool(pool.name), name: pool.name };
  }
  return path === null ? { pools } : { path, pools };
}

/** JSON with keys sorted at every level and 2-space indentation, as CMK prints reports. */
export function sortedJson(value: Json): string {
  const sort = (item: Json): Json => {
    if (Array.isArray(item)) return item.map(sort);
    if (item !== null && typeof item === "object") {
      return Object.fromEntries(Object.keys(item).sort().map((key) => [key, sort(item[key] as Json)]));
    }
    return item;
  };
  return JSON.stringify(sort(value), null, 2);
}
