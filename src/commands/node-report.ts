// cmk node-report: topology, state description and consistency checks, as JSON (CMK's report)
// or as a terminal map of the node.
import { isatty } from "node:tty";
import { allowedCpus } from "../adapters/affinity.ts";
import { readHostTopology } from "../adapters/host-topology.ts";
import { choiceValue, secondsValue, type ParsedArgs } from "../cli/args.ts";
import { openStore, procFs, type Context } from "../cli/context.ts";
import { repeatEvery } from "../cli/interval.ts";
import { findMaskMismatches, findOverlaps, findUnisolated } from "../core/checks.ts";
import { describeState, sortedJson, type Json } from "../core/describe.ts";
import { describeCause } from "../core/errors.ts";
import { renderNodeMap } from "../core/node-map.ts";
import type { NodeState } from "../core/node-state.ts";
import { sstBfCpus, type Topology } from "../core/topology.ts";

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
    for (const mismatch of findMaskMismatches(state, (task) => allowedCpus(proc, state.tasks.get(task)?.child?.pid ?? Number(task)))) {
      affinityErrors.push(`task ${mismatch.pid} in ${mismatch.pool}:${mismatch.cpus} runs on CPUs ${mismatch.actualCpus}`);
    }
  }
  return {
    checks: { affinity: check(affinityErrors), configDirectory: check(configErrors), isolation: check(isolationErrors) },
    description: state === null ? null : describeState(state, location),
    topology: topologyJson(topology),
  };
}

export async function run(args: ParsedArgs, context: Context): Promise<number> {
  const interval = secondsValue("--interval", args.values.get("interval") as string);
  const format = choiceValue("--format", args.values.get("format") as string, ["json", "text"] as const);
  const store = openStore(args, context);
  const proc = procFs(context.env);
  await repeatEvery(
    interval,
    async () => {
      const { topology, warnings } = readHostTopology(context.env, proc, true);
      for (const warning of warnings) context.log.warning(warning);
      let state: NodeState | null = null;
      let stateError: string | null = null;
      try {
        state = await store.read();
        if (state === null) stateError = "no state yet (run cmk init)";
      } catch (error) {
        stateError = describeCause(error);
      }
      if (format === "json") {
        context.stdout(`${sortedJson(buildReport(topology, state, stateError, store.location, proc))}\n`);
      } else {
        const terminal = isatty(1);
        const colour = (terminal && (context.env["NO_COLOR"] ?? "") === "") || context.env["CMK_COLOR"] === "always";
        if (stateError !== null) context.log.warning(stateError);
        context.stdout(renderNodeMap(topology, state, { colour, width: (terminal ? process.stdout.columns : undefined) ?? 100 }));
      }
    },
    (seconds) => context.log.info(`waiting ${seconds} seconds until the next report`),
  );
  return 0;
}
