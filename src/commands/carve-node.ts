// Reads the node's topology and carves it as `cmk init` and `cmk reconfigure` are asked to.
import { readHostTopology } from "../adapters/host-topology.ts";
import { readHugepagesFree } from "../adapters/procfs.ts";
import { choiceValue, integerValue, type ParsedArgs } from "../cli/args.ts";
import { procFs, type Context } from "../cli/context.ts";
import { carvePools, type CarveRequest, type Carving, type Mode } from "../core/carve.ts";
import { CpuSet } from "../core/cpuset.ts";
import { CmkError } from "../core/errors.ts";
import { stateFromLayout, type NodeState } from "../core/node-state.ts";

const modes: readonly Mode[] = ["packed", "spread"];
const sstModes = ["auto", "bf", "cp", "off"] as const;

function coreIdList(text: string): readonly number[] | null {
  if (text.trim() === "-1") return null;
  try {
    return CpuSet.parse(text, { what: "--excl-non-isolcpus core list" }).ids;
  } catch (error) {
    throw new CmkError("usage", `--excl-non-isolcpus="${text}" is not valid: expected physical core ids such as 0,3-5, or -1 for none`, { cause: error });
  }
}

function carveRequest(args: ParsedArgs, sstBf: boolean, sstCp: boolean): CarveRequest {
  const flag = (name: string): string => args.values.get(name) as string;
  return {
    numExclusiveCores: integerValue("--num-exclusive-cores", flag("num-exclusive-cores"), 0),
    numSharedCores: integerValue("--num-shared-cores", flag("num-shared-cores"), 0),
    exclusiveMode: choiceValue("--exclusive-mode", flag("exclusive-mode"), modes),
    sharedMode: choiceValue("--shared-mode", flag("shared-mode"), modes),
    exclNonIsolcpus: coreIdList(flag("excl-non-isolcpus")),
    sstBf,
    sstCp,
    socketId: flag("socket-id").trim() === "-1" ? null : integerValue("--socket-id", flag("socket-id"), 0),
  };
}

export interface CarvedNode {
  readonly carving: Carving;
  readonly state: NodeState;
}

/** Validates every carving flag first, then reads the node and carves it, logging the notices. */
export function carveNode(args: ParsedArgs, context: Context): CarvedNode {
  const sst = choiceValue("--sst", args.values.get("sst") as string, sstModes);
  carveRequest(args, false, false);
  const proc = procFs(context.env);
  if (readHugepagesFree(proc) === 0) context.log.warning("no hugepages are free (HugePages_Free is 0); DPDK-style workloads will not start");
  const { topology, warnings } = readHostTopology(context.env, proc, sst !== "off");
  for (const warning of warnings) context.log.warning(warning);
  const eppValues = new Set([...topology.cpus.values()].flatMap((cpu) => (cpu.epp === undefined ? [] : [cpu.epp])));
  const hasSstBf = [...topology.cpus.values()].some((cpu) => cpu.baseFrequencyKHz !== undefined);
  const request = carveRequest(args, sst === "bf" || (sst === "auto" && hasSstBf), sst === "cp" || (sst === "auto" && eppValues.size > 1));
  context.log.info(`requested ${request.numExclusiveCores} exclusive and ${request.numSharedCores} shared cores`);
  const carving = carvePools(topology, request);
  for (const notice of carving.notices) context.log[notice.level](notice.message);
  return { carving, state: stateFromLayout(carving.layout) };
}

export function layoutSummary(carving: Carving): string {
  return [...carving.layout].map(([pool, sockets]) => `${pool} ${[...sockets.values()].reduce((count, lists) => count + lists.length, 0)}`).join(", ");
}
