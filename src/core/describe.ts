// The JSON reports cmk prints: the description of the node's pools (CMK's `describe` and
// node-report `description`), the reclaimed-lists report of reconcile and reconfigure, and the
// sorted, indented JSON text CMK's reports use.
import type { ReclaimedTask } from "./allocate.ts";
import { BoundedCache } from "./bounded-cache.ts";
import { cpuListsOf, type NodeState } from "./node-state.ts";
import { isExclusivePool } from "./pools.ts";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The pools with `path` (where the state lives) and integer tasks, as CMK 1.4 printed them. */
export function describeState(state: NodeState, path: string): Json {
  const pools: { [key: string]: Json } = {};
  for (const pool of state.pools.values()) {
    const cpuLists: { [key: string]: Json } = {};
    for (const list of cpuListsOf(pool)) {
      cpuLists[list.key] = { cpus: list.key, tasks: list.tasks.map(Number) };
    }
    pools[pool.name] = { cpuLists, exclusive: isExclusivePool(pool.name), name: pool.name };
  }
  return { path, pools };
}

/** Who holds the lists: each recorded task's processes and, when it ran in a pod, the pod. */
export function describeHolders(state: NodeState): Json {
  const holders: { [key: string]: Json } = {};
  for (const [id, record] of state.tasks) {
    const holder: { [key: string]: Json } = { pid: record.isolate.pid };
    if (record.child !== undefined) holder["child"] = record.child.pid;
    if (record.pod !== undefined) holder["pod"] = `${record.pod.namespace}/${record.pod.name}`;
    holders[id] = holder;
  }
  return holders;
}

/** The `reclaimedCpuLists` entries of reconcile's and reconfigure's reports. */
export function reclaimedReport(reclaimed: readonly ReclaimedTask[]): Json[] {
  return reclaimed.map((entry) => ({ cpus: entry.cpus, pid: entry.pid, pool: entry.pool }));
}

// Reports repeat the same few keys thousands of times: split each distinct key once.
const partsCache = new BoundedCache<string, readonly string[]>(100_000);
function naturalParts(key: string): readonly string[] {
  let parts = partsCache.get(key);
  if (parts === undefined) {
    parts = key.match(/(\d+)|(\D+)/g) ?? [];
    partsCache.set(key, parts);
  }
  return parts;
}

/** Orders keys with digit runs compared as numbers: `2,22` before `10,30`, `socket 2` before `socket 10`. */
export function naturalCompare(a: string, b: string): number {
  const partsA = naturalParts(a);
  const partsB = naturalParts(b);
  for (let index = 0; index < Math.min(partsA.length, partsB.length); index++) {
    const x = partsA[index] as string;
    const y = partsB[index] as string;
    const numeric = /^\d/.test(x) && /^\d/.test(y);
    const difference = numeric ? Number(x) - Number(y) : x < y ? -1 : x > y ? 1 : 0;
    if (difference !== 0) return difference;
  }
  return partsA.length - partsB.length;
}

/**
 * JSON with 2-space indentation and keys sorted at every level, as CMK prints reports, except
 * that keys sort naturally. Written out directly: JavaScript objects put integer-like keys first.
 */
export function sortedJson(value: Json, indent = ""): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    return value.length === 0 ? "[]" : `[\n${value.map((item) => inner + sortedJson(item, inner)).join(",\n")}\n${indent}]`;
  }
  const keys = Object.keys(value).sort(naturalCompare);
  if (keys.length === 0) return "{}";
  return `{\n${keys.map((key) => `${inner}${JSON.stringify(key)}: ${sortedJson(value[key] as Json, inner)}`).join(",\n")}\n${indent}}`;
}
