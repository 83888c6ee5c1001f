// cmk node-report: topology, state description and consistency checks, as JSON (CMK's report)
// or as a terminal map of the node. Either way a failed check sets the exit status; with
// --interval on a terminal the map is redrawn in place, and the loop may serve metrics
// (long-running.ts).
import type { Context } from "../app/context.ts";
import { nodeReport } from "../app/node-report.ts";
import { reportPublisher } from "../app/publish.ts";
import { openStore } from "../app/stores.ts";
import { failedChecks } from "../core/checks.ts";
import { sortedJson } from "../core/describe.ts";
import { renderNodeMap } from "../core/node-map.ts";
import { nodeReportSummary } from "../core/report-summary.ts";
import type { nodeReportFlags, OptionsOf } from "./flags.ts";
import { runLoop } from "./long-running.ts";
import type { CommandResult } from "./table.ts";

type NodeReportOptions = OptionsOf<typeof nodeReportFlags>;

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
    const terminal = context.terminal();
    const colour = (terminal.isTerminal && (context.env["NO_COLOR"] ?? "") === "") || context.env["CMK_COLOR"] === "always";
    const writeMap = mapWriter(options, context);
    const pass = async () => {
      const { topology, warnings, state, unreadable, checks, report } = await nodeReport(store, context.settings);
      failed = failedChecks(checks).length > 0;
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
