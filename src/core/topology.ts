// The node's CPU topology as CMK sees it: sockets (packages) of physical cores of logical CPUs,
// with the NUMA node, last-level cache and power attributes of each CPU. Pure data; the sysfs
// adapter fills it in.
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
  readonly id: number;
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
  /** All cores in platform order: socket by socket, cores by first appearance. */
  readonly cores: readonly Core[];
  readonly cpus: ReadonlyMap<number, CpuRecord>;
  readonly online: CpuSet;
  readonly isolcpus: CpuSet;
}

export function buildTopology(records: readonly CpuRecord[], isolcpus: CpuSet): Topology {
  const sorted = [...records].sort((a, b) => a.id - b.id);
  const socketOrder: number[] = [];
  const coresBySocket = new Map<number, Map<string, CpuRecord[]>>();
  for (const record of sorted) {
    let cores = coresBySocket.get(record.socket);
    if (cores === undefined) {
      cores = new Map();
      coresBySocket.set(record.socket, cores);
      socketOrder.push(record.socket);
    }
    const key = `${record.die}/${record.core}`;
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
        id: first.core,
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
