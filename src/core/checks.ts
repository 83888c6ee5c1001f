// Consistency checks over the node state: overlapping CPU lists, exclusive or shared lists
// outside isolcpus (or a node that isolates nothing), and live tasks whose affinity differs from
// their lists; and node-report's three checks built from them, each with its errors, its
// warnings and the CPUs its errors are about.
import { CpuSet } from "./cpuset.ts";
import { CmkError } from "./errors.ts";
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

/** States already found disjoint: a store checks each document it decodes once. */
const disjointStates = new WeakSet<NodeState>();

/**
 * Refuses a state in which two CPU lists share a CPU: a change made on it could hand one CPU to
 * two workloads. Stores call it before every change; read-only commands still read (and report) it.
 */
export function assertNoSharedCpus(state: NodeState, source: string): void {
  if (disjointStates.has(state)) return;
  const overlap = findOverlaps(state)[0];
  if (overlap !== undefined) {
    throw new CmkError(
      "invalid-state",
      `${source}: CPU lists ${overlap.a} and ${overlap.b} share CPU ${overlap.cpus}; a CPU belongs to one list: correct the document, or run cmk init to carve afresh`,
      { location: source },
    );
  }
  disjointStates.add(state);
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

/** Exclusive and shared CPUs of a node that isolates no CPU at all: every other process runs there too. */
export function findNothingIsolated(state: NodeState, isolcpus: CpuSet): { pool: PoolName; cpus: CpuSet }[] {
  if (!isolcpus.isEmpty) return [];
  const found: { pool: PoolName; cpus: CpuSet }[] = [];
  for (const name of ["exclusive", "shared"] as const) {
    const pool = state.pools.get(name);
    const cpus = pool === undefined ? CpuSet.empty : CpuSet.of([...cpuListsOf(pool)].flatMap((list) => list.cpus.ids));
    if (!cpus.isEmpty) found.push({ pool: name, cpus });
  }
  return found;
}

/** A process as the affinity check sees every process of the node: its parent and the CPUs its cpuset cgroup allows (null: unknown). */
export interface ProcessCpus {
  readonly pid: number;
  readonly ppid: number;
  readonly name: string;
  readonly cpus: CpuSet | null;
}

/**
 * Processes whose cpuset cgroup confines them to cmk's exclusive and shared CPUs, exclusive ones
 * among them, and which are no cmk task: what another CPU manager does when it hands out cmk's
 * CPUs (the kubelet's static policy gives a Guaranteed pod's containers a cpuset of their own). A
 * task's processes and their descendants are cmk's; a cgroup on every online CPU is no finding.
 */
export function findForeignPinned(
  state: NodeState,
  processes: readonly ProcessCpus[],
  online: CpuSet,
): { process: ProcessCpus & { cpus: CpuSet }; exclusive: CpuSet }[] {
  const cpusOf = (names: readonly PoolName[]): CpuSet =>
    CpuSet.of(names.flatMap((name) => [...cpuListsOf(state.pools.get(name) ?? { name, sockets: new Map() })].flatMap((list) => list.cpus.ids)));
  const exclusive = cpusOf(["exclusive", "exclusive-non-isolcpus"]);
  const cmkOnly = exclusive.union(cpusOf(["shared"]));
  const ours = new Set<number>();
  for (const [id, record] of state.tasks) {
    ours.add(Number(id));
    ours.add(record.isolate.pid);
    if (record.child !== undefined) ours.add(record.child.pid);
  }
  for (const pool of state.pools.values()) for (const list of cpuListsOf(pool)) for (const task of list.tasks) ours.add(Number(task));
  const parentOf = new Map(processes.map((process) => [process.pid, process.ppid]));
  const isOurs = (pid: number): boolean => {
    for (let current: number | undefined = pid, steps = 0; current !== undefined && current > 1 && steps < 4096; current = parentOf.get(current), steps++) {
      if (ours.has(current)) return true;
    }
    return false;
  };
  const found: { process: ProcessCpus & { cpus: CpuSet }; exclusive: CpuSet }[] = [];
  for (const process of processes) {
    const { cpus } = process;
    if (cpus === null || cpus.equals(online) || !cpus.isSubsetOf(cmkOnly)) continue;
    const taken = cpus.intersection(exclusive);
    if (taken.isEmpty || isOurs(process.pid)) continue;
    found.push({ process: { ...process, cpus }, exclusive: taken });
  }
  return found.sort((a, b) => a.process.pid - b.process.pid);
}

// ---- node-report's checks --------------------------------------------------------------------

export const checkNames = ["affinity", "configDirectory", "isolation"] as const;
export type CheckName = (typeof checkNames)[number];

/** A check fails on errors; warnings alone mark it without failing it. `cpus`: the CPUs its errors are about. */
export interface CheckResult {
  readonly errors: readonly string[];
  readonly warnings: readonly string[];
  readonly cpus: CpuSet;
}

export type NodeChecks = Readonly<Record<CheckName, CheckResult>>;

export interface CheckInputs {
  /** The node state, or null with `stateError` saying why it could not be read. */
  readonly state: NodeState | null;
  readonly stateError: string | null;
  /** Where the state lives, for the message of an unreadable state. */
  readonly location: string;
  readonly isolcpus: CpuSet;
  /** The CPUs a task's workload process runs on; null when it is gone. */
  readonly actualOf: (taskId: string) => CpuSet | null;
  /** Every user process of the node with its CPUs, and the online CPUs: for pinning cmk did not do (absent: not looked for). */
  readonly processes?: { readonly all: readonly ProcessCpus[]; readonly online: CpuSet } | undefined;
}

export function runChecks(inputs: CheckInputs): NodeChecks {
  const { state } = inputs;
  return {
    affinity: state === null ? passed : affinityCheck(state, inputs.actualOf, inputs.processes),
    configDirectory: configDirectoryCheck(inputs),
    isolation: state === null ? passed : isolationCheck(state, inputs.isolcpus),
  };
}

/** The checks that found errors. */
export function failedChecks(checks: NodeChecks): CheckName[] {
  return checkNames.filter((name) => checks[name].errors.length > 0);
}

const passed: CheckResult = { errors: [], warnings: [], cpus: CpuSet.empty };

function configDirectoryCheck({ state, stateError, location }: CheckInputs): CheckResult {
  if (state === null) return { ...passed, errors: [`Unable to read the CMK configuration directory ${location}: ${stateError ?? "no state"}`] };
  const overlaps = findOverlaps(state);
  return {
    errors: overlaps.map((overlap) => `CPU list overlap detected in ${overlap.a} and ${overlap.b} (in both: ${overlap.cpus})`),
    warnings: [],
    cpus: CpuSet.of(overlaps.flatMap((overlap) => overlap.cpus.ids)),
  };
}

function isolationCheck(state: NodeState, isolcpus: CpuSet): CheckResult {
  const outside = findUnisolated(state, isolcpus);
  return {
    errors: outside.map((entry) => `${entry.pool}:${entry.list} has CPUs ${entry.cpus} not isolated by isolcpus`),
    warnings: findNothingIsolated(state, isolcpus).map(
      (entry) =>
        `${entry.pool} CPUs ${entry.cpus} are not isolated: the kernel command line has no isolcpus, so every other process may run on them too; boot with isolcpus= covering them to keep them to their tasks`,
    ),
    cpus: CpuSet.of(outside.flatMap((entry) => entry.cpus.ids)),
  };
}

function affinityCheck(state: NodeState, actualOf: (taskId: string) => CpuSet | null, processes: CheckInputs["processes"]): CheckResult {
  const mismatches = findMaskMismatches(state, actualOf);
  const errors = mismatches.map((entry) => {
    const process = mismatchedProcess(state, entry);
    return `task ${entry.pid} in ${entry.pool}:${entry.cpus} runs on CPUs ${entry.actualCpus}${process === entry.pid ? "" : ` (its command, process ${process})`}`;
  });
  const foreign = processes === undefined ? [] : findForeignPinned(state, processes.all, processes.online);
  for (const { process, exclusive } of foreign) {
    errors.push(
      `process ${process.pid} (${process.name}) is confined by its cpuset cgroup to CPUs ${process.cpus}, exclusive CPUs ${exclusive} among them, and is no cmk task: another CPU manager gave it cmk's CPUs (the kubelet's static CPU manager? keep cmk's exclusive and shared CPUs and one infra core in its reservedSystemCPUs)`,
    );
  }
  // The CPUs a task should have and has not, and those it has and should not.
  const involved = mismatches.flatMap((entry) => {
    const expected = CpuSet.parse(entry.cpus);
    const actual = CpuSet.parse(entry.actualCpus);
    return [...expected.difference(actual), ...actual.difference(expected)];
  });
  return { errors, warnings: [], cpus: CpuSet.of([...involved, ...foreign.flatMap((entry) => entry.exclusive.ids)]) };
}
