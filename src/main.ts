// The CLI process: picks the subcommand, parses its flags into typed options, builds the context
// (settings, logger, output) and runs it, and turns every failure into one line on stderr and a
// documented exit status. Everything that belongs to a short-lived process lives here or in cli/:
// blocking writes, signal handlers for --interval loops, and the fast exit.
import { exitNowIfLoaded } from "./adapters/native.ts";
import { versionLine } from "./app/build-info.ts";
import type { Context } from "./app/context.ts";
import { nearest } from "./app/input.ts";
import { createLogger, type Logger, levelFromEnv } from "./app/log.ts";
import { settingsFromEnvironment } from "./app/settings.ts";
import { parseArgs } from "./cli/args.ts";
import { cliMessage, exitStatuses } from "./cli/exit-status.ts";
import { commandHelp, mainHelp } from "./cli/help.ts";
import { writeFd } from "./cli/output.ts";
import { type Command, commands, plannedCommands, roadmapDoc } from "./commands/table.ts";
import { CmkError } from "./core/errors.ts";
import { noStoreObserver } from "./core/store-observer.ts";

/**
 * The launchers keep Node.js variables meant for a workload (NODE_OPTIONS, NODE_EXTRA_CA_CERTS)
 * away from cmk's own runtime as CMK_WORKLOAD_<name>; give them back to what cmk runs.
 */
function restoreWorkloadVariables(env: NodeJS.ProcessEnv): void {
  for (const name of ["NODE_OPTIONS", "NODE_EXTRA_CA_CERTS"]) {
    const saved = env[`CMK_WORKLOAD_${name}`];
    if (saved === undefined) continue;
    env[name] = saved;
    delete env[`CMK_WORKLOAD_${name}`];
  }
}

const stdout = (text: string): void => writeFd(1, text);
const stderr = (line: string): void => writeFd(2, line);

/** SIGTERM or SIGINT aborts the signal; the handlers are installed only for a command that asks. */
function stopOnSignal(): () => AbortSignal {
  let controller: AbortController | undefined;
  return () => {
    if (controller === undefined) {
      const stopping = new AbortController();
      process.once("SIGTERM", () => stopping.abort());
      process.once("SIGINT", () => stopping.abort());
      controller = stopping;
    }
    return controller.signal;
  };
}

function findCommand(name: string): Command {
  const command = commands.find((candidate) => candidate.name === name);
  if (command !== undefined) return command;
  const planned = plannedCommands.find((candidate) => candidate.name === name);
  if (planned !== undefined) throw new CmkError("usage", `cmk ${name} (${planned.summary}) is not available yet in this version; see ${roadmapDoc}`);
  const suggestion = nearest(
    name,
    commands.map((candidate) => candidate.name),
  );
  throw new CmkError("usage", `unknown command "${name}"${suggestion ? `; did you mean ${suggestion}?` : ""}; see cmk --help`);
}

/** Whether --help is asked for: only before the program of `isolate`, whose own --help belongs to it. */
function asksForHelp(command: Command, tokens: readonly string[]): boolean {
  const programAt = tokens.findIndex((token) => token === "--" || !token.startsWith("-"));
  const beforeProgram = command.takesProgram === true && programAt >= 0 ? tokens.slice(0, programAt) : tokens;
  return beforeProgram.includes("--help") || beforeProgram.includes("-h");
}

async function runCommand(name: string, tokens: readonly string[], log: Logger): Promise<number> {
  const command = findCommand(name);
  if (asksForHelp(command, tokens)) {
    stdout(commandHelp(command));
    return 0;
  }
  const { options, program } = parseArgs(command.name, tokens, command.flags, command.takesProgram ?? false);
  const context: Context = {
    env: process.env,
    settings: settingsFromEnvironment(process.env),
    log,
    stdout,
    // hrtime, not performance.now(): the perf_hooks modules cost start-up time.
    now: () => Number(process.hrtime.bigint()) / 1e6,
    stopSignal: stopOnSignal(),
    terminal: () => {
      const isTerminal = process.stdout.isTTY === true;
      return { isTerminal, columns: isTerminal ? process.stdout.columns : undefined };
    },
    storeObserver: noStoreObserver,
  };
  const module = await command.load();
  const result = await module.run(options, context, program);
  return typeof result === "number" ? result : exitStatuses[result];
}

async function main(argv: readonly string[]): Promise<number> {
  restoreWorkloadVariables(process.env);
  let log: Logger = createLogger("INFO", stderr);
  try {
    log = createLogger(levelFromEnv(process.env["CMK_LOG_LEVEL"]), stderr);
    const [name, ...rest] = argv;
    if (name === undefined || name === "--help" || name === "-h" || name === "help") {
      stdout(mainHelp(commands));
      return name === undefined ? exitStatuses.usage : 0;
    }
    if (name === "--version" || name === "version") {
      stdout(`${versionLine()}\n`);
      return 0;
    }
    return await runCommand(name, rest, log);
  } catch (error) {
    if (error instanceof CmkError) {
      log.error(cliMessage(error));
      if (error.cause !== undefined) log.debug(`cause: ${String(error.cause instanceof Error ? error.cause.stack : error.cause)}`);
      return exitStatuses[error.kind];
    }
    log.error(`unexpected failure: ${error instanceof Error ? error.message : String(error)}; please report this with CMK_LOG_LEVEL=DEBUG output`);
    log.debug(error instanceof Error ? (error.stack ?? "") : "");
    return exitStatuses.failure;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Registered last, so the other "exit" listeners (the entry's code cache) run first.
    process.once("exit", () => exitNowIfLoaded(code));
  },
  () => {
    process.exitCode = exitStatuses.failure;
  },
);
