// The text of `cmk --help` and `cmk <command> --help`, made from the command table.
import type { Command } from "../commands/table.ts";
import { exitStatuses } from "./exit-status.ts";

const exitStatusHelp = Object.entries(exitStatuses).map(([kind, code]) => `  ${code}  ${kind}`).join("\n");

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
    "Exit codes:",
    "  0  success",
    exitStatusHelp,
    "",
  ].join("\n");
}

export function commandHelp(command: Command): string {
  const lines = [`Usage: ${command.usage}`, "", command.summary, "", "Flags:"];
  for (const flag of Object.values(command.flags)) {
    const name = flag.kind === "switch" ? `--${flag.name}` : `--${flag.name}=<${flag.valueName ?? "value"}>`;
    const defaultText = flag.defaultText !== undefined ? ` (default ${flag.defaultText})` : "";
    lines.push(`  ${name.padEnd(32)} ${flag.help}${defaultText}`);
  }
  for (const note of command.notes ?? []) lines.push("", `${note.title}:`, ...note.lines.map((line) => `  ${line}`));
  if (command.environment !== undefined) lines.push("", "Environment:", ...command.environment.map((line) => `  ${line}`));
  lines.push("", "Exit codes:", "  0  success", exitStatusHelp, "");
  return lines.join("\n");
}
