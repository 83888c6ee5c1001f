// Reads the node's topology and carves it as `cmk init` and `cmk reconfigure` are asked to.
import { readHostTopology } from "../adapters/host-topology.ts";
import { readHugepagesFree } from "../adapters/procfs.ts";
import type { Context } from "../app/context.ts";
import { type Carving, carvePools } from "../core/carve.ts";
import { CmkError } from "../core/errors.ts";
import { type NodeState, stateFromLayout } from "../core/node-state.ts";
import type { Topology } from "../core/topology.ts";
import type { carvingFlags, OptionsOf } from "./flags.ts";

export type CarvingOptions = OptionsOf<typeof carvingFlags>;

export interface CarvedNode {
  readonly carving: Carving;
  readonly state: NodeState;
}

/** Whether the node's CPUs report SST-BF base frequencies, and SST-CP energy preferences (more than one value). */
function sstSupport(topology: Topology): { readonly bf: boolean; readonly cp: boolean } {
  const cpus = [...topology.cpus.values()];
  const eppValues = new Set(cpus.flatMap((cpu) => (cpu.epp === undefined ? [] : [cpu.epp])));
  return { bf: cpus.some((cpu) => cpu.baseFrequencyKHz !== undefined), cp: eppValues.size > 1 };
}

/** Refuses an SST strategy asked for by name on a node whose CPUs do not report it. */
function requireSst(mode: CarvingOptions["sst"], support: { readonly bf: boolean; readonly cp: boolean }): void {
  if (mode === "bf" && !support.bf) {
    throw new CmkError(
      "does-not-fit",
      "--sst=bf: no CPU of this node reports a cpufreq base_frequency, so it has no Intel SST-BF; use --sst=auto or --sst=off",
    );
  }
  if (mode === "cp" && !support.cp) {
    throw new CmkError(
      "does-not-fit",
      "--sst=cp: the CPUs of this node do not report two or more energy_performance_preference values, so it has no Intel SST-CP set up; use --sst=auto or --sst=off",
    );
  }
}

/** One warning for each mode flag written with CMK's older name (vertical, horizontal). */
function warnOlderModeNames(options: CarvingOptions, context: Context): void {
  for (const [flag, choice] of [
    ["--exclusive-mode", options.exclusiveMode],
    ["--shared-mode", options.sharedMode],
  ] as const) {
    if (choice.givenAs !== undefined) {
      context.log.warning(`${flag}=${choice.givenAs} is deprecated: it is older CMK documentation's name for ${choice.mode}; write ${flag}=${choice.mode}`);
    }
  }
}

/** Reads the node and carves it, logging the notices. */
export function carveNode(options: CarvingOptions, context: Context): CarvedNode {
  warnOlderModeNames(options, context);
  const { sysRoot, kernelFs } = context.settings;
  if (readHugepagesFree(kernelFs) === 0) context.log.warning("no hugepages are free (HugePages_Free is 0); DPDK-style workloads will not start");
  const { topology, warnings } = readHostTopology(sysRoot, kernelFs, options.sst !== "off");
  for (const warning of warnings) context.log.warning(warning);
  context.log.debug(
    `topology: ${topology.sockets.length} socket(s), ${topology.cores.length} physical cores, CPUs ${topology.online}, isolcpus ${topology.isolcpus.isEmpty ? "none" : topology.isolcpus.toString()}`,
  );
  const support = sstSupport(topology);
  context.log.debug(`SST-BF ${support.bf ? "reported" : "not reported"}, SST-CP ${support.cp ? "set up" : "not set up"}; --sst=${options.sst}`);
  requireSst(options.sst, support);
  context.log.info(`requested ${options.numExclusiveCores} exclusive and ${options.numSharedCores} shared cores`);
  const carving = carvePools(topology, {
    numExclusiveCores: options.numExclusiveCores,
    numSharedCores: options.numSharedCores,
    exclusiveMode: options.exclusiveMode.mode,
    sharedMode: options.sharedMode.mode,
    exclNonIsolcpus: options.exclNonIsolcpus,
    sstBf: options.sst === "bf" || (options.sst === "auto" && support.bf),
    sstCp: options.sst === "cp" || (options.sst === "auto" && support.cp),
    socketId: options.socketId,
  });
  for (const notice of carving.notices) context.log[notice.level](notice.message);
  for (const [pool, sockets] of carving.layout) {
    for (const [socket, lists] of sockets)
      context.log.debug(`${pool} socket ${socket}: ${lists.length === 0 ? "no CPU lists" : lists.map((list) => list.key).join(" / ")}`);
  }
  if (options.sst === "bf" && carving.strategy !== "sst-bf")
    context.log.warning("--sst=bf: no isolated core is an SST-BF high-priority core, so the pools were carved without SST-BF");
  if (options.sst === "cp" && carving.strategy !== "sst-cp")
    context.log.warning("--sst=cp: SST-CP carves isolated cores and this node isolates none, so the pools were carved without SST-CP");
  return { carving, state: stateFromLayout(carving.layout) };
}

export function layoutSummary(carving: Carving): string {
  return [...carving.layout].map(([pool, sockets]) => `${pool} ${[...sockets.values()].reduce((count, lists) => count + lists.length, 0)}`).join(", ");
}
