// The text of `cmk --help` and `cmk <command> --help`, made from the command table.

import { type Command, plannedCommands, roadmapDoc } from "../commands/table.ts";
import type { ErrorKind } from "../core/errors.ts";
import { exitStatuses } from "./exit-status.ts";

/** "  0  success" and a line for each kind, in order of status. */
function exitStatusLines(kinds: readonly ErrorKind[]): string[] {
  const sorted = [...new Set(kinds)].sort((a, b) => exitStatuses[a] - exitStatuses[b]);
  return ["  0  success", ...sorted.map((kind) => `  ${exitStatuses[kind]}  ${kind}`)];
}

export function mainHelp(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((command) => command.name.length));
  return [
    "cmk: CPU manager for Kubernetes nodes",
    "",
    "Usage: cmk <command> [flags]   (flags as --flag=value or --flag value)",
    "       cmk --version | --help | <command> --help",
    "",
    "Commands:",
    ...commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
    "",
    ...(plannedCommands.length === 0
      ? []
      : [`Not available yet in this version (see ${roadmapDoc}): ${plannedCommands.map((command) => command.name).join(", ")}`, ""]),
    "Exit codes:",
    ...exitStatusLines(Object.keys(exitStatuses) as ErrorKind[]),
    "",
  ].join("\n");
}

export function commandHelp(command: Command): string {
  const lines = [`Usage: ${command.usage}`, "", command.summary, "", "Flags:"];
  const flags = Object.values(command.flags);
  for (const flag of flags) {
    const name = flag.kind === "switch" ? `--${flag.name}` : `--${flag.name}=<${flag.valueName ?? "value"}>`;
    const defaultText = flag.defaultText !== undefined ? ` (default ${flag.defaultText})` : "";
    lines.push(`  ${name.padEnd(32)} ${flag.help}${defaultText}`);
  }
  for (const note of command.notes ?? []) lines.push("", `${note.title}:`, ...note.lines.map((line) => `  ${line}`));
  if (command.environment !== undefined) lines.push("", "Environment:", ...command.environment.map((line) => `  ${line}`));
  lines.push("", "Exit codes:", ...exitStatusLines(command.failures), ...(command.otherStatuses ?? []).map((line) => `  ${line}`), "");
  return lines.join("\n");
}
