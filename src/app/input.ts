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

/**
 * The longest wait in seconds any setting or flag may ask for (about 23 days): a timer of Node.js
 * holds at most 2^31 - 1 ms and fires at once beyond it, which would turn a long wait into none.
 */
export const maxSeconds = 2_000_000;

/** Seconds as a non-negative decimal ("0.5", "30"), at most `maxSeconds`. */
export function secondsValue(what: string, text: string): number {
  const trimmed = text.trim();
  const value = /^\d+(\.\d+)?$|^\.\d+$/.test(trimmed) ? Number(trimmed) : NaN;
  if (!Number.isFinite(value) || value > maxSeconds) {
    throw usageError(`${what}="${text}" is not valid: expected seconds as a non-negative number up to ${maxSeconds} (23 days), such as 5 or 0.5`);
  }
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

const ipv4Pattern = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** Whether `text` is an IPv6 address: eight groups of hex digits, "::" for a run of zero groups, an IPv4 tail allowed. */
function isIpv6(text: string): boolean {
  const halves = text.split("::");
  if (halves.length > 2) return false;
  const groups = halves.map((half) => (half === "" ? [] : half.split(":")));
  const all = groups.flat();
  const last = all.at(-1);
  const tailIsIpv4 = last !== undefined && ipv4Pattern.test(last);
  const hexGroups = tailIsIpv4 ? all.slice(0, -1) : all;
  if (!hexGroups.every((group) => /^[0-9a-fA-F]{1,4}$/.test(group))) return false;
  const count = hexGroups.length + (tailIsIpv4 ? 2 : 0);
  return halves.length === 2 ? count <= 7 : count === 8;
}

/**
 * An IP address to listen on: IPv4 ("127.0.0.1", "0.0.0.0") or IPv6 ("::1", "[::1]", "::"), an
 * IPv6 zone allowed ("fe80::1%eth0"). Host names are refused: a listener resolves them, and one
 * name may stand for several addresses. Written without node:net, which every command would load.
 */
export function ipAddressValue(what: string, text: string): string {
  const trimmed = text.trim();
  const unbracketed = /^\[.*\]$/.test(trimmed) ? trimmed.slice(1, -1) : trimmed;
  const [address = "", zone] = unbracketed.split("%", 2);
  const valid = ipv4Pattern.test(unbracketed) || (isIpv6(address) && (zone === undefined || /^[\w.-]+$/.test(zone)));
  if (!valid) throw usageError(`${what}="${text}" is not valid: expected an IP address such as 127.0.0.1, 0.0.0.0, ::1 or ::`);
  return unbracketed;
}
