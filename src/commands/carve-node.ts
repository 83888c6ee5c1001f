// Reads the node's topology and carves it as `cmk init` and `cmk reconfigure` are asked to.
import { readHostTopology } from "../adapters/host-topology.ts";
import { readHugepagesFree } from "../adapters/procfs.ts";
import type { Context } from "../app/context.ts";
import { carvePools, type Carving } from "../core/carve.ts";
import { stateFromLayout, type NodeState } from "../core/node-state.ts";
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

/** One warning for each mode flag written with CMK's older name (vertical, horizontal). */
function warnOlderModeNames(options: CarvingOptions, context: Context): void {
  for (const [flag, choice] of [["--exclusive-mode", options.exclusiveMode], ["--shared-mode", options.sharedMode]] as const) {
    if (choice.givenAs !== undefined) {
      context.log.warning(`${flag}=${choice.givenAs} is deprecated: it is older CMK documentation's name for ${choice.mode}; write ${flag}=${choice.mode}`);
    }
  }
}

/** Reads the node and carves it, logging the notices. */
export function carveNode(options: CarvingOptions, context: Context): CarvedNode {
  warnOlderModeNames(options, context);
  const { procFs, sysRoot } = context.settings;
  if (readHugepagesFree(procFs) === 0) context.log.warning("no hugepages are free (HugePages_Free is 0); DPDK-style workloads will not start");
  const { topology, warnings } = readHostTopology(sysRoot, procFs, options.sst !== "off");
  for (const warning of warnings) context.log.warning(warning);
  const support = sstSupport(topology);
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
  return { carving, state: stateFromLayout(carving.layout) };
}

export function layoutSummary(carving: Carving): string {
  return [...carving.layout].map(([pool, sockets]) => `${pool} ${[...sockets.values()].reduce((count, lists) => count + lists.length, 0)}`).join(", ");
}
