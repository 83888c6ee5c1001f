// An immutable set of logical CPU ids and the text formats it travels in:
// kernel cpulists ("0-3,8,10-15:2"), CMK CPU-list keys ("4,12"), CMK masks ("1010")
// and kernel comma-grouped hex masks ("00000000,00001010").
import { CmkError } from "./errors.ts";

/** Linux's largest configurable CPU count is 8192; leave headroom without allowing absurd ranges. */
export const maxCpuId = 65535;

export class CpuSet implements Iterable<number> {
  static readonly empty = new CpuSet([]);

  /** Sorted, unique CPU ids. */
  readonly ids: readonly number[];

  private constructor(sortedUniqueIds: readonly number[]) {
    this.ids = sortedUniqueIds;
  }

  static of(ids: Iterable<number>): CpuSet {
    const list = [...ids];
    for (const id of list) checkCpuId(id);
    return CpuSet.fromOwned(list);
  }

  /** A set from valid ids in an array nobody else holds (sorted and deduplicated in place if needed). */
  private static fromOwned(list: number[]): CpuSet {
    if (list.length === 0) return CpuSet.empty;
    let ordered = true;
    for (let index = 1; index < list.length && ordered; index++) ordered = (list[index - 1] as number) < (list[index] as number);
    if (ordered) return new CpuSet(list); // CPU-list keys and kernel lists already are.
    list.sort((a, b) => a - b);
    return new CpuSet(list.filter((id, index) => index === 0 || list[index - 1] !== id));
  }

  static range(first: number, last: number): CpuSet {
    const ids: number[] = [];
    for (let id = first; id <= last; id++) ids.push(id);
    return CpuSet.of(ids);
  }

  /**
   * Parses the kernel cpulist syntax: comma-separated ids and ranges `a-b`, with an optional
   * `a-b:used/group` (kernel) or `a-b:stride` suffix. `N` stands for `lastCpu` when given.
   * A scanner rather than a regular expression: every state read parses each CPU-list key, in
   * a process too short-lived for V8 to optimise anything.
   */
  static parse(text: string, options: { lastCpu?: number; what?: string } = {}): CpuSet {
    const trimmed = text.trim();
    if (trimmed === "") return CpuSet.empty;
    // CPU-list keys as cmk init writes them ("4,132"): one native regex test instead of the scanner.
    if (plainIdList.test(trimmed)) {
      const ids = trimmed.split(",").map(Number);
      if (ids.every((id) => id <= maxCpuId)) return CpuSet.fromOwned(ids);
    }
    const ids: number[] = [];
    for (const rawItem of trimmed.split(",")) {
      const item = rawItem.trim();
      const scanned = scanItem(item, options.lastCpu);
      if (typeof scanned === "string") {
        throw new CmkError("usage", `invalid ${options.what ?? "CPU list"} "${trimmed}": "${item}" ${scanned} (expected ids and ranges such as 0-3,8,10-15:2)`);
      }
      const { first, last, used, group } = scanned;
      for (let start = first; start <= last; start += group) {
        for (let id = start; id < start + used && id <= last; id++) ids.push(id);
      }
    }
    return CpuSet.fromOwned(ids);
  }

  /** Parses a hex mask, CMK style ("1010") or kernel style ("ffffffff,00000003", optional 0x). */
  static parseMask(text: string): CpuSet {
    const cleaned = text.trim().replace(/^0x/i, "").replaceAll(",", "");
    if (!/^[0-9a-fA-F]+$/.test(cleaned)) {
      throw new CmkError("usage", `invalid CPU mask "${text}": expected hexadecimal digits, optionally grouped by commas`);
    }
    const ids: number[] = [];
    for (let digit = 0; digit < cleaned.length; digit++) {
      const nibble = parseInt(cleaned[cleaned.length - 1 - digit] as string, 16);
      for (let bit = 0; bit < 4; bit++) if (nibble & (1 << bit)) ids.push(digit * 4 + bit);
    }
    return CpuSet.of(ids);
  }

  /** Bit i of byte i/8 set for CPU i: the layout of the kernel's cpu_set_t. */
  static fromBytes(bytes: Uint8Array): CpuSet {
    const ids: number[] = [];
    bytes.forEach((byte, index) => {
      for (let bit = 0; bit < 8; bit++) if (byte & (1 << bit)) ids.push(index * 8 + bit);
    });
    return new CpuSet(ids);
  }

  get size(): number {
    return this.ids.length;
  }

  get isEmpty(): boolean {
    return this.ids.length === 0;
  }

  get first(): number | undefined {
    return this.ids[0];
  }

  get last(): number | undefined {
    return this.ids[this.ids.length - 1];
  }

  [Symbol.iterator](): Iterator<number> {
    return this.ids[Symbol.iterator]();
  }

  has(id: number): boolean {
    let low = 0;
    let high = this.ids.length - 1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      const value = this.ids[middle] as number;
      if (value === id) return true;
      if (value < id) low = middle + 1;
      else high = middle - 1;
    }
    return false;
  }

  union(other: CpuSet): CpuSet {
    return CpuSet.of([...this.ids, ...other.ids]);
  }

  intersection(other: CpuSet): CpuSet {
    return new CpuSet(this.ids.filter((id) => other.has(id)));
  }

  difference(other: CpuSet): CpuSet {
    return new CpuSet(this.ids.filter((id) => !other.has(id)));
  }

  equals(other: CpuSet): boolean {
    return this.ids.length === other.ids.length && this.ids.every((id, index) => other.ids[index] === id);
  }

  isSubsetOf(other: CpuSet): boolean {
    return this.ids.every((id) => other.has(id));
  }

  intersects(other: CpuSet): boolean {
    return this.ids.some((id) => other.has(id));
  }

  /** Orders sets by their ids, numerically: `2,22` before `10,30`. */
  compare(other: CpuSet): number {
    const length = Math.min(this.ids.length, other.ids.length);
    for (let index = 0; index < length; index++) {
      const difference = (this.ids[index] as number) - (other.ids[index] as number);
      if (difference !== 0) return difference;
    }
    return this.ids.length - other.ids.length;
  }

  /** Canonical kernel cpulist, as /proc prints it: sorted, runs collapsed ("0-3,8,10-11"). */
  toString(): string {
    const parts: string[] = [];
    let index = 0;
    while (index < this.ids.length) {
      const start = this.ids[index] as number;
      let end = start;
      while (this.ids[index + 1] === end + 1) {
        end++;
        index++;
      }
      parts.push(end === start ? String(start) : `${start}-${end}`);
      index++;
    }
    return parts.join(",");
  }

  /** Plain comma-separated ids, the form `cmk init` writes CPU-list keys in. */
  toPlainList(): string {
    return this.ids.join(",");
  }

  /** CMK_CPUS_ASSIGNED_MASK: upper-case hex, no 0x, no leading zeros, no grouping ("0" if empty). */
  toCmkMask(): string {
    return hexDigits(this.ids).replace(/^0+(?=.)/, "").toUpperCase();
  }

  /** The kernel's cpumask format: 32-bit words as 8 hex digits, most significant first, comma-separated. */
  toKernelMask(): string {
    const digits = hexDigits(this.ids);
    const padded = digits.padStart(Math.ceil(digits.length / 8) * 8, "0");
    return padded.match(/.{8}/g)?.join(",") ?? "00000000";
  }

  toBytes(): Uint8Array {
    const bytes = new Uint8Array(this.isEmpty ? 8 : Math.ceil(((this.last as number) + 1) / 64) * 8);
    for (const id of this.ids) bytes[id >> 3] = (bytes[id >> 3] as number) | (1 << (id & 7));
    return bytes;
  }
}

/** One cpulist item: ids first..last, taking `used` of every `group` (1 of 1 for a plain range). */
interface CpuListItem {
  readonly first: number;
  readonly last: number;
  readonly used: number;
  readonly group: number;
}

const plainIdList = /^\d{1,5}(?:,\d{1,5})*$/;
const DIGIT_0 = 48;
const DIGIT_9 = 57;

/** Scans `a`, `a-b`, `a-b:stride` or `a-b:used/group` (`N` for an id); the reason it is invalid otherwise. */
function scanItem(item: string, lastCpu: number | undefined): CpuListItem | string {
  let position = 0;
  let problem: string | null = null;
  /** The id at `position`, or -1 (with `problem` set) when there is no valid one. */
  const id = (allowN: boolean): number => {
    if (allowN && item.charCodeAt(position) === 78 /* N */) {
      position++;
      if (lastCpu === undefined) problem = "uses N but the last CPU is unknown here";
      return lastCpu ?? -1;
    }
    const start = position;
    let value = 0;
    for (let code = item.charCodeAt(position); code >= DIGIT_0 && code <= DIGIT_9; code = item.charCodeAt(++position)) value = value * 10 + code - DIGIT_0;
    if (position === start) {
      problem = "is not a CPU id or range";
      return -1;
    }
    if (value > maxCpuId) {
      problem = `names CPU ${item.slice(start, position)}, above the largest supported id ${maxCpuId}`;
      return -1;
    }
    return value;
  };
  const first = id(true);
  let last = first;
  let used = 1;
  let group = 1;
  if (first >= 0 && item.charCodeAt(position) === 45 /* - */) {
    position++;
    last = id(true);
    if (last >= 0 && item.charCodeAt(position) === 58 /* : */) {
      position++;
      group = id(false);
      if (group >= 0 && item.charCodeAt(position) === 47 /* / */) {
        position++;
        used = group;
        group = id(false);
      }
    }
  }
  if (problem !== null) return problem;
  if (position !== item.length) return "is not a CPU id or range";
  if (last < first) return "is a range whose end is below its start";
  if (group === 0 || used === 0 || used > group) return "has a stride or group that selects nothing";
  return { first, last, used, group };
}

function checkCpuId(id: number): void {
  if (!Number.isInteger(id) || id < 0 || id > maxCpuId) {
    throw new CmkError("usage", `invalid CPU id ${String(id)}: expected an integer from 0 to ${maxCpuId}`);
  }
}

function hexDigits(ids: readonly number[]): string {
  if (ids.length === 0) return "0";
  const nibbles = new Uint8Array(((ids[ids.length - 1] as number) >> 2) + 1);
  for (const id of ids) nibbles[id >> 2] = (nibbles[id >> 2] as number) | (1 << (id & 3));
  let text = "";
  for (let index = nibbles.length - 1; index >= 0; index--) text += (nibbles[index] as number).toString(16);
  return text;
}
