// Command-line parsing with CMK's grammar: `--flag=value` or `--flag value`, boolean switches,
// and for `isolate` a program with arguments after `--`. Parses argv against a command's flag set
// into its typed options; errors suggest the nearest spelling.
import { nearest } from "../app/input.ts";
import type { FlagDefinition, FlagSet, OptionsOf } from "../commands/flags.ts";
import { type CmkError, usageError } from "../core/errors.ts";

export interface ParsedArgs<O> {
  readonly options: O;
  /** For commands that run a program: the program and its arguments, verbatim. */
  readonly program: readonly string[];
}

interface Tokens {
  /** Flag name -> its text ("" for a switch). */
  readonly given: Map<string, string>;
  readonly program: string[];
}

/**
 * Parses `tokens` against `flags`. With `takesProgram`, the first non-flag token starts the
 * program to run; CMK's form `<program> [-- <args>...]` and `-- <program> <args>...` both work.
 */
export function parseArgs<F extends FlagSet>(commandName: string, tokens: readonly string[], flags: F, takesProgram = false): ParsedArgs<OptionsOf<F>> {
  const byName = new Map(Object.values(flags).map((flag) => [flag.name, flag]));
  const { given, program } = splitTokens(commandName, tokens, byName, takesProgram);
  if (takesProgram && program.length === 0) {
    throw usageError(`cmk ${commandName} needs a command to run: cmk ${commandName} --pool=<pool> -- <command> [<args>...]`);
  }
  const options: Record<string, unknown> = {};
  for (const [option, flag] of Object.entries(flags)) options[option] = flag.parse(given.get(flag.name));
  return { options: options as OptionsOf<F>, program };
}

function splitTokens(commandName: string, tokens: readonly string[], byName: ReadonlyMap<string, FlagDefinition<unknown>>, takesProgram: boolean): Tokens {
  const given = new Map<string, string>();
  const program: string[] = [];
  let index = 0;
  while (index < tokens.length) {
    const token = tokens[index] as string;
    index++;
    if (token === "--") {
      if (!takesProgram) throw usageError(`cmk ${commandName} takes no arguments after --`);
      program.push(...tokens.slice(index));
      break;
    }
    if (!token.startsWith("-") || token === "-") {
      if (!takesProgram || program.length > 0) throw usageError(`unexpected argument "${token}" for cmk ${commandName}; see cmk ${commandName} --help`);
      program.push(token);
      continue;
    }
    const equals = token.indexOf("=");
    const name = token.startsWith("--") ? token.slice(2, equals < 0 ? undefined : equals) : "";
    const flag = byName.get(name);
    if (flag === undefined) throw unknownFlag(commandName, token, program, [...byName.keys()]);
    if (given.has(name)) throw usageError(`--${name} is given more than once for cmk ${commandName}; give it once`);
    if (flag.kind === "switch") {
      if (equals >= 0) throw usageError(`--${name} takes no value; write just --${name}`);
      given.set(name, "");
      continue;
    }
    const value = equals >= 0 ? token.slice(equals + 1) : tokens[index++];
    if (value === undefined) throw usageError(`--${name} needs a value: --${name}=<${flag.valueName ?? "value"}>`);
    given.set(name, value);
  }
  return { given, program };
}

function unknownFlag(commandName: string, token: string, program: readonly string[], names: readonly string[]): CmkError {
  if (program.length > 0) {
    // CMK's grammar reads flags between the program and `--` as cmk's own.
    return usageError(
      `unknown flag ${token} for cmk ${commandName}; to give it to ${program[0]}, put it after --: cmk ${commandName} [flags] ${program[0]} -- ${token}`,
    );
  }
  const suggestion = nearest(token.replace(/^-+/, "").split("=")[0] ?? "", names);
  return usageError(
    `unknown flag ${token.split("=")[0]} for cmk ${commandName}${suggestion ? `; did you mean --${suggestion}?` : `; see cmk ${commandName} --help`}`,
  );
}
