// cmk init: carve the node's CPUs into pools and store them. Idempotent for the same layout;
// refuses to re-carve while tasks are allocated (that is `cmk reconfigure`'s job).
import { readHostTopology } from "../adapters/host-topology.ts";
import { readHugepagesFree } from "../adapters/procfs.ts";
import { choiceValue, integerValue, type ParsedArgs } from "../cli/args.ts";
import { openStore, procFs, type Context } from "../cli/context.ts";
import { carvePools, type CarveRequest, type Mode } from "../core/carve.ts";
import { CpuSet } from "../core/cpuset.ts";
import { CmkError } from "../core/errors.ts";
import { allTaskIds, sameLayout, stateFromLayout } from "../core/node-state.ts";

const modes: readonly Mode[] = ["packed", "spread"];
const sstModes = ["auto", "bf", "cp", "off"] as const;

export function coreIdList(text: string): readonly number[] | null {
  if (text.trim() === "-1") return null;
  try {
    return CpuSet.parse(text, { what: "--excl-non-isolcpus core list" }).ids;
  } catch (error) {
    throw new CmkError("usage", `--excl-non-isolcpus="${text}" is not valid: expected physical core ids such as 0,3-5, or -1 for none`, { cause: error });
  }
}

/** The carving parameters shared by init and reconfigure. */
export function carveRequestFromArgs(args: ParsedArgs, sstBf: boolean, sstCp: boolean): CarveRequest {
  const flag = (name: string): string => args.values.get(name) as string;
  const socket = flag("socket-id").trim() === "-1" ? null : integerValue("--socket-id", flag("socket-id"), 0);
  return {
    numExclusiveCores: integerValue("--num-exclusive-cores", flag("num-exclusive-cores"), 0),
    numSharedCores: integerValue("--num-shared-cores", flag("num-shared-cores"), 0),
    exclusiveMode: choiceValue("--exclusive-mode", flag("exclusive-mode"), modes),
    sharedMode: choiceValue("--shared-mode", flag("shared-mode"), modes),
    exclNonIsolcpus: coreIdList(flag("excl-non-isolcpus")),
    sstBf,
    sstCp,
    socketId: socket,
  };
}

export async function run(args: ParsedArgs, context: Context): Promise<number> {
  const sst = choiceValue("--sst", args.values.get("sst") as string, sstModes);
  // Validate every flag before touching the system.
  carveRequestFromArgs(args, false, false);
  const store = openStore(args, context);
  const proc = procFs(context.env);
  const hugepages = readHugepagesFree(proc);
  if (hugepages === 0) context.log.warning("no hugepages are free (HugePages_Free is 0); DPDK-style workloads will not start");
  const { topology, warnings } = readHostTopology(context.env, proc, sst !== "off");
  for (const warning of warnings) context.log.warning(warning);
  const eppValues = new Set([...topology.cpus.values()].flatMap((cpu) => (cpu.epp === undefined ? [] : [cpu.epp])));
  const hasSstBf = [...topology.cpus.values()].some((cpu) => cpu.baseFrequencyKHz !== undefined);
  const request = carveRequestFromArgs(
    args,
    sst === "bf" || (sst === "auto" && hasSstBf),
    sst === "cp" || (sst === "auto" && eppValues.size > 1),
  );
  context.log.info(`requested ${request.numExclusiveCores} exclusive and ${request.numSharedCores} shared cores`);
  const carving = carvePools(topology, request);
  for (const notice of carving.notices) context.log[notice.level](notice.message);
  const carved = stateFromLayout(carving.layout);

  const outcome = await store.update((current) => {
    if (current !== null && sameLayout(current, carved)) return { result: "unchanged" as const };
    const tasks = current === null ? 0 : allTaskIds(current).size;
    if (tasks > 0) {
      throw new CmkError("conflict", `${store.location} already has pools with ${tasks} running task(s), carved differently; use cmk reconfigure to change pool sizes while workloads run, or stop them first`);
    }
    return { state: carved, result: current === null ? ("created" as const) : ("replaced" as const) };
  });
  const summary = [...carving.layout].map(([pool, sockets]) => `${pool} ${[...sockets.values()].reduce((count, lists) => count + lists.length, 0)}`).join(", ");
  const verb = outcome === "unchanged" ? "is already initialised with these pools" : outcome === "created" ? "initialised" : "re-initialised";
  context.log.info(`${store.location} ${verb} (${carving.strategy}; CPU lists per pool: ${summary})`);
  return 0;
}
