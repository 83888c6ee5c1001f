// Pool names and the layout `cmk init` carves: pool -> socket -> CPU lists.
import type { CpuSet } from "./cpuset.ts";

export const poolNames = ["exclusive", "shared", "infra", "exclusive-non-isolcpus"] as const;
export type PoolName = (typeof poolNames)[number];

export function isPoolName(name: string): name is PoolName {
  return (poolNames as readonly string[]).includes(name);
}

/** Exclusive pools hand a CPU list to one task at a time; shared pools to any number. */
export function isExclusivePool(name: PoolName): boolean {
  return name === "exclusive" || name === "exclusive-non-isolcpus";
}

export interface CpuList {
  /** The CPU-list string that identifies the list in CMK's formats, e.g. "4,12". */
  readonly key: string;
  readonly cpus: CpuSet;
}

/** Pool -> socket id -> CPU lists. Every carved pool has an entry for every socket. */
export type PoolLayout = ReadonlyMap<PoolName, ReadonlyMap<number, readonly CpuList[]>>;

/** Sorts CPU lists numerically by their CPUs (`2,22` before `10,30`), never lexicographically. */
export function compareCpuLists(a: CpuList, b: CpuList): number {
  return a.cpus.compare(b.cpus);
}
