// The invariants of a node's state that no crash, race or kill may break, checked in one place for
// every reliability test: the state parses; no exclusive list has two live owners; every live,
// pinned task runs on exactly the CPUs of its lists; after a reconcile no list is held by a dead
// task; the pools stay disjoint and exactly what init carved; the pool document stays one CMK 1.5
// reads.
import { readdirSync, readFileSync } from "node:fs";
import { allowedCpus, taskLiveness } from "../../src/adapters/procfs.ts";
import { findOverlaps } from "../../src/core/checks.ts";
import { CpuSet } from "../../src/core/cpuset.ts";
import { cpuListsOf, type NodeState, sameLayout } from "../../src/core/node-state.ts";
import { isExclusivePool } from "../../src/core/pools.ts";
import { poolDocument, readPoolDocument } from "../../src/formats/state-document.ts";
import { emitYaml, parseYaml } from "../../src/formats/yaml.ts";

export interface InvariantOptions {
  /** The layout init carved, which nothing but init and reconfigure may change. */
  readonly layout: NodeState;
  /** A reconcile has run since the last task ended: no list may be held by a dead task. */
  readonly reconciled: boolean;
  readonly procFs?: string;
  /**
   * A `NAME=value` every workload of the test carries in its environment: each such live process
   * started by isolate (it has CMK_CPUS_ASSIGNED) must belong to a recorded task (be its process,
   * or descend from it), else it runs on CPUs the state may give to someone else.
   */
  readonly workloadMarker?: string;
}

/** Every broken invariant, as a sentence; empty when the state is sound. */
export function violations(state: NodeState, options: InvariantOptions): string[] {
  const procFs = options.procFs ?? "/proc";
  const alive = taskLiveness(procFs);
  const found: string[] = [];
  if (!sameLayout(state, options.layout)) found.push("the pools are not the ones init carved");
  for (const overlap of findOverlaps(state)) found.push(`lists ${overlap.a} and ${overlap.b} share CPUs ${overlap.cpus}`);
  const listsOf = new Map<string, CpuSet>();
  for (const pool of state.pools.values()) {
    for (const list of cpuListsOf(pool)) {
      const living = list.tasks.filter((task) => alive(task, state.tasks.get(task)));
      if (isExclusivePool(pool.name) && living.length > 1)
        found.push(`exclusive list ${pool.name}:${list.key} has ${living.length} live owners: ${living.join(", ")}`);
      if (options.reconciled && living.length < list.tasks.length) {
        found.push(`list ${pool.name}:${list.key} is held by dead tasks after reconcile: ${list.tasks.filter((task) => !living.includes(task)).join(", ")}`);
      }
      for (const task of list.tasks) listsOf.set(task, (listsOf.get(task) ?? CpuSet.empty).union(list.cpus));
    }
  }
  for (const [task, cpus] of listsOf) {
    const record = state.tasks.get(task);
    if (record === undefined || !record.affinity || !alive(task, record)) continue;
    const workload = record.child ?? record.isolate;
    const actual = allowedCpus(procFs, workload.pid);
    // A process gone between the two reads has nothing to check.
    if (actual !== null && !actual.equals(cpus)) found.push(`task ${task}'s process ${workload.pid} runs on ${actual}, its lists are ${cpus}`);
  }
  if (options.workloadMarker !== undefined) found.push(...unrecordedWorkloads(state, options.workloadMarker, procFs));
  const text = emitYaml(poolDocument(state));
  try {
    if (!sameLayout({ pools: readPoolDocument(parseYaml(text, "pool document"), "pool document"), tasks: new Map() }, state)) {
      found.push("the pool document does not read back as the same pools");
    }
  } catch (error) {
    found.push(`the pool document is not one CMK 1.5 reads: ${String(error)}`);
  }
  return found;
}

/** Live workloads of the test (by their marker) that no recorded task accounts for. */
function unrecordedWorkloads(state: NodeState, marker: string, procFs: string): string[] {
  const recorded = new Set<number>();
  for (const record of state.tasks.values()) {
    recorded.add(record.isolate.pid);
    if (record.child !== undefined) recorded.add(record.child.pid);
  }
  // Tasks CMK wrote have no record: their PID string is the process.
  for (const pool of state.pools.values()) for (const list of cpuListsOf(pool)) for (const task of list.tasks) recorded.add(Number(task));
  const found: string[] = [];
  for (const entry of readdirSync(procFs)) {
    if (!/^\d+$/.test(entry)) continue;
    let environ: string;
    try {
      environ = readFileSync(`${procFs}/${entry}/environ`, "latin1");
    } catch {
      continue;
    }
    const variables = environ.split("\0");
    if (!variables.includes(marker) || !variables.some((variable) => variable.startsWith("CMK_CPUS_ASSIGNED="))) continue;
    const pid = Number(entry);
    if (isZombie(procFs, pid) || ancestry(procFs, pid).some((ancestor) => recorded.has(ancestor))) continue;
    found.push(`workload ${pid} (${variables.find((variable) => variable.startsWith("CMK_CPUS_ASSIGNED="))}) runs with no recorded task`);
  }
  return found;
}

function statFields(procFs: string, pid: number): string[] | null {
  try {
    const stat = readFileSync(`${procFs}/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

function isZombie(procFs: string, pid: number): boolean {
  const state = statFields(procFs, pid)?.[0];
  return state === undefined || state === "Z" || state === "X";
}

/** The process and its parents up to (not including) PID 1. */
function ancestry(procFs: string, pid: number): number[] {
  const chain: number[] = [];
  for (let current = pid; current > 1 && chain.length < 64; ) {
    chain.push(current);
    const parent = Number(statFields(procFs, current)?.[1] ?? "0");
    if (!(parent > 0)) break;
    current = parent;
  }
  return chain;
}
