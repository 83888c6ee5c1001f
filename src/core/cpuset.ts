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
   */
  static parse(text: string, options: { lastCpu?: number; what?: string } = {}): CpuSet {
    const what = options.what ?? "CPU list";
    const trimmed = text.trim();
    if (trimmed === "") return CpuSet.empty;
    // CPU-list keys as cmk init writes them ("4,132"), read by every state transaction of every
    // short-lived cmk: one native regex test, no per-item matching.
    if (plainIdList.test(trimmed)) {
      const ids = trimmed.split(",").map(Number);
      if (ids.every((id) => id <= maxCpuId)) return CpuSet.fromOwned(ids);
    }
    const ids: number[] = [];
    for (const rawItem of trimmed.split(",")) {
      const item = rawItem.trim();
      const fail = (why: string): CmkError =>
        new CmkError("usage", `invalid ${what} "${trimmed}": "${item}" ${why} (expected ids and ranges such as 0-3,8,10-15:2)`);
      const match = /^(\d+|N)(?:-(\d+|N)(?::(\d+)(?:\/(\d+))?)?)?$/.exec(item);
      if (match === null) throw fail("is not a CPU id or range");
      const toId = (token: string): number => {
        if (token === "N") {
          if (options.lastCpu === undefined) throw fail("uses N but the last CPU is unknown here");
          return options.lastCpu;
        }
        const value = Number(token);
        if (value > maxCpuId) throw fail(`names CPU ${token}, above the largest supported id ${maxCpuId}`);
        return value;
      };
      const first = toId(match[1] as string);
      const last = match[2] === undefined ? first : toId(match[2]);
      if (last < first) throw fail("is a range whose end is below its start");
      // `a-b:s` is a stride; the kernel's `a-b:u/g` takes the first u of every g CPUs.
      const used = match[3] === undefined ? 1 : match[4] === undefined ? 1 : Number(match[3]);
      const group = match[3] === undefined ? 1 : match[4] === undefined ? Number(match[3]) : Number(match[4]);
      if (group === 0 || used === 0 || used > group) throw fail("has a stride or group that selects nothing");
      for (let start = first; start <= last; start += group) {
        for (let id = start; id < start + used && id <= last; id++) ids.push(id);
      }
    }
    return CpuSet.of(ids);
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
    return hexDigits(this.ids)
      .replace(/^0+(?=.)/, "")
      .toUpperCase();
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

const plainIdList = /^\d{1,5}(?:,\d{1,5})*$/;

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
