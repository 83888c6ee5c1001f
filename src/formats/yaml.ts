// The YAML subset CMK's state documents use, read and written compatibly with PyYAML (which the
// Python CMK used): block and flow collections of plain or quoted scalars, one document, comments.
// Features that state never needs (anchors, aliases, tags, block scalars, collection keys,
// multi-line scalars, several documents) are rejected with the line number rather than half-supported.
import { CmkError } from "../core/errors.ts";

export type YamlKey = string | number | boolean | null;
export type YamlValue = null | boolean | number | string | YamlValue[] | Map<YamlKey, YamlValue>;
/** Keys keep their YAML type (socket `0` is a number, CPU list `4,12` a string) and document order. */
export type YamlMap = Map<YamlKey, YamlValue>;

const TAB = 9;
const LF = 10;
const SPACE = 32;
const HASH = 35;
const COLON = 58;

const isBlank = (c: number): boolean => c === SPACE || c === TAB;
/** Where a token ends: blank, line break or end of text (charCodeAt gives NaN there). */
const isBreakOrBlank = (c: number): boolean => c === SPACE || c === TAB || c === LF || Number.isNaN(c);
const isFlowIndicator = (c: number): boolean => c === 44 || c === 91 || c === 93 || c === 123 || c === 125; // , [ ] { }
// Collections are the only objects among YAML values (typeof is cheaper than instanceof on the start-up path).
const isScalar = (value: YamlValue): value is YamlKey => typeof value !== "object" || value === null;

/** Messages for characters that cannot start a value, indexed by character code. */
const unsupportedStarts: (string | undefined)[] = [];
for (const [ch, message] of Object.entries({
  "&": "anchors (&name) are not supported; write the value out in full",
  "*": "aliases (*name) are not supported; write the referenced value out in full",
  "!": "tags (!tag, !!python/...) are not supported; remove the tag and write a plain value",
  "|": "block scalars (|) are not supported; write a quoted string with \\n escapes instead",
  ">": "folded block scalars (>) are not supported; write a quoted string instead",
  "%": "directives (%YAML, %TAG) are not supported; remove the line",
  "@": "'@' is reserved and cannot start a value; quote the value",
  "`": "'`' is reserved and cannot start a value; quote the value",
  ",": "unexpected ','; quote the value if the comma belongs to it",
  "]": "unexpected ']' without a matching '['",
  "}": "unexpected '}' without a matching '{'",
})) {
  unsupportedStarts[ch.charCodeAt(0)] = message;
}

const escapesIn: Readonly<Record<string, string>> = {
  "0": "\0",
  a: "\x07",
  b: "\b",
  t: "\t",
  "\t": "\t",
  n: "\n",
  v: "\v",
  f: "\f",
  r: "\r",
  e: "\x1b",
  " ": " ",
  '"': '"',
  "/": "/",
  "\\": "\\",
  N: "\x85",
  _: "\xa0",
  L: "\u2028",
  P: "\u2029",
};
const hexEscapeLength: Readonly<Record<string, number>> = { x: 2, u: 4, U: 8 };

// Scanning jumps between the characters that may end a token, found natively: a start-up path
// must not walk a large document one character at a time in not-yet-optimised JavaScript.
const blockPlainStops = /[\n:#]/g;
const flowPlainStops = /[\n:#,[\]{}]/g;
const singleQuoteStops = /['\n]/g;
const doubleQuoteStops = /["\\\n]/g;

/** How deeply collections may nest: far more than any state document (5 levels), far less than the stack allows. */
const maxDepth = 64;

export function parseYaml(text: string, source: string): YamlValue {
  // One normalisation pass keeps the scanner free of \r cases; line numbers are unchanged.
  const unmarked = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const normalised = unmarked.includes("\r") ? unmarked.replace(/\r\n?/g, "\n") : unmarked;
  return new Parser(normalised, source).document();
}

class Parser {
  private readonly text: string;
  private readonly source: string;
  private pos = 0;
  private line = 1;
  private lineStart = 0;
  /** Collections open around `pos`: bounded, so that a hostile document fails in words, not by overflowing the stack. */
  private depth = 0;

  constructor(text: string, source: string) {
    this.text = text;
    this.source = source;
  }

  document(): YamlValue {
    let root: YamlValue = null;
    let column = this.nextContent();
    if (column === -1 && this.atMarker("---")) {
      this.pos += 3;
      this.skipBlanks();
      if (this.atLineEnd()) {
        this.endLine();
        column = this.nextContent();
      } else {
        column = this.pos - this.lineStart; // `--- {a: 1}`: the root starts on the marker line
      }
    }
    if (column !== -1) root = this.blockNode(-1);
    column = this.nextContent();
    if (column === -1 && this.atMarker("...")) {
      this.pos += 3;
      this.endLine();
      column = this.nextContent();
    }
    if (column >= 0) throw this.fail(`unexpected "${this.snippet()}" that does not continue the structure above; check its indentation`);
    if (this.pos < this.text.length) {
      throw this.fail("a second YAML document starts here; a CMK state document must hold exactly one");
    }
    return root;
  }

  /** A node in block context at `pos`; `parentColumn` bounds the lines a flow collection may continue on. */
  private blockNode(parentColumn: number): YamlValue {
    this.enter();
    try {
      return this.blockNodeAt(parentColumn);
    } finally {
      this.depth--;
    }
  }

  /** Counts one more level of nesting, refusing a document nested deeper than any state document is. */
  private enter(): void {
    if (++this.depth > maxDepth) {
      throw this.fail(`the document nests deeper than ${maxDepth} levels (a cmk state document nests 5); it is not one cmk or CMK wrote`);
    }
  }

  private blockNodeAt(parentColumn: number): YamlValue {
    const column = this.pos - this.lineStart;
    if (this.atSequenceItem()) return this.blockSequence(column);
    if (this.atExplicitKey()) return this.blockMapping(column, undefined, 0);
    const line = this.line;
    const value = this.inline(false, parentColumn);
    this.skipBlanks();
    if (this.atMappingColon()) return this.blockMapping(column, this.checkKey(value, line), line);
    this.endLine();
    return value;
  }

  /** A block mapping at `column`; `firstKey` is the already-read key of an implicit first entry. */
  private blockMapping(column: number, firstKey: YamlKey | undefined, firstLine: number): YamlMap {
    const map: YamlMap = new Map();
    let key = firstKey;
    let keyLine = firstLine;
    for (;;) {
      let explicit = false;
      if (key === undefined) {
        keyLine = this.line;
        if (this.atSequenceItem()) {
          throw this.fail(`found a "- " sequence item where a key of the mapping above was expected; indent it under its key`);
        }
        explicit = this.atExplicitKey();
        if (explicit) {
          key = this.explicitKey(column);
        } else {
          const candidate = this.inline(false, column);
          this.skipBlanks();
          if (!this.atMappingColon()) throw this.fail(`expected "key: value" but found "${this.snippet()}" without a ": "`);
          key = this.checkKey(candidate, keyLine);
        }
      }
      this.pos++; // ':'
      this.setUnique(map, key, this.blockValue(column, explicit), keyLine);
      key = undefined;
      const next = this.nextContent();
      if (next < column) return map;
      if (next > column) throw this.badIndentation(next, column);
    }
  }

  /**
   * PyYAML writes keys of 123 characters or more (long CPU lists) and empty keys as
   * `? key` with `: value` on the next line; only that form, with a one-line scalar key, is read.
   */
  private explicitKey(column: number): YamlKey {
    const line = this.line;
    this.pos++; // '?'
    this.skipBlanks();
    if (this.atLineEnd()) throw this.fail(`write the key on the same line as its "? "`);
    const key = this.checkKey(this.inline(false, column), line);
    this.endLine();
    if (this.nextContent() !== column || !this.atMappingColon()) {
      throw this.fail(`expected ": value" below the "? " key of line ${line}, at the same indentation`);
    }
    return key;
  }

  /**
   * The value after `key:` of a block mapping whose keys are at `column`. After an explicit
   * key's `: `, a nested collection may start on the same line, as PyYAML writes it.
   */
  private blockValue(column: number, explicit: boolean): YamlValue {
    this.skipBlanks();
    if (this.atLineEnd()) {
      this.endLine();
      const next = this.nextContent();
      if (next > column) return this.blockNode(column);
      // PyYAML writes a sequence under a key at the key's own indentation (`key:\n- item`).
      if (next === column && this.atSequenceItem()) return this.blockSequence(column);
      return null;
    }
    if (explicit) return this.blockNode(column);
    if (this.atSequenceItem()) throw this.fail(`a "- " sequence cannot start on the same line as its key; move it to the next line`);
    const line = this.line;
    const value = this.inline(false, column);
    this.skipBlanks();
    if (this.atMappingColon()) {
      throw this.fail(`a mapping cannot start on the same line as its key ("a: b: c"); put the inner key on its own, indented line`, line);
    }
    this.endLine();
    return value;
  }

  private blockSequence(column: number): YamlValue[] {
    const items: YamlValue[] = [];
    for (;;) {
      this.pos++; // '-'
      this.skipBlanks();
      if (this.atLineEnd()) {
        this.endLine();
        items.push(this.nextContent() > column ? this.blockNode(column) : null);
      } else {
        items.push(this.blockNode(column)); // `- a: 1` and `- - x` nest at the item's column
      }
      const next = this.nextContent();
      if (next > column) throw this.badIndentation(next, column);
      // A sequence at its key's indentation ends where the mapping's next key starts; the caller checks it.
      if (next < column || !this.atSequenceItem()) return items;
    }
  }

  /** A flow collection, quoted scalar or single-line plain scalar at `pos`. */
  private inline(flow: boolean, parentColumn: number): YamlValue {
    const c = this.text.charCodeAt(this.pos);
    if (c === 91 || c === 123) return this.flowCollection(parentColumn); // [ {
    if (c === 39) return this.singleQuoted();
    if (c === 34) return this.doubleQuoted();
    const unsupported = unsupportedStarts[c];
    if (unsupported !== undefined) throw this.fail(unsupported);
    if ((c === 45 || c === 63 || c === COLON) && isBreakOrBlank(this.text.charCodeAt(this.pos + 1))) {
      if (c === 63) throw this.fail(`"? " keys are only supported in block mappings, with a one-line scalar key`);
      if (c === COLON) throw this.fail(`a mapping entry has an empty key; write the key before the ":"`);
      throw this.fail(`a "- " sequence item cannot appear here; use [a, b] inside flow collections`);
    }
    if (c === HASH || Number.isNaN(c) || c === LF) throw this.fail("expected a value");
    const text = this.plain(flow);
    if (text === "<<") throw this.fail(`merge keys ("<<") are not supported; write the entries out in full`);
    const value = resolvePlain(text);
    if (value === undefined) {
      throw this.fail(`"${text}" reads as a number that is malformed or too large to hold exactly; quote it if it is text`);
    }
    return value;
  }

  /** Plain scalars end at ": ", " #", the line's end and, in flow context, at , [ ] { }. */
  private plain(flow: boolean): string {
    const t = this.text;
    const start = this.pos;
    const stops = flow ? flowPlainStops : blockPlainStops;
    let p = start;
    for (; ; p++) {
      stops.lastIndex = p;
      p = stops.test(t) ? stops.lastIndex - 1 : t.length;
      const c = t.charCodeAt(p);
      if (c === COLON) {
        const next = t.charCodeAt(p + 1);
        if (isBreakOrBlank(next) || (flow && isFlowIndicator(next))) break;
      } else if (c !== HASH || isBlank(t.charCodeAt(p - 1))) {
        break;
      }
    }
    while (p > start && isBlank(t.charCodeAt(p - 1))) p--; // trailing blanks are not part of the value
    this.pos = p;
    return t.slice(start, p);
  }

  private singleQuoted(): string {
    const t = this.text;
    let out = "";
    let from = this.pos + 1;
    for (;;) {
      singleQuoteStops.lastIndex = from;
      const p = singleQuoteStops.test(t) ? singleQuoteStops.lastIndex - 1 : t.length;
      if (t.charCodeAt(p) !== 39) {
        throw this.fail("unterminated single-quoted string: close it with ' on the same line (quoted values cannot span lines)");
      }
      if (t.charCodeAt(p + 1) !== 39) {
        this.pos = p + 1;
        return out + t.slice(from, p);
      }
      out += t.slice(from, p + 1); // '' stands for one '
      from = p + 2;
    }
  }

  private doubleQuoted(): string {
    const t = this.text;
    let out = "";
    let from = this.pos + 1;
    for (;;) {
      doubleQuoteStops.lastIndex = from;
      let p = doubleQuoteStops.test(t) ? doubleQuoteStops.lastIndex - 1 : t.length;
      const c = t.charCodeAt(p);
      out += t.slice(from, p);
      if (c === 34) {
        this.pos = p + 1;
        return out;
      }
      const kind = c === 92 ? (t[p + 1] ?? "") : "";
      const simple = escapesIn[kind];
      const hexLength = hexEscapeLength[kind];
      if (simple !== undefined) {
        out += simple;
        p += 2;
      } else if (hexLength !== undefined) {
        const hex = t.slice(p + 2, p + 2 + hexLength);
        const code = /^[0-9a-fA-F]+$/.test(hex) && hex.length === hexLength ? Number.parseInt(hex, 16) : -1;
        if (code < 0 || code > 0x10ffff) throw this.fail(`invalid escape "\\${kind}": expected ${hexLength} hex digits of a Unicode code point`);
        out += String.fromCodePoint(code);
        p += 2 + hexLength;
      } else if (kind === "" || kind === "\n") {
        throw this.fail('unterminated double-quoted string: close it with " on the same line (quoted values cannot span lines)');
      } else {
        throw this.fail(`unknown escape "\\${kind}" in a double-quoted string; write "\\\\" for a backslash`);
      }
      from = p;
    }
  }

  private flowCollection(parentColumn: number): YamlValue[] | YamlMap {
    this.enter();
    try {
      return this.flowCollectionAt(parentColumn);
    } finally {
      this.depth--;
    }
  }

  private flowCollectionAt(parentColumn: number): YamlValue[] | YamlMap {
    const t = this.text;
    const close = t.charCodeAt(this.pos) === 123 ? 125 : 93; // { } or [ ]
    const startLine = this.line;
    const map: YamlMap | undefined = close === 125 ? new Map() : undefined;
    const items: YamlValue[] = [];
    this.pos++;
    for (;;) {
      this.flowSpace(parentColumn, startLine, close);
      if (t.charCodeAt(this.pos) === close) break;
      const itemLine = this.line;
      const item = this.inline(true, parentColumn);
      this.flowSpace(parentColumn, startLine, close);
      if (t.charCodeAt(this.pos) === COLON) {
        const key = this.checkKey(item, itemLine);
        this.pos++;
        this.flowSpace(parentColumn, startLine, close);
        const next = t.charCodeAt(this.pos);
        const value = next === 44 || next === close ? null : this.inline(true, parentColumn);
        this.flowSpace(parentColumn, startLine, close);
        if (map !== undefined) this.setUnique(map, key, value, itemLine);
        else items.push(new Map([[key, value]])); // `[a: 1]` is a sequence of one single-pair mapping
      } else if (map !== undefined) {
        this.setUnique(map, this.checkKey(item, itemLine), null, itemLine); // `{a, b}` has null values
      } else {
        items.push(item);
      }
      const next = t.charCodeAt(this.pos);
      if (next === close) break;
      if (next !== 44) {
        throw this.fail(`expected "," or "${String.fromCharCode(close)}" but found "${this.snippet()}" (values cannot span lines)`);
      }
      this.pos++;
    }
    this.pos++;
    return map ?? items;
  }

  /** Skips blanks, line breaks and comments inside a flow collection; a line back at the block's indentation means the collection was never closed. */
  private flowSpace(parentColumn: number, startLine: number, close: number): void {
    const t = this.text;
    for (;;) {
      const c = t.charCodeAt(this.pos);
      if (c > SPACE && c !== HASH) return; // the common case: a token follows at once
      if (isBlank(c)) {
        this.pos++;
      } else if (c === LF) {
        this.pos++;
        this.line++;
        this.lineStart = this.pos;
        let p = this.pos;
        while (t.charCodeAt(p) === SPACE) p++;
        const first = t.charCodeAt(p);
        if (p - this.pos <= parentColumn && !isBreakOrBlank(first) && first !== HASH && first !== close) {
          throw this.unclosed(startLine, close);
        }
      } else if (c === HASH && (this.pos === this.lineStart || isBlank(t.charCodeAt(this.pos - 1)))) {
        const newline = t.indexOf("\n", this.pos);
        this.pos = newline < 0 ? t.length : newline;
      } else if (Number.isNaN(c)) {
        throw this.unclosed(startLine, close);
      } else {
        return;
      }
    }
  }

  private unclosed(startLine: number, close: number): CmkError {
    const [open, closing] = close === 125 ? ["{", "}"] : ["[", "]"];
    return this.fail(`"${open}" is never closed: add the missing "${closing}" before line ${this.line}`, startLine);
  }

  /**
   * Moves to the first content of the current or a later line, skipping blank and comment lines.
   * Returns its column, or -1 at the end of the text or at a document marker (`---`, `...`).
   * Idempotent: it restarts from the current line's beginning.
   */
  private nextContent(): number {
    const t = this.text;
    for (let p = this.lineStart; ; ) {
      const start = p;
      while (t.charCodeAt(p) === SPACE) p++;
      let c = t.charCodeAt(p);
      if (c === TAB) {
        while (isBlank(c)) c = t.charCodeAt(++p);
        if (c !== LF && c !== HASH && !Number.isNaN(c)) {
          this.pos = p;
          throw this.fail("a tab is used for indentation; YAML indentation must use spaces");
        }
      }
      if (c === HASH || c === LF) {
        const newline = t.indexOf("\n", p);
        if (newline >= 0) {
          p = newline + 1;
          this.line++;
          this.lineStart = p;
          continue;
        }
        p = t.length;
      }
      this.pos = p;
      if (p === t.length) {
        this.lineStart = p;
        return -1;
      }
      if (p === start && (this.atMarker("---") || this.atMarker("..."))) return -1;
      return p - start;
    }
  }

  /** Ends the current line after a value: only blanks and a comment may follow. */
  private endLine(): void {
    this.skipBlanks();
    const t = this.text;
    if (t.charCodeAt(this.pos) === HASH) {
      const newline = t.indexOf("\n", this.pos);
      this.pos = newline < 0 ? t.length : newline;
    }
    if (this.pos >= t.length) {
      this.lineStart = t.length;
      return;
    }
    if (t.charCodeAt(this.pos) !== LF) throw this.fail(`unexpected "${this.snippet()}" after the value; quote the whole value or start a comment with " #"`);
    this.pos++;
    this.line++;
    this.lineStart = this.pos;
  }

  private skipBlanks(): void {
    while (isBlank(this.text.charCodeAt(this.pos))) this.pos++;
  }

  private atLineEnd(): boolean {
    const c = this.text.charCodeAt(this.pos);
    return c === LF || c === HASH || Number.isNaN(c);
  }

  private atSequenceItem(): boolean {
    return this.text[this.pos] === "-" && isBreakOrBlank(this.text.charCodeAt(this.pos + 1));
  }

  private atExplicitKey(): boolean {
    return this.text.charCodeAt(this.pos) === 63 && isBreakOrBlank(this.text.charCodeAt(this.pos + 1));
  }

  private atMappingColon(): boolean {
    return this.text.charCodeAt(this.pos) === COLON && isBreakOrBlank(this.text.charCodeAt(this.pos + 1));
  }

  private atMarker(marker: string): boolean {
    return this.text.startsWith(marker, this.pos) && isBreakOrBlank(this.text.charCodeAt(this.pos + 3));
  }

  private checkKey(value: YamlValue, line: number): YamlKey {
    if (!isScalar(value)) throw this.fail("a mapping key must be a scalar, not a [ ] or { } collection", line);
    return value;
  }

  private setUnique(map: YamlMap, key: YamlKey, value: YamlValue, line: number): void {
    const size = map.size;
    // One hash lookup instead of has() then set(); the map is discarded when the key repeats.
    if (map.set(key, value).size === size) throw this.fail(`duplicate key ${JSON.stringify(key)} in this mapping; remove or rename one of them`, line);
  }

  private badIndentation(found: number, expected: number): CmkError {
    return this.fail(
      `bad indentation: ${found} spaces where the entries around it have ${expected}; align it with them (values cannot continue onto another line)`,
    );
  }

  private snippet(): string {
    const newline = this.text.indexOf("\n", this.pos);
    const rest = this.text.slice(this.pos, newline < 0 ? this.text.length : newline);
    return rest.length > 30 ? `${rest.slice(0, 30)}...` : rest;
  }

  private fail(message: string, line = this.line): CmkError {
    return new CmkError("invalid-state", `${this.source}: line ${line}: ${message}`);
  }
}

// YAML 1.1 implicit types exactly as PyYAML resolves them, so both implementations agree on
// which plain scalars are strings.
const intPattern = /^([-+]?)(?:0b([01_]+)|0x([0-9a-fA-F_]+)|0([0-7_]+)|(0|[1-9][0-9_]*)|([1-9][0-9_]*(?::[0-5]?[0-9])+))$/;
const floatPattern = /^(?:[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?|[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*)|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?)$/;

const keywords = new Map<string, YamlValue>([
  ...["", "~", "null", "Null", "NULL"].map((word) => [word, null] as const),
  ...["true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"].map((word) => [word, true] as const),
  ...["false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"].map((word) => [word, false] as const),
  ...[".nan", ".NaN", ".NAN"].map((word) => [word, Number.NaN] as const),
  ...[".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"].map((word) => [word, Number.POSITIVE_INFINITY] as const),
  ...["-.inf", "-.Inf", "-.INF"].map((word) => [word, Number.NEGATIVE_INFINITY] as const),
]);

/** What a plain scalar can be, by its first character: 1 a keyword, 2 a number (bit flags). */
const plainStarts = new Uint8Array(128);
for (const ch of "~nNtTfFyYoO") plainStarts[ch.charCodeAt(0)] = 1;
for (const ch of "0123456789") plainStarts[ch.charCodeAt(0)] = 2;
for (const ch of ".+-") plainStarts[ch.charCodeAt(0)] = 3;

/** The value of a plain scalar: the text itself when it is a string, undefined for numbers JS cannot hold exactly. */
function resolvePlain(text: string): YamlValue | undefined {
  const length = text.length;
  const first = text.charCodeAt(0);
  const kind = length === 0 ? 1 : first < 128 ? (plainStarts[first] ?? 0) : 0;
  if (kind === 0) return text; // most strings: the first character already rules out every other type
  if ((kind & 1) !== 0 && length <= 5) {
    const keyword = keywords.get(text);
    if (keyword !== undefined) return keyword;
  }
  if ((kind & 2) === 0) return text;
  // Fast path for the common cases: a decimal integer, and CPU lists (no number has a comma).
  const digitsStart = first === 43 || first === 45 ? 1 : 0;
  let value = 0;
  let i = digitsStart;
  for (; i < length; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) break;
    value = value * 10 + digit;
  }
  const digits = i - digitsStart;
  if (i === length && digits > 0 && digits <= 15 && (digits === 1 || text.charCodeAt(digitsStart) !== 48)) {
    return first === 45 && value !== 0 ? -value : value; // a leading zero would make it octal
  }
  if (text.charCodeAt(i) === 44) return text;
  const int = intPattern.exec(text);
  if (int !== null) {
    const [, sign, binary, hex, octal, decimal, base60] = int;
    const parse = (part: string, radix: number): number => Number.parseInt(part.replaceAll("_", ""), radix);
    const magnitude =
      binary !== undefined
        ? parse(binary, 2)
        : hex !== undefined
          ? parse(hex, 16)
          : octal !== undefined
            ? octal.replaceAll("_", "") === ""
              ? 0
              : parse(octal, 8)
            : decimal !== undefined
              ? parse(decimal, 10)
              : sexagesimal(base60 ?? "");
    if (!Number.isSafeInteger(magnitude)) return undefined;
    return sign === "-" && magnitude !== 0 ? -magnitude : magnitude;
  }
  if (floatPattern.test(text)) {
    const body = text.replaceAll("_", "");
    if (!body.includes(":")) return Number(body);
    const magnitude = sexagesimal(body.replace(/^[-+]/, ""));
    return body[0] === "-" ? -magnitude : magnitude;
  }
  return text;
}

function sexagesimal(text: string): number {
  let value = 0;
  for (const part of text.split(":")) value = value * 60 + Number(part.replaceAll("_", ""));
  return value;
}

export interface EmitOptions {
  /**
   * Write a string of several lines that a literal block keeps exactly as one (`|`), as people
   * write the files they read (Kubernetes manifests). PyYAML's style, the default, quotes it on
   * one line; this module's parser reads only that style back.
   */
  readonly literalBlocks?: boolean;
}

export function emitYaml(value: YamlValue, options: EmitOptions = {}): string {
  if (isScalar(value) || isEmpty(value)) {
    const text = inlineValue(value);
    // PyYAML ends a document whose root is a plain (unquoted) scalar with an explicit end marker.
    const plain = isScalar(value) && (typeof value !== "string" || text === value);
    return plain ? `${text}\n...\n` : `${text}\n`;
  }
  return emitBlock(value, 0, "", options.literalBlocks === true);
}

const isEmpty = (value: YamlValue[] | YamlMap): boolean => (Array.isArray(value) ? value.length === 0 : value.size === 0);

/**
 * The lines of a non-empty collection whose entries sit at `indent`; `lead` replaces the first
 * entry's indentation (for `- ` items). Built by concatenation, which V8 keeps cheap (ropes).
 */
function emitBlock(value: YamlValue[] | YamlMap, indent: number, lead: string, literal: boolean): string {
  const pad = " ".repeat(indent);
  let out = "";
  let prefix = lead;
  const scalar = (item: YamlKey): string => (literal && typeof item === "string" && isLiteralBlock(item) ? literalBlock(item, indent + 2) : inlineValue(item));
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item = value[i] ?? null;
      out +=
        isScalar(item) || isEmpty(item)
          ? `${prefix}- ${isScalar(item) ? scalar(item) : inlineValue(item)}\n`
          : emitBlock(item, indent + 2, `${prefix}- `, literal);
      prefix = pad;
    }
    return out;
  }
  value.forEach((item, key) => {
    const keyText = inlineValue(key);
    if (typeof key === "string" && needsExplicitKey(key)) {
      out += `${prefix}? ${keyText}\n`;
      // The value is compact, as after "- ".
      out += isScalar(item) || isEmpty(item) ? `${pad}: ${inlineValue(item)}\n` : emitBlock(item, indent + 2, `${pad}: `, literal);
    } else if (isScalar(item) || isEmpty(item)) {
      out += `${prefix}${keyText}: ${isScalar(item) ? scalar(item) : inlineValue(item)}\n`;
    } else {
      out += `${prefix}${keyText}:\n`;
      // Like PyYAML, sequences under a key are not indented further than the key.
      out += Array.isArray(item) ? emitBlock(item, indent, pad, literal) : emitBlock(item, indent + 2, `${pad}  `, literal);
    }
    prefix = pad;
  });
  return out;
}

/** Whether a literal block keeps `text` exactly: several printable lines, the first not indented (that would need an indentation indicator). */
function isLiteralBlock(text: string): boolean {
  return text.includes("\n") && !/^[ \t]/.test(text) && !/[\r\x85\u2028\u2029]/.test(text) && !nonPrintable.test(text.replaceAll("\n", ""));
}

/** `|` (one final line break), `|-` (none) or `|+` (several kept), then the lines at `indent`; the caller ends the last line. */
function literalBlock(text: string, indent: number): string {
  const body = text.replace(/\n+$/, "");
  const breaks = text.length - body.length;
  const pad = " ".repeat(indent);
  const lines = body.split("\n").map((line) => (line === "" ? "" : `${pad}${line}`));
  return `${breaks === 0 ? "|-" : breaks === 1 ? "|" : "|+"}\n${lines.join("\n")}${"\n".repeat(Math.max(0, breaks - 1))}`;
}

/** PyYAML's rule for simple keys: under 128 characters counting the 5 of its "!!str" tag, not empty, one line. */
function needsExplicitKey(key: string): boolean {
  return key.length >= 123 || key === "" || /[\n\x85\u2028\u2029]/.test(key);
}

function inlineValue(value: YamlValue): string {
  if (value === null) return "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") return formatNumber(value);
  if (typeof value === "string") return formatString(value);
  return Array.isArray(value) ? "[]" : "{}";
}

function formatNumber(value: number): string {
  if (Number.isSafeInteger(value)) return Object.is(value, -0) ? "-0.0" : String(value);
  if (Number.isNaN(value)) return ".nan";
  if (!Number.isFinite(value)) return value > 0 ? ".inf" : "-.inf";
  // Integers beyond 2^53 are written as floats so that they read back as the same double.
  const text = Number.isInteger(value) ? value.toExponential() : String(value);
  return text.includes(".") ? text : text.replace("e", ".0e"); // YAML 1.1 floats need a "."
}

// YAML's printable characters, minus U+2028/U+2029 (line breaks to PyYAML) and the BOM.
const printableAscii = /^[\x20-\x7E]*$/; // the common case, checked without the slower Unicode-mode pattern
const nonPrintable = /[^\x20-\x7E\xA0-\u2027\u202A-\uD7FF\uE000-\uFEFE\uFF00-\uFFFD\u{10000}-\u{10FFFF}]/u;
const timestampPattern = /^(?:\d{4}-\d\d-\d\d|\d{4}-\d\d?-\d\d?(?:[Tt]|[ \t]+)\d\d?:\d\d:\d\d(?:\.\d*)?(?:[ \t]*(?:Z|[-+]\d\d?(?::\d\d)?))?)$/;
const escapesOut: Readonly<Record<string, string>> = {
  "\0": "0",
  "\x07": "a",
  "\b": "b",
  "\t": "t",
  "\n": "n",
  "\v": "v",
  "\f": "f",
  "\r": "r",
  "\x1b": "e",
  '"': '"',
  "\\": "\\",
  "\x85": "N",
  "\u2028": "L",
  "\u2029": "P",
};

/** Plain when it reads back as the same string (PyYAML's rules), single-quoted otherwise, double-quoted if it needs escapes. */
function formatString(text: string): string {
  if (!printableAscii.test(text) && nonPrintable.test(text)) {
    let out = '"';
    for (const ch of text) {
      const escaped = escapesOut[ch];
      const code = ch.codePointAt(0) ?? 0;
      if (escaped !== undefined) out += `\\${escaped}`;
      else if (!nonPrintable.test(ch)) out += ch;
      else out += code <= 0xff ? `\\x${code.toString(16).toUpperCase().padStart(2, "0")}` : `\\u${code.toString(16).toUpperCase().padStart(4, "0")}`;
    }
    return `${out}"`;
  }
  if (isPlainSafe(text)) return text;
  return text.includes("'") ? `'${text.replaceAll("'", "''")}'` : `'${text}'`;
}

function isPlainSafe(text: string): boolean {
  if (resolvePlain(text) !== text || text === "<<" || text === "=" || timestampPattern.test(text)) return false;
  if (text.startsWith("---") || text.startsWith("...")) return false;
  const first = text[0] ?? "";
  if ("#,[]{}&*!|>'\"%@`".includes(first)) return false;
  if ("-?:".includes(first) && isBreakOrBlank(text.charCodeAt(1))) return false;
  if (first === " " || text.endsWith(" ") || text.endsWith(":")) return false;
  return !text.includes(": ") && !text.includes(" #");
}
