// The node's CPU topology as CMK sees it: sockets (packages) of physical cores of logical CPUs,
// with the NUMA node, last-level cache and power attributes of each CPU. Cores carry CMK's core
// ids, the node-wide numbers `lscpu -p` prints (see docs/core-ids.md), beside the kernel's
// core_id, which repeats on every socket. Pure data; the sysfs adapter fills it in.
import { CpuSet } from "./cpuset.ts";

/** What the sysfs reader reports for one online logical CPU. */
export interface CpuRecord {
  readonly id: number;
  readonly socket: number; // physical_package_id
  readonly die: number; // die_id (0 where the kernel has none)
  readonly core: number; // core_id, unique only within its package and die
  readonly numaNode: number; // -1 when the kernel exposes no NUMA information
  readonly l3: number; // id of the last-level cache, -1 when unknown
  /** cpufreq base_frequency in kHz (SST-BF), when the kernel exposes it. */
  readonly baseFrequencyKHz?: number;
  /** cpufreq energy_performance_preference (SST-CP), when the kernel exposes it. */
  readonly epp?: string;
}

export interface Core {
  readonly socket: number;
  readonly die: number;
  /**
   * CMK's core id, unique on the node: `lscpu -p`'s Core column. `--excl-non-isolcpus` and the
   * reports name cores by it.
   */
  readonly id: number;
  /** The kernel's topology/core_id: unique only within its socket and die. */
  readonly kernelCoreId: number;
  readonly cpus: CpuSet;
  readonly numaNode: number;
  readonly l3: number;
  /** Every CPU of the core is in isolcpus. */
  readonly isolated: boolean;
  /** Some but not all CPUs of the core are in isolcpus. */
  readonly partiallyIsolated: boolean;
}

export interface Socket {
  readonly id: number;
  readonly cores: readonly Core[];
}

export interface Topology {
  /** Sockets in order of first appearance by ascending CPU id, as CMK orders them. */
  readonly sockets: readonly Socket[];
  /** All cores in platform order: socket by socket, cores by first appearance (so by id within a socket). */
  readonly cores: readonly Core[];
  readonly cpus: ReadonlyMap<number, CpuRecord>;
  readonly online: CpuSet;
  readonly isolcpus: CpuSet;
}

/**
 * CMK's core ids, as `lscpu -p` numbers cores: walking the online CPUs by ascending id, each core
 * (the CPUs sharing socket, die and kernel core_id, which are the kernel's thread siblings) gets
 * the next number when its first CPU is met. Offline CPUs neither get nor use a number, so the
 * numbers follow which CPUs are online. `sorted` is ordered by CPU id.
 */
function logicalCoreIds(sorted: readonly CpuRecord[]): Map<string, number> {
  const ids = new Map<string, number>();
  for (const record of sorted) {
    const key = coreKey(record);
    if (!ids.has(key)) ids.set(key, ids.size);
  }
  return ids;
}

function coreKey(record: CpuRecord): string {
  return `${record.socket}/${record.die}/${record.core}`;
}

export function buildTopology(records: readonly CpuRecord[], isolcpus: CpuSet): Topology {
  const sorted = [...records].sort((a, b) => a.id - b.id);
  const coreIds = logicalCoreIds(sorted);
  const socketOrder: number[] = [];
  const coresBySocket = new Map<number, Map<string, CpuRecord[]>>();
  for (const record of sorted) {
    let cores = coresBySocket.get(record.socket);
    if (cores === undefined) {
      cores = new Map();
      coresBySocket.set(record.socket, cores);
      socketOrder.push(record.socket);
    }
    const key = coreKey(record);
    const members = cores.get(key);
    if (members === undefined) cores.set(key, [record]);
    else members.push(record);
  }
  const sockets: Socket[] = socketOrder.map((socketId) => {
    const cores = [...(coresBySocket.get(socketId) ?? new Map<string, CpuRecord[]>()).values()].map((members): Core => {
      const first = members[0] as CpuRecord;
      const cpus = CpuSet.of(members.map((member) => member.id));
      const isolatedCount = cpus.intersection(isolcpus).size;
      return {
        socket: socketId,
        die: first.die,
        id: coreIds.get(coreKey(first)) as number,
        kernelCoreId: first.core,
        cpus,
        numaNode: first.numaNode,
        l3: first.l3,
        isolated: isolatedCount === cpus.size,
        partiallyIsolated: isolatedCount > 0 && isolatedCount < cpus.size,
      };
    });
    return { id: socketId, cores };
  });
  return {
    sockets,
    cores: sockets.flatMap((socket) => socket.cores),
    cpus: new Map(sorted.map((record) => [record.id, record])),
    online: CpuSet.of(sorted.map((record) => record.id)),
    isolcpus,
  };
}

/**
 * SST-BF high-priority CPUs: base frequency above the node's lowest base frequency (P1).
 * Empty when no CPU reports a base frequency or all report the same one.
 */
export function sstBfCpus(topology: Topology): CpuSet {
  const frequencies = [...topology.cpus.values()].flatMap((cpu) =>
    cpu.baseFrequencyKHz === undefined ? [] : [{ id: cpu.id, frequency: cpu.baseFrequencyKHz }],
  );
  if (frequencies.length === 0) return CpuSet.empty;
  const p1 = Math.min(...frequencies.map((entry) => entry.frequency));
  return CpuSet.of(frequencies.filter((entry) => entry.frequency > p1).map((entry) => entry.id));
}

/** A core is an SST-BF core when all its CPUs are high-priority. */
export function isSstBfCore(core: Core, highPriority: CpuSet): boolean {
  return !highPriority.isEmpty && core.cpus.isSubsetOf(highPriority);
}
