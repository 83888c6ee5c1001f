import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CpuSet, maxCpuId } from "../../src/core/cpuset.ts";
import { CmkError } from "../../src/core/errors.ts";

const ids = (text: string, options?: { lastCpu?: number }): number[] => [...CpuSet.parse(text, options)];

/** Asserts that `run` throws a CmkError whose message contains every fragment. */
function throwsMentioning(run: () => unknown, ...fragments: string[]): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof CmkError, `expected a CmkError, got ${String(error)}`);
    for (const fragment of fragments)
      assert.ok(error.message.includes(fragment), `message ${JSON.stringify(error.message)} should mention ${JSON.stringify(fragment)}`);
    return true;
  });
}

describe("CpuSet.parse: kernel cpulists", () => {
  it("parses single ids, ranges and mixes, sorted and de-duplicated", () => {
    assert.deepEqual(ids("3"), [3]);
    assert.deepEqual(ids("0-3"), [0, 1, 2, 3]);
    assert.deepEqual(ids("8,0-2,10-11,1"), [0, 1, 2, 8, 10, 11]);
    assert.deepEqual(ids("4,12"), [4, 12]);
    assert.deepEqual(ids("5-5"), [5]);
  });

  it("expands a stride range a-b:s", () => {
    assert.deepEqual(ids("8-15:2"), [8, 10, 12, 14]);
    assert.deepEqual(ids("0-9:3"), [0, 3, 6, 9]);
    assert.deepEqual(ids("0-10:99"), [0]);
  });

  it("expands a kernel group range a-b:used/group", () => {
    assert.deepEqual(ids("0-15:2/8"), [0, 1, 8, 9]);
    assert.deepEqual(ids("0-11:1/4"), [0, 4, 8]);
    assert.deepEqual(ids("0-7:4/4"), [0, 1, 2, 3, 4, 5, 6, 7]);
    // The last group is cut at the range end.
    assert.deepEqual(ids("0-9:3/8"), [0, 1, 2, 8, 9]);
  });

  it("resolves N to the last CPU when it is known", () => {
    assert.deepEqual(ids("N", { lastCpu: 7 }), [7]);
    assert.deepEqual(ids("4-N", { lastCpu: 7 }), [4, 5, 6, 7]);
    assert.deepEqual(ids("0-N:2", { lastCpu: 7 }), [0, 2, 4, 6]);
  });

  it("refuses N when the last CPU is unknown, naming N", () => {
    throwsMentioning(() => CpuSet.parse("2-N"), '"2-N"', "N");
    throwsMentioning(() => CpuSet.parse("N"), '"N"');
  });

  it("tolerates whitespace around the list and its items (sysfs files end with a newline)", () => {
    assert.deepEqual(ids(" 0-3 , 8 \n"), [0, 1, 2, 3, 8]);
    assert.deepEqual(ids("\t1,2\n"), [1, 2]);
  });

  it("reads an empty or blank string as the empty set", () => {
    assert.equal(CpuSet.parse("").isEmpty, true);
    assert.equal(CpuSet.parse("  \n").size, 0);
    assert.equal(CpuSet.parse("").toString(), "");
  });

  it("names the offending item in its errors", () => {
    throwsMentioning(() => CpuSet.parse("1,x,3"), '"x"');
    throwsMentioning(() => CpuSet.parse("0,5-3"), '"5-3"', "below");
    throwsMentioning(() => CpuSet.parse("1-2:0"), '"1-2:0"');
    throwsMentioning(() => CpuSet.parse("0-7:0/4"), '"0-7:0/4"');
    throwsMentioning(() => CpuSet.parse("0-7:5/4"), '"0-7:5/4"');
    throwsMentioning(() => CpuSet.parse("-1"), '"-1"');
    throwsMentioning(() => CpuSet.parse("1,,2"), '""');
    throwsMentioning(() => CpuSet.parse("0x3"), '"0x3"');
    throwsMentioning(() => CpuSet.parse("1.5"), '"1.5"');
  });

  it("refuses ids above 65535, naming the id", () => {
    assert.equal(maxCpuId, 65535);
    assert.deepEqual(ids("65535"), [65535]);
    throwsMentioning(() => CpuSet.parse("65536"), "65536");
    throwsMentioning(() => CpuSet.parse("0-70000"), "70000");
    throwsMentioning(() => CpuSet.parse("99999999999999999999"), "99999999999999999999");
    throwsMentioning(() => CpuSet.of([65536]), "65536");
    throwsMentioning(() => CpuSet.of([-1]), "-1");
    throwsMentioning(() => CpuSet.of([1.5]), "1.5");
  });

  it("errors are usage errors", () => {
    assert.throws(
      () => CpuSet.parse("x"),
      (error: unknown) => error instanceof CmkError && error.kind === "usage",
    );
  });
});

describe("CpuSet formatting", () => {
  it("toString is the canonical kernel cpulist with runs collapsed", () => {
    assert.equal(CpuSet.of([11, 10, 0, 1, 2, 3, 8]).toString(), "0-3,8,10-11");
    assert.equal(CpuSet.of([4, 12]).toString(), "4,12");
    assert.equal(CpuSet.parse("8-15:2").toString(), "8,10,12,14");
  });

  it("round-trips parse -> toString -> parse", () => {
    for (const text of ["0", "0-3,8,10-11", "1,3,5,7", "0-65535", "2047", "4095,0-2"]) {
      const set = CpuSet.parse(text);
      assert.ok(CpuSet.parse(set.toString()).equals(set), text);
      assert.ok(CpuSet.parse(set.toPlainList()).equals(set), text);
    }
  });

  it("toPlainList writes every id without ranges, as cmk init writes CPU-list keys", () => {
    assert.equal(CpuSet.parse("0-2,8-10").toPlainList(), "0,1,2,8,9,10");
    assert.equal(CpuSet.empty.toPlainList(), "");
  });

  it("toCmkMask matches CMK_CPUS_ASSIGNED_MASK examples", () => {
    assert.equal(CpuSet.of([0, 1]).toCmkMask(), "3");
    assert.equal(CpuSet.of([0]).toCmkMask(), "1");
    assert.equal(CpuSet.of([1]).toCmkMask(), "2");
    assert.equal(CpuSet.of([4, 12]).toCmkMask(), "1010");
    assert.equal(CpuSet.empty.toCmkMask(), "0");
    assert.equal(CpuSet.parse("0-3,8-11").toCmkMask(), "F0F");
    assert.equal(CpuSet.of([32]).toCmkMask(), "100000000");
  });

  it("toKernelMask writes comma-grouped 32-bit words", () => {
    assert.equal(CpuSet.of([0, 1]).toKernelMask(), "00000003");
    assert.equal(CpuSet.empty.toKernelMask(), "00000000");
    assert.equal(CpuSet.of([32]).toKernelMask(), "00000001,00000000");
    assert.equal(CpuSet.of([0, 40]).toKernelMask(), "00000100,00000001");
    assert.equal(CpuSet.parse("0-31").toKernelMask(), "ffffffff");
    assert.equal(CpuSet.of([64, 31]).toKernelMask(), "00000001,00000000,80000000");
  });

  it("parseMask reads both mask forms, with or without 0x", () => {
    assert.deepEqual([...CpuSet.parseMask("3")], [0, 1]);
    assert.deepEqual([...CpuSet.parseMask("1010")], [4, 12]);
    assert.deepEqual([...CpuSet.parseMask("0x1010")], [4, 12]);
    assert.deepEqual([...CpuSet.parseMask("0XfF")], [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual([...CpuSet.parseMask("00000001,00000000")], [32]);
    assert.deepEqual([...CpuSet.parseMask("00000100,00000001\n")], [0, 40]);
    assert.equal(CpuSet.parseMask("0").isEmpty, true);
    assert.equal(CpuSet.parseMask("00000000,00000000").isEmpty, true);
  });

  it("parseMask refuses non-hex text, quoting it", () => {
    throwsMentioning(() => CpuSet.parseMask("12g4"), '"12g4"');
    throwsMentioning(() => CpuSet.parseMask(""), '""');
    throwsMentioning(() => CpuSet.parseMask("0x"), '"0x"');
  });
});

describe("CPUs beyond 1024", () => {
  const sets = [CpuSet.of([2047]), CpuSet.of([4095]), CpuSet.of([0, 1023, 1024, 2047, 4095]), CpuSet.parse("4000-4095:3,7")];

  it("round-trip through every text format", () => {
    for (const set of sets) {
      const label = set.toString();
      assert.ok(CpuSet.parse(set.toString()).equals(set), `cpulist ${label}`);
      assert.ok(CpuSet.parse(set.toPlainList()).equals(set), `plain ${label}`);
      assert.ok(CpuSet.parseMask(set.toCmkMask()).equals(set), `cmk mask ${label}`);
      assert.ok(CpuSet.parseMask(set.toKernelMask()).equals(set), `kernel mask ${label}`);
    }
  });

  it("format masks at the right width", () => {
    const mask = CpuSet.of([2047]).toCmkMask();
    assert.equal(mask, `8${"0".repeat(511)}`);
    const kernel = CpuSet.of([4095]).toKernelMask().split(",");
    assert.equal(kernel.length, 128);
    assert.equal(kernel[0], "80000000");
    assert.ok(kernel.slice(1).every((word) => word === "00000000"));
  });

  it("round-trip through toBytes/fromBytes, in cpu_set_t layout", () => {
    for (const set of sets) assert.ok(CpuSet.fromBytes(set.toBytes()).equals(set), set.toString());
    const bytes = CpuSet.of([4095]).toBytes();
    assert.equal(bytes.length, 512);
    assert.equal(bytes[511], 0x80);
    assert.equal(
      bytes.slice(0, 511).every((byte) => byte === 0),
      true,
    );
  });
});

describe("toBytes/fromBytes", () => {
  it("sets bit i of byte i/8 and sizes the buffer in 64-bit words", () => {
    assert.deepEqual([...CpuSet.of([0, 1, 9]).toBytes()], [3, 2, 0, 0, 0, 0, 0, 0]);
    assert.equal(CpuSet.empty.toBytes().length, 8);
    assert.equal(CpuSet.of([63]).toBytes().length, 8);
    assert.equal(CpuSet.of([64]).toBytes().length, 16);
    assert.deepEqual([...CpuSet.fromBytes(new Uint8Array([0x81, 0, 0x01]))], [0, 7, 16]);
    assert.equal(CpuSet.fromBytes(new Uint8Array(16)).isEmpty, true);
  });
});

describe("set operations", () => {
  const a = CpuSet.parse("0-5");
  const b = CpuSet.parse("4-9");

  it("union, intersection, difference", () => {
    assert.equal(a.union(b).toString(), "0-9");
    assert.equal(a.intersection(b).toString(), "4-5");
    assert.equal(a.difference(b).toString(), "0-3");
    assert.equal(b.difference(a).toString(), "6-9");
    assert.equal(a.union(CpuSet.empty).toString(), "0-5");
    assert.equal(a.intersection(CpuSet.parse("10-12")).isEmpty, true);
  });

  it("membership and relations", () => {
    assert.equal(a.has(5), true);
    assert.equal(a.has(6), false);
    assert.equal(CpuSet.parse("1,3,5,7,9,11").has(7), true);
    assert.equal(CpuSet.parse("1,3,5,7,9,11").has(8), false);
    assert.equal(a.intersects(b), true);
    assert.equal(a.intersects(CpuSet.parse("6-9")), false);
    assert.equal(CpuSet.parse("1-2").isSubsetOf(a), true);
    assert.equal(b.isSubsetOf(a), false);
    assert.equal(CpuSet.empty.isSubsetOf(a), true);
    assert.equal(CpuSet.parse("0-5").equals(a), true);
    assert.equal(CpuSet.parse("0-4").equals(a), false);
    assert.equal(CpuSet.of([5, 4, 3, 2, 1, 0, 0]).equals(a), true);
  });

  it("size, first, last", () => {
    assert.equal(a.size, 6);
    assert.equal(a.first, 0);
    assert.equal(b.last, 9);
    assert.equal(CpuSet.empty.first, undefined);
    assert.equal(CpuSet.empty.last, undefined);
  });

  it("range builds an inclusive range", () => {
    assert.equal(CpuSet.range(2, 5).toString(), "2-5");
    assert.equal(CpuSet.range(3, 2).isEmpty, true);
  });

  it("compare orders numerically: 2,22 before 10,30", () => {
    const lists = ["10,30", "2,22", "4,24", "1,21", "10,11"].map((text) => CpuSet.parse(text));
    const sorted = lists.sort((x, y) => x.compare(y)).map((set) => set.toPlainList());
    assert.deepEqual(sorted, ["1,21", "2,22", "4,24", "10,11", "10,30"]);
    assert.ok(CpuSet.parse("2,22").compare(CpuSet.parse("10,30")) < 0);
    assert.ok(CpuSet.parse("10,30").compare(CpuSet.parse("2,22")) > 0);
    assert.equal(CpuSet.parse("3,4").compare(CpuSet.parse("3-4")), 0);
    assert.ok(CpuSet.parse("3").compare(CpuSet.parse("3,4")) < 0);
  });
});
