// cmk node-report: topology, state description and consistency checks, as JSON (CMK's report)
// or as a terminal map of the node. Either way a failed check sets the exit status; with
// --interval on a terminal the map is redrawn in place, and the loop may serve metrics
// (long-running.ts).
import { taskAffinityReader } from "../adapters/affinity.ts";
import { readHostTopology } from "../adapters/host-topology.ts";
import type { Context } from "../app/context.ts";
import { reportPublisher } from "../app/publish.ts";
import { openStore } from "../app/stores.ts";
import { checkNames, failedChecks, type NodeChecks, runChecks } from "../core/checks.ts";
import { describeState, type Json, sortedJson } from "../core/describe.ts";
import { describeCause } from "../core/errors.ts";
import { renderNodeMap } from "../core/node-map.ts";
import type { NodeState } from "../core/node-state.ts";
import { nodeReportSummary } from "../core/report-summary.ts";
import type { StateStore } from "../core/state-store.ts";
import { sstBfCpus, type Topology } from "../core/topology.ts";
import type { nodeReportFlags, OptionsOf } from "./flags.ts";
import { runLoop } from "./long-running.ts";
import type { CommandResult } from "./table.ts";

type NodeReportOptions = OptionsOf<typeof nodeReportFlags>;

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

/** CMK's `checks.<name>` with `ok` and `errors`, and `warnings`: ok only when a check found nothing. */
function checksJson(checks: NodeChecks): Json {
  const json: { [name: string]: Json } = {};
  for (const name of checkNames) {
    const { errors, warnings } = checks[name];
    json[name] = { errors: [...errors], ok: errors.length === 0 && warnings.length === 0, warnings: [...warnings] };
  }
  return json;
}

/** The state, or why it cannot be shown (`unreadable` when it exists but cannot be read): the report goes on without it. */
async function readState(store: StateStore): Promise<{ state: NodeState | null; stateError: string | null; unreadable: boolean }> {
  try {
    const state = await store.read();
    return { state, stateError: state === null ? "no state yet (run cmk init)" : null, unreadable: false };
  } catch (error) {
    return { state: null, stateError: describeCause(error), unreadable: true };
  }
}

/** The map's width: COLUMNS when set, else the terminal's, else 80. */
function mapWidth(context: Context): number {
  const columns = context.env["COLUMNS"]?.trim() ?? "";
  if (/^[1-9]\d{0,3}$/.test(columns)) return Number(columns);
  const { columns: terminal } = context.terminal();
  return terminal !== undefined && terminal > 0 ? terminal : 80;
}

/** Writes each map: appended, or on a terminal with --interval drawn over the previous one. */
function mapWriter(options: NodeReportOptions, context: Context): (lines: readonly string[]) => void {
  const inPlace = options.interval > 0 && context.terminal().isTerminal;
  let first = true;
  return (lines) => {
    if (!inPlace) {
      context.stdout(`${lines.join("\n")}\n`);
      return;
    }
    // Home the cursor (clearing the screen once), clear each line's rest and whatever lies below.
    context.stdout(`${first ? "\x1b[H\x1b[2J" : "\x1b[H"}${lines.map((line) => `${line}\x1b[K`).join("\n")}\n\x1b[J`);
    first = false;
  };
}

export async function run(options: NodeReportOptions, context: Context): Promise<CommandResult> {
  let failed = false;
  const failure = await runLoop(options, context, "node-report", async (context) => {
    const store = await openStore(options, context);
    const publish = await reportPublisher("node", options, context);
    const { procFs, sysRoot, kernelFs } = context.settings;
    const terminal = context.terminal();
    const colour = (terminal.isTerminal && (context.env["NO_COLOR"] ?? "") === "") || context.env["CMK_COLOR"] === "always";
    const writeMap = mapWriter(options, context);
    const pass = async () => {
      const { topology, warnings } = readHostTopology(sysRoot, kernelFs, true);
      const { state, stateError, unreadable } = await readState(store);
      const actualOf = state === null ? () => null : taskAffinityReader(procFs, state);
      const checks = runChecks({ state, stateError, location: store.location, isolcpus: topology.isolcpus, actualOf });
      failed = failedChecks(checks).length > 0;
      const report = (): Json => ({
        checks: checksJson(checks),
        description: state === null ? null : describeState(state, store.location),
        topology: topologyJson(topology),
      });
      if (options.format === "json") {
        for (const warning of warnings) context.log.warning(warning);
        context.stdout(`${sortedJson(report())}\n`);
      } else {
        writeMap(renderNodeMap({ topology, state, checks, notes: warnings }, { colour, width: mapWidth(context) }));
      }
      await publish?.(report(), nodeReportSummary(state, checks));
      // An unreadable state is a finding of the report (configDirectory), not a failed pass; what its pools hold is unknown.
      return unreadable ? { checks } : { state, checks };
    };
    // A map redrawn in place would be scrolled away by a log line between passes.
    const onWait = (seconds: number): void =>
      (options.format === "text" && terminal.isTerminal ? context.log.debug : context.log.info)(`waiting ${seconds} seconds until the next report`);
    return { pass, onWait };
  });
  return failure ?? (failed ? "check-failed" : 0);
}
