// Reading values people type: whole numbers, seconds, choices among words, with suggestions for a
// near miss. One set of rules for every way input arrives (flags, environment variables, and later
// a socket or HTTP request), each refusal a usage error that names the input and what it expects.
import { usageError } from "../core/errors.ts";

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

/** The candidate a mistyped word most likely meant, or undefined when none is close. */
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

/** A socket id, or null for "any socket" (written -1, as CMK does). */
export function socketIdValue(what: string, text: string): number | null {
  return text.trim() === "-1" ? null : integerValue(what, text, 0);
}
