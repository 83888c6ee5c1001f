// cmk's entry point: picks the subcommand, parses its flags, runs it, and turns every failure
// into one line on stderr and a documented exit code.
import { nearest, parseArgs } from "./cli/args.ts";
import { commands, type CommandSpec } from "./cli/commands.ts";
import { createLogger, levelFromEnv, type Logger } from "./cli/log.ts";
import { writeFd } from "./cli/output.ts";
import { exitNowIfLoaded } from "./adapters/native.ts";
import { CmkError, exitCodes } from "./core/errors.ts";
import { versionLine } from "./app/build-info.ts";


const exitCodeHelp = Object.entries(exitCodes).map(([kind, code]) => `  ${code}  ${kind}`).join("\n");

function mainHelp(): string {
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
    exitCodeHelp,
    "",
  ].join("\n");
}

function commandHelp(command: CommandSpec): string {
  const lines = [`Usage: ${command.usage}`, "", command.summary, "", "Flags:"];
  for (const flag of command.flags) {
    const name = flag.kind === "switch" ? `--${flag.name}` : `--${flag.name}=<${flag.valueName ?? "value"}>`;
    const defaultText = flag.defaultValue !== undefined ? ` (default ${flag.defaultValue})` : "";
    lines.push(`  ${name.padEnd(32)} ${flag.help}${defaultText}`);
  }
  if (command.environment !== undefined) lines.push("", "Environment:", ...command.environment.map((line) => `  ${line}`));
  lines.push("", "Exit codes:", "  0  success", exitCodeHelp, "");
  return lines.join("\n");
}

/** The launchers keep a workload's NODE_OPTIONS away from cmk's own runtime; give it back to the workload. */
function restoreWorkloadNodeOptions(env: NodeJS.ProcessEnv): void {
  const saved = env["CMK_WORKLOAD_NODE_OPTIONS"];
  if (saved === undefined) return;
  env["NODE_OPTIONS"] = saved;
  delete env["CMK_WORKLOAD_NODE_OPTIONS"];
}

async function main(argv: readonly string[]): Promise<number> {
  restoreWorkloadNodeOptions(process.env);
  const stdout = (text: string): void => writeFd(1, text);
  const stderr = (line: string): void => writeFd(2, line);
  let log: Logger = createLogger("INFO", stderr);
  try {
    log = createLogger(levelFromEnv(process.env["CMK_LOG_LEVEL"]), stderr);
    const [name, ...rest] = argv;
    if (name === undefined || name === "--help" || name === "-h" || name === "help") {
      stdout(mainHelp());
      return name === undefined ? exitCodes.usage : 0;
    }
    if (name === "--version" || name === "version") {
      stdout(`${versionLine()}\n`);
      return 0;
    }
    const command = commands.find((candidate) => candidate.name === name);
    if (command === undefined) {
      const suggestion = nearest(name, commands.map((candidate) => candidate.name));
      throw new CmkError("usage", `unknown command "${name}"${suggestion ? `; did you mean ${suggestion}?` : ""}; see cmk --help`);
    }
    // Help is only asked for before the program of `isolate`: its own --help belongs to it.
    const programAt = rest.findIndex((token) => token === "--" || !token.startsWith("-"));
    const beforeProgram = command.takesCommand && programAt >= 0 ? rest.slice(0, programAt) : rest;
    if (beforeProgram.includes("--help") || beforeProgram.includes("-h")) {
      stdout(commandHelp(command));
      return 0;
    }
    const args = parseArgs(command.name, rest, command.flags, command.takesCommand ?? false);
    const module = await command.load();
    return await module.run(args, { env: process.env, log, stdout });
  } catch (error) {
    if (error instanceof CmkError) {
      log.error(error.message);
      if (error.cause !== undefined) log.debug(`cause: ${String(error.cause instanceof Error ? error.cause.stack : error.cause)}`);
      return error.exitCode;
    }
    log.error(`unexpected failure: ${error instanceof Error ? error.message : String(error)}; please report this with CMK_LOG_LEVEL=DEBUG output`);
    log.debug(error instanceof Error ? (error.stack ?? "") : "");
    return exitCodes.failure;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Registered last, so the other "exit" listeners (the entry's code cache) run first.
    process.once("exit", () => exitNowIfLoaded(code));
  },
  () => {
    process.exitCode = exitCodes.failure;
  },
);
