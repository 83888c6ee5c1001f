// Command-line parsing with CMK's grammar: `--flag=value` or `--flag value`, boolean switches,
// and for `isolate` a command with arguments after `--`. Errors suggest the nearest spelling.
import { usageError } from "../core/errors.ts";

export interface FlagSpec {
  readonly name: string; // without the leading dashes
  readonly kind: "value" | "switch";
  readonly valueName?: string;
  readonly defaultValue?: string;
  readonly help: string;
}

export interface ParsedArgs {
  readonly values: ReadonlyMap<string, string>;
  readonly switches: ReadonlySet<string>;
  /** For commands that run a program: the program and its arguments, verbatim. */
  readonly command: readonly string[];
}

function editDistance(a: string, b: string): number {
  const previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = previous[0] as number;
    previous[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = previous[j] as number;
      previous[j] = Math.min(above + 1, (previous[j - 1] as number) + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return previous[b.length] as number;
}

export function nearest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = candidate.startsWith(word) ? 1 : editDistance(word, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/**
 * Parses `tokens` against `flags`. With `takesCommand`, the first non-flag token starts the
 * program to run; CMK's form `<command> [-- <args>...]` and `-- <command> <args>...` both work.
 */
export function parseArgs(commandName: string, tokens: readonly string[], flags: readonly FlagSpec[], takesCommand = false): ParsedArgs {
  const values = new Map<string, string>();
  const switches = new Set<string>();
  const command: string[] = [];
  const byName = new Map(flags.map((flag) => [flag.name, flag]));
  const unknown = (token: string): Error => {
    const name = token.replace(/^-+/, "").split("=")[0] ?? "";
    if (command.length > 0) {
      // CMK's grammar reads flags between the program and `--` as cmk's own.
      return usageError(`unknown flag ${token} for cmk ${commandName}; to give it to ${command[0]}, put it after --: cmk ${commandName} [flags] ${command[0]} -- ${token}`);
    }
    const suggestion = nearest(name, [...byName.keys()]);
    return usageError(`unknown flag ${token.split("=")[0]} for cmk ${commandName}${suggestion ? `; did you mean --${suggestion}?` : `; see cmk ${commandName} --help`}`);
  };
  let index = 0;
  while (index < tokens.length) {
    const token = tokens[index] as string;
    index++;
    if (token === "--") {
      if (!takesCommand) throw usageError(`cmk ${commandName} takes no arguments after --`);
      command.push(...tokens.slice(index));
      break;
    }
    if (!token.startsWith("-") || token === "-") {
      if (!takesCommand || command.length > 0) {
        throw usageError(`unexpected argument "${token}" for cmk ${commandName}; see cmk ${commandName} --help`);
      }
      command.push(token);
      continue;
    }
    if (!token.startsWith("--")) throw unknown(token);
    const equals = token.indexOf("=");
    const name = token.slice(2, equals < 0 ? undefined : equals);
    const flag = byName.get(name);
    if (flag === undefined) throw unknown(token);
    if (values.has(name) || switches.has(name)) throw usageError(`--${name} is given more than once for cmk ${commandName}; give it once`);
    if (flag.kind === "switch") {
      if (equals >= 0) throw usageError(`--${name} takes no value; write just --${name}`);
      switches.add(name);
      continue;
    }
    let value: string | undefined;
    if (equals >= 0) value = token.slice(equals + 1);
    else if (index < tokens.length) value = tokens[index++];
    if (value === undefined) throw usageError(`--${name} needs a value: --${name}=<${flag.valueName ?? "value"}>`);
    values.set(name, value);
  }
  if (takesCommand && command.length === 0) {
    throw usageError(`cmk ${commandName} needs a command to run: cmk ${commandName} --pool=<pool> -- <command> [<args>...]`);
  }
  for (const flag of flags) if (flag.defaultValue !== undefined && !values.has(flag.name)) values.set(flag.name, flag.defaultValue);
  return { values, switches, command };
}

/** A whole number within bounds, written in decimal digits only ("2.0", "500m", "-1" are refused). */
export function integerValue(what: string, text: string, minimum: number, maximum = Number.MAX_SAFE_INTEGER): number {
  const trimmed = text.trim();
  const value = /^\d+$/.test(trimmed) ? Number(trimmed) : NaN;
  if (!Number.isSafeInteger(value) || value < minimum || value > maximum) {
    const range = maximum === Number.MAX_SAFE_INTEGER ? `${minimum} or more` : `from ${minimum} to ${maximum}`;
    throw usageError(`${what}="${text}" is not valid: expected a whole number ${range}`);
  }
  return value;
}

/** Seconds as a non-negative decimal ("0.5", "30"). */
export function secondsValue(what: string, text: string): number {
  const trimmed = text.trim();
  const value = /^\d+(\.\d+)?$|^\.\d+$/.test(trimmed) ? Number(trimmed) : NaN;
  if (!Number.isFinite(value)) throw usageError(`${what}="${text}" is not valid: expected seconds as a non-negative number such as 5 or 0.5`);
  return value;
}

export function choiceValue<T extends string>(what: string, text: string, choices: readonly T[]): T {
  if ((choices as readonly string[]).includes(text)) return text as T;
  const suggestion = nearest(text, choices);
  throw usageError(`${what}="${text}" is not valid: expected one of ${choices.join(", ")}${suggestion ? ` (did you mean ${suggestion}?)` : ""}`);
}
