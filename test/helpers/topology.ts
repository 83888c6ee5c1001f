// The node a test runs cmk on, as cmk itself reads it. Tests must hold on any Linux host, so
// what they expect (which CPUs init puts in which pool, what a pinned command sees) comes from
// this machine's topology read with cmk's own sysfs reader and isolcpus parser, never from a
// remembered machine. With CMK_TEST_TOPOLOGY=<fixture> the tests that only carve and report
// (init, describe, node-report, reconfigure planning) run on a generated sysfs tree instead, so
// one run on a small machine also checks a many-socket SMT server; tests that pin real threads
// always use hostNode(), since the CPUs they pin to must exist.
import { readFileSync } from "node:fs";
import { fixtures } from "../../scripts/gen-sysfs-fixture.ts";
import { readHostTopology } from "../../src/adapters/host-topology.ts";
import { settingsFromEnvironment } from "../../src/app/settings.ts";
import { CpuSet } from "../../src/core/cpuset.ts";
import type { Core, Topology } from "../../src/core/topology.ts";
import { fixtureEnv, type StateDocument, scratchDir } from "./cmk.ts";

/** Names the fixture (scripts/gen-sysfs-fixture.ts --list) that testNode() pretends; unset or empty: this host. */
export const topologyVariable = "CMK_TEST_TOPOLOGY";

export interface TestNode {
  /** "host", or the fixture cmk is pointed at. */
  readonly name: string;
  /** The variables that point cmk at this node: none for the host. */
  readonly env: Readonly<Record<string, string>>;
  /** The node as cmk reads it with `env`: sockets, cores in platform order, isolcpus, power attributes. */
  readonly topology: Topology;
}

/** This machine, as cmk reads it from /sys and /proc/cmdline. */
export function hostNode(): TestNode {
  return { name: "host", env: {}, topology: topologyOf({}) };
}

/**
 * The node of tests whose expectations come from topology alone: this machine, or the fixture
 * CMK_TEST_TOPOLOGY names, generated into a scratch directory removed after the test file.
 */
export function testNode(): TestNode {
  const name = process.env[topologyVariable] ?? "";
  if (name === "" || name === "host") return hostNode();
  if (fixtures[name] === undefined) {
    throw new Error(`${topologyVariable}=${name} names no fixture; choose one of ${Object.keys(fixtures).join(", ")}`);
  }
  const env = fixtureEnv(name, scratchDir(`topology-${name}`, true));
  return { name, env, topology: topologyOf(env) };
}

/**
 * The same node seen through the host's procfs, for commands that look at live processes
 * (isolate, reconcile, reconfigure): CPUs from the node's sysfs, isolcpus and processes from /proc.
 */
export function withHostProcfs(node: TestNode): TestNode {
  if (node.env["CMK_PROC_FS"] === undefined) return node;
  const { CMK_PROC_FS: _fixtureProc, ...env } = node.env;
  return { name: node.name, env, topology: topologyOf(env) };
}

function topologyOf(env: Readonly<Record<string, string>>): Topology {
  // Where cmk itself would look, with power attributes as init reads them: SST-BF decides which cores come first.
  const { sysRoot, kernelFs } = settingsFromEnvironment(env);
  return readHostTopology(sysRoot, kernelFs, true).topology;
}

export type Mode = "packed" | "spread";

/**
 * The cores init takes exclusive and shared lists from, in the order it takes them: the
 * isolated cores when any core is wholly isolated (isolcpus), else every core; packed goes
 * socket by socket, spread takes one core of each socket in turn; SST-BF high-priority cores
 * (a higher cpufreq base_frequency than the node's lowest) come first, keeping that order.
 */
export function carvingOrder(node: TestNode, mode: Mode = "packed"): Core[] {
  const { topology } = node;
  const isolated = topology.cores.filter((core) => core.isolated);
  if (isolated.length > 0 && sstCpApplies(topology)) {
    throw new Error(
      `${node.name}: init would carve by SST-CP (isolated cores and several energy_performance_preference values), which these helpers do not model`,
    );
  }
  const candidates = new Set(isolated.length > 0 ? isolated : topology.cores);
  const perSocket = topology.sockets.map((socket) => socket.cores.filter((core) => candidates.has(core)));
  const ordered = mode === "packed" ? perSocket.flat() : roundRobin(perSocket);
  const fast = highPriorityCpus(topology);
  const isFast = (core: Core): boolean => fast.length > 0 && core.cpus.ids.every((cpu) => fast.includes(cpu));
  return [...ordered.filter(isFast), ...ordered.filter((core) => !isFast(core))];
}

function roundRobin<T>(lists: readonly (readonly T[])[]): T[] {
  const out: T[] = [];
  for (let round = 0; lists.some((list) => round < list.length); round++) {
    for (const list of lists) if (round < list.length) out.push(list[round] as T);
  }
  return out;
}

/** SST-BF high-priority CPUs: a cpufreq base_frequency above the node's lowest (none when all are equal or unknown). */
export function highPriorityCpus(topology: Topology): number[] {
  const frequencies = [...topology.cpus.values()].flatMap((cpu) => (cpu.baseFrequencyKHz === undefined ? [] : [{ id: cpu.id, kHz: cpu.baseFrequencyKHz }]));
  if (frequencies.length === 0) return [];
  const lowest = Math.min(...frequencies.map((entry) => entry.kHz));
  return frequencies.filter((entry) => entry.kHz > lowest).map((entry) => entry.id);
}

function sstCpApplies(topology: Topology): boolean {
  return new Set([...topology.cpus.values()].flatMap((cpu) => (cpu.epp === undefined ? [] : [cpu.epp]))).size > 1;
}

/** One CPU list of a pool as init writes it. */
export interface ExpectedList {
  readonly socket: number;
  /** The list's key in the state: each core's CPUs in order, core after core ("3,11,4,12"). */
  readonly key: string;
  readonly cpus: CpuSet;
}

export interface ExpectedPools {
  /** One list per core, socket by socket, in CPU order within a socket. */
  readonly exclusive: readonly ExpectedList[];
  /** At most one list per socket. */
  readonly shared: readonly ExpectedList[];
  /** At most one list per socket. */
  readonly infra: readonly ExpectedList[];
  /** The pool document init stores (state.json's `config`): pool -> socket -> key -> no tasks. */
  readonly config: StateDocument["config"];
}

export interface PoolRequest {
  readonly exclusive: number;
  readonly shared: number;
  readonly exclusiveMode?: Mode;
  readonly sharedMode?: Mode;
}

/**
 * The pools `cmk init --num-exclusive-cores=E --num-shared-cores=S` carves on the node: the first
 * E cores of carvingOrder() for exclusive, the next S for shared, and for infra every other core
 * (every core not isolated, when cores are isolated: spare isolated cores join no pool).
 */
export function expectedPools(node: TestNode, request: PoolRequest): ExpectedPools {
  const exclusive = carvingOrder(node, request.exclusiveMode).slice(0, request.exclusive);
  const shared = carvingOrder(node, request.sharedMode)
    .filter((core) => !exclusive.includes(core))
    .slice(0, request.shared);
  if (exclusive.length < request.exclusive || shared.length < request.shared) {
    throw new Error(
      `${node.name} has ${carvingOrder(node).length} cores init may use for exclusive and shared pools, ${request.exclusive + request.shared} requested`,
    );
  }
  const taken = new Set([...exclusive, ...shared]);
  const isolating = node.topology.cores.some((core) => core.isolated);
  const infra = node.topology.cores.filter((core) => !taken.has(core) && !(isolating && core.isolated));
  if (infra.length === 0) throw new Error(`${node.name} has no core left for infra after ${request.exclusive} exclusive and ${request.shared} shared`);
  return poolsOf(node, { exclusive, shared, infra });
}

/** The pools, lists and pool document of a given assignment of cores, written as init writes them. */
export function poolsOf(
  node: TestNode,
  cores: { readonly exclusive: readonly Core[]; readonly shared: readonly Core[]; readonly infra: readonly Core[] },
): ExpectedPools {
  const sockets = node.topology.sockets.map((socket) => socket.id);
  const inPlatformOrder = (chosen: readonly Core[]): Core[] => node.topology.cores.filter((core) => chosen.includes(core));
  const perCore = (chosen: readonly Core[]): ExpectedList[] =>
    sockets.flatMap((socket) =>
      inPlatformOrder(chosen)
        .filter((core) => core.socket === socket)
        .map((core) => listOf(socket, [core]))
        .sort(byCpus),
    );
  const perSocket = (chosen: readonly Core[]): ExpectedList[] =>
    sockets.flatMap((socket) => {
      const members = inPlatformOrder(chosen).filter((core) => core.socket === socket);
      return members.length === 0 ? [] : [listOf(socket, members)];
    });
  const pools = { exclusive: perCore(cores.exclusive), shared: perSocket(cores.shared), infra: perSocket(cores.infra) };
  const config: StateDocument["config"] = {};
  for (const [pool, lists] of Object.entries(pools)) {
    config[pool] = Object.fromEntries(
      sockets.map((socket) => [String(socket), Object.fromEntries(lists.filter((list) => list.socket === socket).map((list) => [list.key, []]))]),
    );
  }
  return { ...pools, config };
}

function listOf(socket: number, cores: readonly Core[]): ExpectedList {
  return { socket, key: cores.map((core) => core.cpus.ids.join(",")).join(","), cpus: CpuSet.of(cores.flatMap((core) => core.cpus.ids)) };
}

function byCpus(a: ExpectedList, b: ExpectedList): number {
  const [x, y] = [a.cpus.ids, b.cpus.ids];
  for (let index = 0; index < Math.min(x.length, y.length); index++) if (x[index] !== y[index]) return (x[index] as number) - (y[index] as number);
  return x.length - y.length;
}

/** All CPUs of some lists (a pool's, as CMK_CPUS_INFRA and CMK_CPUS_SHARED carry them). */
export function cpusOf(lists: readonly ExpectedList[]): CpuSet {
  return CpuSet.of(lists.flatMap((list) => list.cpus.ids));
}

/** CMK_CPUS_ASSIGNED_MASK of a CPU set: bit n for CPU n, upper-case hex without 0x or leading zeros. */
export function cmkMask(cpus: CpuSet): string {
  return cpus.ids
    .reduce((mask, cpu) => mask | (1n << BigInt(cpu)), 0n)
    .toString(16)
    .toUpperCase();
}

/** The kernel's Cpus_allowed_list of a process (as /proc/<pid>/status shows it). */
export function allowedCpuList(pid: number | "self"): string {
  const match = /^Cpus_allowed_list:\s*(\S*)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (match === null) throw new Error(`no Cpus_allowed_list in /proc/${pid}/status`);
  return match[1] as string;
}
