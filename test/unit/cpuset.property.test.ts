// CpuSet against a naive model, a sorted array of unique ints: every text form round-trips, the
// kernel's cpulist syntax (ranges, strides, used/group) expands as the kernel expands it, and the
// set algebra (union, intersection, difference, subset, size, order) agrees with the model.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CpuSet, maxCpuId } from "../../src/core/cpuset.ts";
import { CmkError } from "../../src/core/errors.ts";
import { fc, runs } from "../helpers/property.ts";

/** The model: sorted, unique. */
const model = (ids: Iterable<number>): number[] => [...new Set(ids)].sort((a, b) => a - b);

/** CPU ids, mostly small (where runs and collisions happen), some anywhere up to the largest id. */
const cpuId = fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 140 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: maxCpuId }) });
const idList = fc.array(cpuId, { maxLength: 60 });

/** One item of a kernel cpulist and the ids it stands for, expanded the naive way. */
const cpulistItem: fc.Arbitrary<{ text: string; ids: number[] }> = fc.oneof(
  cpuId.map((id) => ({ text: String(id), ids: [id] })),
  fc.tuple(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 40 })).map(([first, length]) => ({
    text: `${first}-${first + length}`,
    ids: Array.from({ length: length + 1 }, (_, index) => first + index),
  })),
  fc.tuple(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 9 })).map(([first, length, stride]) => ({
    text: `${first}-${first + length}:${stride}`,
    ids: Array.from({ length: length + 1 }, (_, index) => first + index).filter((id) => (id - first) % stride === 0),
  })),
  fc
    .tuple(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 8 }))
    .map(([first, length, used, extra]) => ({
      text: `${first}-${first + length}:${used}/${used + extra}`,
      ids: Array.from({ length: length + 1 }, (_, index) => first + index).filter((id) => (id - first) % (used + extra) < used),
    })),
);

describe("CpuSet text forms (property)", () => {
  it("holds exactly the model's ids, whatever their order and repeats", () => {
    fc.assert(
      fc.property(idList, (ids) => {
        const set = CpuSet.of(ids);
        assert.deepEqual(set.ids, model(ids));
        assert.equal(set.size, model(ids).length);
        assert.equal(set.isEmpty, ids.length === 0);
        assert.equal(set.first, model(ids)[0]);
        assert.equal(set.last, model(ids).at(-1));
      }),
      runs(300),
    );
  });

  it("round-trips the canonical cpulist, the plain list, both hex masks and the bytes of cpu_set_t", () => {
    fc.assert(
      fc.property(idList, (ids) => {
        const set = CpuSet.of(ids);
        assert.deepEqual(CpuSet.parse(set.toString()).ids, set.ids);
        assert.deepEqual(CpuSet.parse(set.toPlainList()).ids, set.ids);
        assert.deepEqual(CpuSet.parseMask(set.toCmkMask()).ids, set.ids);
        assert.deepEqual(CpuSet.parseMask(set.toKernelMask()).ids, set.ids);
        assert.deepEqual(CpuSet.fromBytes(set.toBytes()).ids, set.ids);
      }),
      runs(300),
    );
  });

  it("writes the canonical cpulist with every run of consecutive ids collapsed, and nothing else", () => {
    fc.assert(
      fc.property(idList, (ids) => {
        const text = CpuSet.of(ids).toString();
        const runsOf: [number, number][] = [];
        for (const id of model(ids)) {
          const last = runsOf.at(-1);
          if (last !== undefined && last[1] === id - 1) last[1] = id;
          else runsOf.push([id, id]);
        }
        assert.equal(text, runsOf.map(([first, last]) => (first === last ? String(first) : `${first}-${last}`)).join(","));
      }),
      runs(300),
    );
  });

  it("expands the kernel's cpulist syntax (ids, ranges, strides, used/group, spaces around items) as the kernel does", () => {
    fc.assert(
      fc.property(fc.array(cpulistItem, { minLength: 1, maxLength: 8 }), fc.boolean(), (items, spaced) => {
        const text = items.map((item) => (spaced ? ` ${item.text} ` : item.text)).join(",");
        assert.deepEqual(CpuSet.parse(text).ids, model(items.flatMap((item) => item.ids)));
      }),
      runs(300),
    );
  });

  it("writes CMK's mask as upper-case hex without leading zeros, bit n for CPU n", () => {
    fc.assert(
      fc.property(idList, (ids) => {
        const expected = model(ids)
          .reduce((mask, id) => mask | (1n << BigInt(id)), 0n)
          .toString(16)
          .toUpperCase();
        assert.equal(CpuSet.of(ids).toCmkMask(), expected);
      }),
      runs(200),
    );
  });
});

describe("CpuSet algebra against the model (property)", () => {
  it("union, intersection, difference, subset, intersects, has, equals and compare agree with sorted arrays", () => {
    fc.assert(
      fc.property(idList, idList, cpuId, (left, right, probe) => {
        const [a, b] = [CpuSet.of(left), CpuSet.of(right)];
        const [x, y] = [model(left), model(right)];
        assert.deepEqual(a.union(b).ids, model([...x, ...y]));
        assert.deepEqual(
          a.intersection(b).ids,
          x.filter((id) => y.includes(id)),
        );
        assert.deepEqual(
          a.difference(b).ids,
          x.filter((id) => !y.includes(id)),
        );
        assert.equal(
          a.isSubsetOf(b),
          x.every((id) => y.includes(id)),
        );
        assert.equal(
          a.intersects(b),
          x.some((id) => y.includes(id)),
        );
        assert.equal(a.has(probe), x.includes(probe));
        assert.equal(a.equals(b), x.join() === y.join());
        assert.equal(a.union(b).size, x.length + y.length - a.intersection(b).size);
        assert.ok(a.intersection(b).isSubsetOf(a) && a.isSubsetOf(a.union(b)) && !a.difference(b).intersects(b));
        // Numeric, element by element, a prefix first: what orders CPU lists in the pool document.
        const expected = (() => {
          for (let index = 0; index < Math.min(x.length, y.length); index++) if (x[index] !== y[index]) return (x[index] as number) - (y[index] as number);
          return x.length - y.length;
        })();
        assert.equal(Math.sign(a.compare(b)), Math.sign(expected));
        assert.equal(Math.sign(b.compare(a)) + Math.sign(expected), 0, "antisymmetric");
      }),
      runs(400),
    );
  });
});

describe("CpuSet reading damaged text (property)", () => {
  it("any text parses as a cpulist or mask, or fails with a usage error quoting it, never anything else", () => {
    const text = fc.string({ unit: fc.constantFrom(..."0123456789-,:/N xaf"), maxLength: 24 });
    fc.assert(
      fc.property(text, (input) => {
        for (const parse of [(value: string) => CpuSet.parse(value, { lastCpu: 63 }), (value: string) => CpuSet.parseMask(value)]) {
          try {
            const set = parse(input);
            assert.ok(set.ids.every((id) => Number.isInteger(id) && id >= 0 && id <= maxCpuId));
          } catch (error) {
            assert.ok(error instanceof CmkError, `not a CmkError: ${String(error)}`);
            assert.equal(error.kind, "usage");
          }
        }
      }),
      runs(1000),
    );
  });
});
