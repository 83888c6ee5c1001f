// Generates fake system roots (sys/devices/system/{cpu,node}, proc/cmdline, proc/meminfo) laid out
// as the kernel lays them out, for topologies this machine does not have. Point
// CMK_DEV_LSCPU_SYSFS at the generated directory.
//   node_modules/.bin/node scripts/gen-sysfs-fixture.ts <fixture-name> <dir>
//   node_modules/.bin/node scripts/gen-sysfs-fixture.ts --list
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CpuSet } from "../src/core/cpuset.ts";
import { parseIsolcpus } from "../src/core/isolcpus.ts";
import { buildTopology, type CpuRecord, type Topology } from "../src/core/topology.ts";

export interface FixtureSpec {
  sockets: number;
  coresPerSocket: number;
  threadsPerCore: number;
  /** Default 1: NUMA nodes split each socket's cores evenly. */
  numaPerSocket?: number;
  /** Default 1: L3 groups split each socket's cores evenly. */
  l3PerSocket?: number;
  /** Kernel cpulist of CPUs to mark offline. */
  offline?: string;
  /** Default true: core_id restarts per socket, as on real Intel servers. */
  coreIdsRepeatAcrossSockets?: boolean;
  /** Default 1: core_id = index * stride, for non-contiguous core ids. */
  coreIdStride?: number;
  /** Default "thread-major": CPU = thread * totalCores + core (Linux on Intel); "core-major": siblings adjacent. */
  cpuNumbering?: "thread-major" | "core-major";
  /** Default "BOOT_IMAGE=/vmlinuz root=/dev/sda1". */
  cmdline?: string;
  baseFrequencyKHz?: (cpu: number) => number | undefined;
  epp?: (cpu: number) => string | undefined;
  /** Writes proc/meminfo with this HugePages_Free. */
  hugepagesFree?: number;
}

const defaultCmdline = "BOOT_IMAGE=/vmlinuz root=/dev/sda1";

interface CpuPlace {
  readonly cpu: number;
  readonly socket: number;
  readonly globalCore: number;
  readonly coreId: number;
  readonly numaNode: number;
  readonly l3: number;
}

/** Writes the system root of `spec` into `dir` (which must not hold one yet). */
export function generateSysfs(dir: string, spec: FixtureSpec): void {
  checkSpec(dir, spec);
  const offline = offlineCpus(spec);
  const places = placeCpus(spec);
  const online = places.filter((place) => !offline.has(place.cpu));
  const lists = groupListsOf(online);
  const system = join(dir, "sys", "devices", "system");
  const cpuRoot = join(system, "cpu");
  writeCpuRoot(cpuRoot, spec, online, offline);
  const powered = spec.baseFrequencyKHz !== undefined || spec.epp !== undefined;
  if (powered) mkdirSync(join(cpuRoot, "cpufreq"));
  for (const place of places) writeCpu(cpuRoot, place, !offline.has(place.cpu), lists, powered ? spec : undefined);
  writeNodes(join(system, "node"), spec.sockets * (spec.numaPerSocket ?? 1), lists.nodes);
  writeProc(join(dir, "proc"), spec);
}

/**
 * The topology cmk reads from the system root generateSysfs writes for `spec` (sysfs with power
 * attributes, isolcpus from its kernel command line), built in memory without writing it: for
 * tests that try many topologies (test/unit/*.property.test.ts). test/unit/sysfs.test.ts checks
 * that it equals what cmk reads from the written tree.
 */
export function fixtureTopology(spec: FixtureSpec): Topology {
  checkShape(spec);
  const offline = offlineCpus(spec);
  const records = placeCpus(spec)
    .filter((place) => !offline.has(place.cpu))
    .map((place): CpuRecord => {
      const frequency = spec.baseFrequencyKHz?.(place.cpu);
      const epp = spec.epp?.(place.cpu);
      return {
        id: place.cpu,
        socket: place.socket,
        die: 0,
        core: place.coreId,
        numaNode: place.numaNode,
        l3: place.l3,
        ...(frequency === undefined ? {} : { baseFrequencyKHz: frequency }),
        ...(epp === undefined ? {} : { epp }),
      };
    });
  const lastCpu = records.reduce((last, record) => Math.max(last, record.id), 0);
  return buildTopology(records, parseIsolcpus(spec.cmdline ?? defaultCmdline, lastCpu).cpus);
}

const write = (file: string, text: string): void => writeFileSync(file, text);

/** Refuses impossible shapes, and any directory that already holds a system root. */
function checkSpec(dir: string, spec: FixtureSpec): void {
  checkShape(spec);
  // Refuse to write over an existing system root: a mistyped <dir> of "/" must do no harm.
  for (const top of ["sys", "proc"]) {
    if (existsSync(join(dir, top))) throw new Error(`${join(dir, top)} already exists; generate into an empty directory`);
  }
}

/** The fixture's offline CPUs, which must exist and must not include CPU 0. */
/** Refuses impossible shapes. */
function checkShape(spec: FixtureSpec): void {
  const { sockets, coresPerSocket, threadsPerCore } = spec;
  for (const [name, value] of Object.entries({ sockets, coresPerSocket, threadsPerCore })) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got ${value}`);
  }
  if ((spec.numaPerSocket ?? 1) > coresPerSocket || (spec.l3PerSocket ?? 1) > coresPerSocket) {
    throw new Error("numaPerSocket and l3PerSocket cannot exceed coresPerSocket");
  }
}

function offlineCpus(spec: FixtureSpec): CpuSet {
  const total = spec.sockets * spec.coresPerSocket * spec.threadsPerCore;
  const offline = CpuSet.parse(spec.offline ?? "");
  if (offline.has(0)) throw new Error("CPU 0 cannot be offline (the kernel does not let it go)");
  if (!offline.isEmpty && (offline.last as number) >= total) throw new Error(`offline CPU ${offline.last} is beyond the ${total} CPUs`);
  return offline;
}

/** Every CPU of the fixture with its socket, core, NUMA node and L3, in CPU order. */
function placeCpus(spec: FixtureSpec): CpuPlace[] {
  const { sockets, coresPerSocket, threadsPerCore } = spec;
  const numaPerSocket = spec.numaPerSocket ?? 1;
  const l3PerSocket = spec.l3PerSocket ?? 1;
  const totalCores = sockets * coresPerSocket;
  const stride = spec.coreIdStride ?? 1;
  const repeat = spec.coreIdsRepeatAcrossSockets ?? true;
  const threadMajor = (spec.cpuNumbering ?? "thread-major") === "thread-major";
  const places: CpuPlace[] = [];
  for (let socket = 0; socket < sockets; socket++) {
    for (let local = 0; local < coresPerSocket; local++) {
      const globalCore = socket * coresPerSocket + local;
      for (let thread = 0; thread < threadsPerCore; thread++) {
        places.push({
          cpu: threadMajor ? thread * totalCores + globalCore : globalCore * threadsPerCore + thread,
          socket,
          globalCore,
          coreId: (repeat ? local : globalCore) * stride,
          numaNode: socket * numaPerSocket + Math.floor((local * numaPerSocket) / coresPerSocket),
          l3: socket * l3PerSocket + Math.floor((local * l3PerSocket) / coresPerSocket),
        });
      }
    }
  }
  return places.sort((a, b) => a.cpu - b.cpu);
}

/** The kernel's cpulist of each core, package, L3 and NUMA node, keyed by its number. */
interface GroupLists {
  readonly cores: Map<number, string>;
  readonly packages: Map<number, string>;
  readonly l3s: Map<number, string>;
  readonly nodes: Map<number, string>;
}

/** The sibling, package, cache and node lists; the kernel drops offline CPUs from every one. */
function groupListsOf(online: readonly CpuPlace[]): GroupLists {
  const lists = (key: (place: CpuPlace) => number): Map<number, string> => {
    const groups = new Map<number, number[]>();
    for (const place of online) {
      const members = groups.get(key(place));
      if (members === undefined) groups.set(key(place), [place.cpu]);
      else members.push(place.cpu);
    }
    return new Map([...groups].map(([group, cpus]) => [group, `${CpuSet.of(cpus).toString()}\n`]));
  };
  return {
    cores: lists((place) => place.globalCore),
    packages: lists((place) => place.socket),
    l3s: lists((place) => place.l3),
    nodes: lists((place) => place.numaNode),
  };
}

/** cpu/online, possible, present, offline and kernel_max. */
function writeCpuRoot(cpuRoot: string, spec: FixtureSpec, online: readonly CpuPlace[], offline: CpuSet): void {
  const total = spec.sockets * spec.coresPerSocket * spec.threadsPerCore;
  mkdirSync(cpuRoot, { recursive: true });
  const all = `0-${total - 1}\n`;
  write(join(cpuRoot, "online"), `${CpuSet.of(online.map((place) => place.cpu)).toString()}\n`);
  write(join(cpuRoot, "possible"), all);
  write(join(cpuRoot, "present"), all);
  write(join(cpuRoot, "offline"), `${offline.toString()}\n`);
  write(join(cpuRoot, "kernel_max"), `${total <= 256 ? 255 : 8191}\n`);
}

/** cpuN: its online flag (CPU 0 has none) and, when online, its topology, caches and (given a powered spec) cpufreq. */
function writeCpu(cpuRoot: string, place: CpuPlace, isOnline: boolean, lists: GroupLists, power: FixtureSpec | undefined): void {
  const cpuDir = join(cpuRoot, `cpu${place.cpu}`);
  mkdirSync(cpuDir);
  if (place.cpu !== 0) write(join(cpuDir, "online"), isOnline ? "1\n" : "0\n");
  if (!isOnline) return;
  writeTopology(join(cpuDir, "topology"), place, lists);
  writeCaches(join(cpuDir, "cache"), place, lists);
  if (power !== undefined) writeCpufreq(cpuRoot, cpuDir, place.cpu, power);
}

/** cpuN/topology: package, die and core ids and the sibling lists. */
function writeTopology(topology: string, place: CpuPlace, lists: GroupLists): void {
  mkdirSync(topology);
  const siblings = lists.cores.get(place.globalCore) as string;
  const packageCpus = lists.packages.get(place.socket) as string;
  write(join(topology, "physical_package_id"), `${place.socket}\n`);
  write(join(topology, "die_id"), "0\n");
  write(join(topology, "core_id"), `${place.coreId}\n`);
  write(join(topology, "thread_siblings_list"), siblings);
  write(join(topology, "core_cpus_list"), siblings);
  write(join(topology, "package_cpus_list"), packageCpus);
  write(join(topology, "core_siblings_list"), packageCpus);
  write(join(topology, "die_cpus_list"), packageCpus);
}

/** cpuN/cache/index0-3: L1 data and instruction and L2 per core, L3 per L3 group. */
function writeCaches(cacheRoot: string, place: CpuPlace, lists: GroupLists): void {
  const siblings = lists.cores.get(place.globalCore) as string;
  const caches = [
    { level: 1, type: "Data", id: place.globalCore, shared: siblings },
    { level: 1, type: "Instruction", id: place.globalCore, shared: siblings },
    { level: 2, type: "Unified", id: place.globalCore, shared: siblings },
    { level: 3, type: "Unified", id: place.l3, shared: lists.l3s.get(place.l3) as string },
  ];
  caches.forEach((cache, index) => {
    const cacheDir = join(cacheRoot, `index${index}`);
    mkdirSync(cacheDir, { recursive: true });
    write(join(cacheDir, "level"), `${cache.level}\n`);
    write(join(cacheDir, "type"), `${cache.type}\n`);
    write(join(cacheDir, "id"), `${cache.id}\n`);
    write(join(cacheDir, "shared_cpu_list"), cache.shared);
  });
}

/** As with intel_pstate: one policy per CPU, cpuN/cpufreq a link to ../cpufreq/policyN, with the fixture's base frequency and EPP. */
function writeCpufreq(cpuRoot: string, cpuDir: string, cpu: number, spec: FixtureSpec): void {
  const policy = join(cpuRoot, "cpufreq", `policy${cpu}`);
  mkdirSync(policy);
  symlinkSync(join("..", "cpufreq", `policy${cpu}`), join(cpuDir, "cpufreq"));
  const frequency = spec.baseFrequencyKHz?.(cpu);
  if (frequency !== undefined) write(join(policy, "base_frequency"), `${frequency}\n`);
  const epp = spec.epp?.(cpu);
  if (epp !== undefined) {
    write(join(policy, "energy_performance_preference"), `${epp}\n`);
    write(join(policy, "energy_performance_available_preferences"), "default performance balance_performance balance_power power \n");
  }
}

/** node/online, possible and nodeN/cpulist for every NUMA node. */
function writeNodes(nodeRoot: string, count: number, nodeLists: ReadonlyMap<number, string>): void {
  mkdirSync(nodeRoot);
  const nodes = `0-${count - 1}\n`;
  write(join(nodeRoot, "online"), nodes);
  write(join(nodeRoot, "possible"), nodes);
  for (let node = 0; node < count; node++) {
    mkdirSync(join(nodeRoot, `node${node}`));
    write(join(nodeRoot, `node${node}`, "cpulist"), nodeLists.get(node) ?? "\n");
  }
}

/** proc/cmdline and, when the fixture gives free hugepages, proc/meminfo. */
function writeProc(proc: string, spec: FixtureSpec): void {
  mkdirSync(proc);
  write(join(proc, "cmdline"), `${spec.cmdline ?? defaultCmdline}\n`);
  if (spec.hugepagesFree === undefined) return;
  const total = Math.max(spec.hugepagesFree, 64);
  write(
    join(proc, "meminfo"),
    [
      "MemTotal:       394877152 kB",
      "MemFree:        312456780 kB",
      "MemAvailable:   351234560 kB",
      `HugePages_Total:   ${total}`,
      `HugePages_Free:    ${spec.hugepagesFree}`,
      "HugePages_Rsvd:        0",
      "HugePages_Surp:        0",
      "Hugepagesize:       2048 kB",
      `Hugetlb:        ${total * 2048} kB`,
      "",
    ].join("\n"),
  );
}

/** Core index of a CPU under thread-major numbering. */
const coreOf =
  (totalCores: number) =>
  (cpu: number): number =>
    cpu % totalCores;

export const fixtures: Record<string, FixtureSpec> = {
  // One socket of two single-thread cores, nothing isolated: the smallest node init can carve.
  "plain-1s2c": { sockets: 1, coresPerSocket: 2, threadsPerCore: 1 },
  // Two sockets of four two-thread cores, core n = CPUs n and n+8, core ids unique across sockets;
  // cores 0-2 and 4-6 isolated (example B of docs/cmk-compatibility.md).
  "example-2s16c": {
    sockets: 2,
    coresPerSocket: 4,
    threadsPerCore: 2,
    coreIdsRepeatAcrossSockets: false,
    cmdline: `${defaultCmdline} isolcpus=0-2,4-6,8-10,12-14`,
  },
  // One socket of eight two-thread cores, core n = CPUs n and n+8; cores 1 and 2 isolated
  // (example A of docs/cmk-compatibility.md).
  "example-1s8c": {
    sockets: 1,
    coresPerSocket: 8,
    threadsPerCore: 2,
    cmdline: `${defaultCmdline} isolcpus=1,2,9,10`,
  },
  // Socket s holds cores 32s..32s+31 = CPUs 32s.. and 128+32s..; cores 4-15 of each socket isolated.
  "server-4s256": {
    sockets: 4,
    coresPerSocket: 32,
    threadsPerCore: 2,
    numaPerSocket: 2,
    l3PerSocket: 4,
    coreIdStride: 2,
    cmdline: `${defaultCmdline} isolcpus=domain,managed_irq,4-15,36-47,68-79,100-111,132-143,164-175,196-207,228-239 nohz_full=4-15,132-143`,
    hugepagesFree: 512,
  },
  // 8 sockets x 128 cores x 2 threads; cores 8-63 of sockets 0 and 1 isolated.
  "host-2048": {
    sockets: 8,
    coresPerSocket: 128,
    threadsPerCore: 2,
    numaPerSocket: 2,
    l3PerSocket: 2,
    cmdline: `${defaultCmdline} isolcpus=8-63,136-191,1032-1087,1160-1215`,
  },
  // Core n = CPUs n and n+8. CPU 6 offline leaves core 6 with CPU 14 only; core 7 (7, 15) is gone.
  // Core 1 (1, 9) is partially isolated, core 2 (2, 10) fully.
  "offline-mix": {
    sockets: 2,
    coresPerSocket: 4,
    threadsPerCore: 2,
    offline: "6-7,15",
    cmdline: `${defaultCmdline} isolcpus=1,2,10`,
  },
  // Cores 1, 3, 4 and 6 (CPUs n and n+8) run at the higher SST-BF base frequency; cores 1-6 isolated.
  "sst-bf": {
    sockets: 1,
    coresPerSocket: 8,
    threadsPerCore: 2,
    cmdline: `${defaultCmdline} isolcpus=1-6,9-14`,
    baseFrequencyKHz: (cpu) => ([1, 3, 4, 6].includes(coreOf(8)(cpu)) ? 2700000 : 2100000),
  },
  // Cores 0-1 performance, 2-3 balance_power, 4-7 power (CPUs n and n+8).
  "sst-cp": {
    sockets: 1,
    coresPerSocket: 8,
    threadsPerCore: 2,
    epp: (cpu) => {
      const core = coreOf(8)(cpu);
      return core < 2 ? "performance" : core < 4 ? "balance_power" : "power";
    },
  },
};

function describe(spec: FixtureSpec): string {
  const total = spec.sockets * spec.coresPerSocket * spec.threadsPerCore;
  return (
    `${spec.sockets} socket(s) x ${spec.coresPerSocket} cores x ${spec.threadsPerCore} threads = ${total} CPUs` +
    `, ${spec.sockets * (spec.numaPerSocket ?? 1)} NUMA node(s)${spec.offline === undefined ? "" : `, offline ${spec.offline}`}`
  );
}

if (import.meta.main) {
  const [first, second] = process.argv.slice(2);
  if (first === "--list") {
    for (const [name, spec] of Object.entries(fixtures)) console.log(`${name}\t${describe(spec)}`);
  } else if (first === undefined || second === undefined || fixtures[first] === undefined) {
    const known = Object.keys(fixtures).join(", ");
    console.error(
      first === undefined || second === undefined
        ? `usage: gen-sysfs-fixture.ts <fixture-name> <dir> | --list (fixtures: ${known})`
        : `unknown fixture "${first}"; choose one of ${known}`,
    );
    process.exitCode = 2;
  } else {
    try {
      generateSysfs(second, fixtures[first]);
      console.log(`${second}: ${first} (${describe(fixtures[first])}); use CMK_DEV_LSCPU_SYSFS=${second}`);
    } catch (error) {
      console.error(`gen-sysfs-fixture: ${error instanceof Error ? error.message : String(error)}`);
      process.exitCode = 1;
    }
  }
}
