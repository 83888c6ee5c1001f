// Consistency checks over the node state: overlapping CPU lists, exclusive or shared lists
// outside isolcpus, and live tasks whose affinity differs from their lists.
import type { CpuSet } from "./cpuset.ts";
import { cpuListsOf, type NodeState } from "./node-state.ts";
import type { PoolName } from "./pools.ts";
import { workloadPid } from "./tasks.ts";

export interface Overlap {
  readonly a: string;
  readonly b: string;
  readonly cpus: CpuSet;
}

/** Every pair of distinct CPU lists, within and between pools, that share CPUs (with the shared CPUs). */
export function findOverlaps(state: NodeState): Overlap[] {
  const entries = [...state.pools.values()].flatMap((pool) => [...cpuListsOf(pool)].map((list) => ({ name: `${pool.name}:${list.key}`, cpus: list.cpus })));
  // Sweep by CPU: only lists that share a CPU are compared, so large nodes stay cheap.
  const byCpu = new Map<number, number[]>();
  entries.forEach((entry, index) => {
    for (const cpu of entry.cpus) byCpu.set(cpu, [...(byCpu.get(cpu) ?? []), index]);
  });
  const pairs = new Set<string>();
  for (const holders of byCpu.values()) {
    for (let i = 0; i < holders.length; i++) for (let j = i + 1; j < holders.length; j++) pairs.add(`${holders[i]}/${holders[j]}`);
  }
  return [...pairs].map((pair) => {
    const [i, j] = pair.split("/").map(Number) as [number, number];
    const a = entries[i] as (typeof entries)[number];
    const b = entries[j] as (typeof entries)[number];
    return { a: a.name, b: b.name, cpus: a.cpus.intersection(b.cpus) };
  });
}

/** Exclusive and shared lists with CPUs outside isolcpus, on a node that isolates CPUs at all. */
export function findUnisolated(state: NodeState, isolcpus: CpuSet): { pool: PoolName; list: string; cpus: CpuSet }[] {
  if (isolcpus.isEmpty) return [];
  const found: { pool: PoolName; list: string; cpus: CpuSet }[] = [];
  for (const name of ["exclusive", "shared"] as const) {
    const pool = state.pools.get(name);
    if (pool === undefined) continue;
    for (const list of cpuListsOf(pool)) {
      const outside = list.cpus.difference(isolcpus);
      if (!outside.isEmpty) found.push({ pool: name, list: list.key, cpus: outside });
    }
  }
  return found;
}

export interface MaskMismatch {
  /** The task: its PID in the pool document (mismatchedProcess names the process whose mask is wrong). */
  readonly pid: number;
  readonly pool: PoolName;
  readonly cpus: string;
  readonly actualCpus: string;
}

/** Live pinned tasks whose process runs on other CPUs than its lists (`--no-affinity` tasks skipped). */
export function findMaskMismatches(state: NodeState, actualOf: (taskId: string) => CpuSet | null): MaskMismatch[] {
  const mismatches: MaskMismatch[] = [];
  const expected = new Map<string, { pool: PoolName; keys: string[]; cpus: CpuSet }>();
  for (const pool of state.pools.values()) {
    for (const list of cpuListsOf(pool)) {
      for (const task of list.tasks) {
        const entry = expected.get(task);
        if (entry === undefined) expected.set(task, { pool: pool.name, keys: [list.key], cpus: list.cpus });
        else expected.set(task, { pool: entry.pool, keys: [...entry.keys, list.key], cpus: entry.cpus.union(list.cpus) });
      }
    }
  }
  for (const [task, entry] of expected) {
    if (state.tasks.get(task)?.affinity === false) continue;
    const actual = actualOf(task);
    if (actual !== null && !actual.equals(entry.cpus)) {
      mismatches.push({ pid: Number(task), pool: entry.pool, cpus: entry.keys.join(","), actualCpus: actual.toString() });
    }
  }
  return mismatches.sort((a, b) => a.pid - b.pid);
}

/** The process whose mask a mismatch is about: the task's command when recorded, else the task's own PID. */
export function mismatchedProcess(state: NodeState, mismatch: MaskMismatch): number {
  return workloadPid(String(mismatch.pid), state.tasks.get(String(mismatch.pid)));
}
