// cmk node-report: topology, state description and consistency checks, as JSON (CMK's report)
// or as a terminal map of the node.
import { taskAffinityReader } from "../adapters/affinity.ts";
import { readHostTopology } from "../adapters/host-topology.ts";
import { openStore, type Context } from "../app/context.ts";
import { repeatEvery } from "../app/repeat.ts";
import { findMaskMismatches, findOverlaps, findUnisolated } from "../core/checks.ts";
import { describeState, sortedJson, type Json } from "../core/describe.ts";
import { describeCause } from "../core/errors.ts";
import { renderNodeMap } from "../core/node-map.ts";
import type { NodeState } from "../core/node-state.ts";
import type { StateStore } from "../core/state-store.ts";
import { sstBfCpus, type Topology } from "../core/topology.ts";
import type { nodeReportFlags, OptionsOf } from "./flags.ts";

function check(errors: string[]): Json {
  return { errors, ok: errors.length === 0 };
}

function topologyJson(topology: Topology): Json {
  const highPriority = sstBfCpus(topology);
  const sockets: { [key: string]: Json } = {};
  for (const socket of topology.sockets) {
    sockets[String(socket.id)] = {
      id: socket.id,
      cores: socket.cores.map((core) => ({
        id: core.id,
        kernelCoreId: core.kernelCoreId,
        numaNode: core.numaNode,
        l3: core.l3,
        cpus: [...core.cpus].map((cpu) => ({ id: cpu, isolated: topology.isolcpus.has(cpu), ...(highPriority.has(cpu) ? { sst_bf: true } : {}) })),
      })),
    };
  }
  return { sockets };
}

function buildReport(topology: Topology, state: NodeState | null, stateError: string | null, location: string, proc: string): Json {
  const configErrors: string[] = stateError === null ? [] : [`Unable to read the CMK configuration directory ${location}: ${stateError}`];
  const isolationErrors: string[] = [];
  const affinityErrors: string[] = [];
  if (state !== null) {
    for (const overlap of findOverlaps(state)) {
      configErrors.push(`CPU list overlap detected in ${overlap.a} and ${overlap.b} (in both: ${overlap.cpus})`);
    }
    for (const entry of findUnisolated(state, topology.isolcpus)) {
      isolationErrors.push(`${entry.pool}:${entry.list} has CPUs ${entry.cpus} not isolated by isolcpus`);
    }
    for (const mismatch of findMaskMismatches(state, taskAffinityReader(proc, state))) {
      affinityErrors.push(`task ${mismatch.pid} in ${mismatch.pool}:${mismatch.cpus} runs on CPUs ${mismatch.actualCpus}`);
    }
  }
  return {
    checks: { affinity: check(affinityErrors), configDirectory: check(configErrors), isolation: check(isolationErrors) },
    description: state === null ? null : describeState(state, location),
    topology: topologyJson(topology),
  };
}

/** The state, or why it cannot be shown: the report goes on without it. */
async function readState(store: StateStore): Promise<{ state: NodeState | null; stateError: string | null }> {
  try {
    const state = await store.read();
    return { state, stateError: state === null ? "no state yet (run cmk init)" : null };
  } catch (error) {
    return { state: null, stateError: describeCause(error) };
  }
}

export async function run(options: OptionsOf<typeof nodeReportFlags>, context: Context): Promise<number> {
  const store = openStore(options, context);
  const { procFs, sysRoot } = context.settings;
  const pass = async (): Promise<void> => {
    const { topology, warnings } = readHostTopology(sysRoot, procFs, true);
    for (const warning of warnings) context.log.warning(warning);
    const { state, stateError } = await readState(store);
    if (options.format === "json") {
      context.stdout(`${sortedJson(buildReport(topology, state, stateError, store.location, procFs))}\n`);
      return;
    }
    const terminal = context.terminal();
    const colour = (terminal.isTerminal && (context.env["NO_COLOR"] ?? "") === "") || context.env["CMK_COLOR"] === "always";
    if (stateError !== null) context.log.warning(stateError);
    context.stdout(renderNodeMap(topology, state, { colour, width: terminal.columns ?? 100 }));
  };
  await repeatEvery(options.interval, pass, (seconds) => context.log.info(`waiting ${seconds} seconds until the next report`), context.stopSignal);
  return 0;
}
