// Reads the online CPUs' topology from sysfs. Shared files (sibling lists, package lists, cache
// shared_cpu_list, node cpulists) are read once per group and applied to every CPU they cover,
// so a 2048-CPU host costs a few thousand small reads rather than tens of thousands.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CpuSet } from "../core/cpuset.ts";
import { CmkError, describeCause } from "../core/errors.ts";
import type { CpuRecord } from "../core/topology.ts";

export interface SysfsOptions {
  /** System root holding sys/devices/system/...: "/" normally, a fixture tree in development. */
  readonly root: string;
  /** Also read the SST-BF base frequency and SST-CP energy preference of each CPU. */
  readonly power: boolean;
}

export function readCpuRecords(options: SysfsOptions): CpuRecord[] {
  const files = new SysfsFiles(options.root);
  const cpuRoot = join(options.root, "sys", "devices", "system", "cpu");
  const online = readOnline(files, cpuRoot);
  const numaNodes = readNumaNodes(files, options.root);
  const groups = readGroups(files, cpuRoot, online);
  const power = options.power ? powerAttributes(files, cpuRoot, online.first as number) : undefined;
  return online.ids.map((cpu) => cpuRecord(files, cpuRoot, cpu, groups, numaNodes.get(cpu) ?? -1, power));
}

/** The online CPUs, from cpu/online; a node without any is an error. */
function readOnline(files: SysfsFiles, cpuRoot: string): CpuSet {
  const onlineFile = join(cpuRoot, "online");
  const online = files.cpuList(onlineFile, files.mandatory(onlineFile));
  if (online.isEmpty) throw files.malformed(onlineFile, "lists no online CPU");
  return online;
}

/** CPU -> core id, socket, die and L3 id, for every online CPU. */
interface Groups {
  readonly online: CpuSet;
  readonly cores: Map<number, number>;
  readonly sockets: Map<number, number>;
  readonly dies: Map<number, number>;
  readonly l3s: Map<number, number>;
  /** Whether the kernel has die_id at all is a property of the kernel, not of a CPU. */
  hasDieId: boolean;
  /** Every CPU usually has its L3 at the same cache index; that one is tried first. */
  l3Index: string | undefined;
}

/** Walks the online CPUs, reading each group's shared list once (at its first CPU) and applying it to all members. */
function readGroups(files: SysfsFiles, cpuRoot: string, online: CpuSet): Groups {
  const groups: Groups = { online, cores: new Map(), sockets: new Map(), dies: new Map(), l3s: new Map(), hasDieId: true, l3Index: undefined };
  for (const cpu of online) {
    // Plain concatenation: path.join per file is a measurable share of a 2048-CPU read.
    const cpuDir = `${cpuRoot}/cpu${cpu}`;
    const topology = `${cpuDir}/topology`;
    if (!groups.cores.has(cpu)) readCoreAndDie(files, topology, cpu, groups);
    if (!groups.sockets.has(cpu)) readSocket(files, topology, cpu, groups);
    if (!groups.l3s.has(cpu)) readL3(files, `${cpuDir}/cache`, cpu, groups);
  }
  return groups;
}

/** Gives `value` to every online CPU of `members`. */
function assign(groups: Groups, target: Map<number, number>, members: CpuSet, value: number): void {
  for (const member of members) if (groups.online.has(member)) target.set(member, value);
}

/** The core of `cpu` (its thread siblings) and, while the core's CPUs have none yet, their die. */
function readCoreAndDie(files: SysfsFiles, topology: string, cpu: number, groups: Groups): void {
  const siblingsFile = `${topology}/thread_siblings_list`;
  const siblings = withCpu(
    cpu,
    files.optionalCpuList(siblingsFile) ?? files.cpuList(`${topology}/core_cpus_list`, files.mandatory(`${topology}/core_cpus_list`)),
  );
  assign(groups, groups.cores, siblings, files.integer(`${topology}/core_id`));
  if (groups.dies.has(cpu)) return;
  const text = groups.hasDieId ? files.optional(`${topology}/die_id`) : undefined;
  if (text === undefined) groups.hasDieId = false;
  const die = text === undefined ? 0 : files.parseInteger(`${topology}/die_id`, text);
  // die_cpus_list came with die_id (Linux 5.2); without it the core's siblings still share the die.
  const members = text === undefined ? undefined : files.optionalCpuList(`${topology}/die_cpus_list`);
  assign(groups, groups.dies, members === undefined ? siblings : members.union(siblings), die);
}

/** The socket (physical package) of `cpu` and of every CPU its package list names. */
function readSocket(files: SysfsFiles, topology: string, cpu: number, groups: Groups): void {
  const members = files.optionalCpuList(`${topology}/package_cpus_list`) ?? files.optionalCpuList(`${topology}/core_siblings_list`);
  const packageFile = `${topology}/physical_package_id`;
  const socket = files.integer(packageFile);
  // The socket becomes a key of the pool document, which takes whole numbers from 0 only.
  if (socket < 0) throw files.malformed(packageFile, `holds ${socket}, not a socket number (0 or more)`);
  assign(groups, groups.sockets, withCpu(cpu, members ?? CpuSet.empty), socket);
}

/** The L3 of `cpu` and of the CPUs sharing it, or -1 for `cpu` alone when it has none. */
function readL3(files: SysfsFiles, cacheDir: string, cpu: number, groups: Groups): void {
  const found = findL3(files, cacheDir, groups.l3Index);
  if (found === undefined) {
    groups.l3s.set(cpu, -1);
    return;
  }
  groups.l3Index = found.index;
  assign(groups, groups.l3s, withCpu(cpu, found.members), found.id);
}

/** One CPU's record from the groups, with its power attributes when they are read. */
function cpuRecord(
  files: SysfsFiles,
  cpuRoot: string,
  cpu: number,
  groups: Groups,
  numaNode: number,
  power: { baseFrequency: boolean; epp: boolean } | undefined,
): CpuRecord {
  const base = {
    id: cpu,
    socket: groups.sockets.get(cpu) as number,
    die: groups.dies.get(cpu) as number,
    core: groups.cores.get(cpu) as number,
    numaNode,
    l3: groups.l3s.get(cpu) as number,
  };
  if (power === undefined) return base;
  const cpufreq = `${cpuRoot}/cpu${cpu}/cpufreq`;
  const frequencyFile = `${cpufreq}/base_frequency`;
  const frequencyText = power.baseFrequency ? files.optional(frequencyFile) : undefined;
  const eppText = power.epp ? files.optional(`${cpufreq}/energy_performance_preference`) : undefined;
  const epp = eppText?.split("\n")[0]?.trim();
  return {
    ...base,
    ...(frequencyText === undefined ? {} : { baseFrequencyKHz: files.parseInteger(frequencyFile, frequencyText) }),
    ...(epp === undefined || epp === "" ? {} : { epp }),
  };
}

function withCpu(cpu: number, members: CpuSet): CpuSet {
  return members.has(cpu) ? members : members.union(CpuSet.of([cpu]));
}

/**
 * Which power attributes the cpufreq driver exposes, learnt from one CPU: the driver defines
 * them for every CPU, and probing each CPU for absent files would cost thousands of failed opens.
 */
function powerAttributes(files: SysfsFiles, cpuRoot: string, probeCpu: number): { baseFrequency: boolean; epp: boolean } {
  const entries = new Set(files.optionalDirectory(join(cpuRoot, `cpu${probeCpu}`, "cpufreq")) ?? []);
  return { baseFrequency: entries.has("base_frequency"), epp: entries.has("energy_performance_preference") };
}

/** CPU → NUMA node from node/node<N>/cpulist; empty when the kernel has no NUMA directory. */
function readNumaNodes(files: SysfsFiles, root: string): Map<number, number> {
  const nodeRoot = join(root, "sys", "devices", "system", "node");
  const byCpu = new Map<number, number>();
  const entries = files.optionalDirectory(nodeRoot);
  for (const entry of entries ?? []) {
    const match = /^node(\d+)$/.exec(entry);
    if (match === null) continue;
    const cpus = files.optionalCpuList(join(nodeRoot, entry, "cpulist"));
    for (const cpu of cpus ?? CpuSet.empty) byCpu.set(cpu, Number(match[1]));
  }
  return byCpu;
}

interface L3 {
  readonly index: string;
  readonly id: number;
  readonly members: CpuSet;
}

function findL3(files: SysfsFiles, cacheDir: string, likelyIndex: string | undefined): L3 | undefined {
  const atIndex = (index: string): L3 | undefined => {
    const dir = join(cacheDir, index);
    const levelFile = join(dir, "level");
    const level = files.optional(levelFile);
    if (level === undefined || files.parseInteger(levelFile, level) !== 3) return undefined;
    const members = files.optionalCpuList(join(dir, "shared_cpu_list")) ?? CpuSet.empty;
    const idFile = join(dir, "id");
    const idText = files.optional(idFile);
    // Kernels before 4.10 have no cache id; the lowest sharing CPU names the cache just as well.
    const id = idText === undefined ? members.first : files.parseInteger(idFile, idText);
    return id === undefined ? undefined : { index, id, members };
  };
  if (likelyIndex !== undefined) {
    const found = atIndex(likelyIndex);
    if (found !== undefined) return found;
  }
  const indexes = (files.optionalDirectory(cacheDir) ?? [])
    .filter((entry) => /^index\d+$/.test(entry) && entry !== likelyIndex)
    .sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)));
  for (const index of indexes) {
    const found = atIndex(index);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** File access with errors that name the file and say how to fix it. */
/** The variable that names a fake system root, for the hint of a failed read. */
const sysRootEnv = "CMK_DEV_LSCPU_SYSFS";

class SysfsFiles {
  readonly hint: string;

  constructor(root: string) {
    this.hint = root === "/" ? "check that sysfs is mounted at /sys" : `set ${sysRootEnv} to a system root holding sys/devices/system/cpu or unset it`;
  }

  mandatory(file: string): string {
    try {
      return readFileSync(file, "utf8");
    } catch (cause) {
      throw new CmkError("failure", `cannot read CPU topology from ${file}: ${describeCause(cause)}; ${this.hint}`, { cause });
    }
  }

  optional(file: string): string | undefined {
    try {
      return readFileSync(file, "utf8");
    } catch (cause) {
      if (isMissing(cause)) return undefined;
      throw new CmkError("failure", `cannot read CPU topology from ${file}: ${describeCause(cause)}; ${this.hint}`, { cause });
    }
  }

  optionalDirectory(dir: string): string[] | undefined {
    try {
      return readdirSync(dir);
    } catch (cause) {
      if (isMissing(cause)) return undefined;
      throw new CmkError("failure", `cannot list ${dir}: ${describeCause(cause)}; ${this.hint}`, { cause });
    }
  }

  integer(file: string): number {
    return this.parseInteger(file, this.mandatory(file));
  }

  parseInteger(file: string, text: string): number {
    const trimmed = text.trim();
    const value = /^-?\d+$/.test(trimmed) ? Number(trimmed) : NaN;
    if (!Number.isSafeInteger(value)) throw this.malformed(file, `holds "${trimmed}", not an integer${Number.isNaN(value) ? "" : " cmk can hold exactly"}`);
    return value;
  }

  cpuList(file: string, text: string): CpuSet {
    try {
      return CpuSet.parse(text, { what: `CPU list in ${file}` });
    } catch (cause) {
      throw this.malformed(file, `holds "${text.trim()}", not a kernel CPU list`, cause);
    }
  }

  optionalCpuList(file: string): CpuSet | undefined {
    const text = this.optional(file);
    return text === undefined ? undefined : this.cpuList(file, text);
  }

  malformed(file: string, why: string, cause?: unknown): CmkError {
    return new CmkError("failure", `invalid CPU topology file ${file}: it ${why}; ${this.hint}`, cause === undefined ? {} : { cause });
  }
}

function isMissing(cause: unknown): boolean {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}
