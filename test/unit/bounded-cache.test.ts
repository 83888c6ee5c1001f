// The memo that keeps CPU sets of CPU-list keys: hits for a working set below its capacity, and
// never more than its capacity however many distinct keys it meets.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BoundedCache } from "../../src/core/bounded-cache.ts";

describe("BoundedCache", () => {
  it("gives back what it was given", () => {
    const cache = new BoundedCache<string, number>(4);
    cache.set("a", 1);
    cache.set("b", 2);
    assert.equal(cache.get("a"), 1);
    assert.equal(cache.get("b"), 2);
    assert.equal(cache.get("c"), undefined);
  });

  it("stays within its capacity after many distinct keys", () => {
    const cache = new BoundedCache<string, number>(100);
    for (let index = 0; index < 100_000; index++) {
      cache.set(`key ${index}`, index);
      assert.ok(cache.size <= 100, `${cache.size} entries after ${index + 1} keys`);
    }
    assert.equal(cache.get("key 99999"), 99999, "the newest entry is kept");
  });

  it("keeps a full working set when its keys are set again", () => {
    const cache = new BoundedCache<number, string>(3);
    for (let round = 0; round < 3; round++) for (const key of [1, 2, 3]) cache.set(key, `value ${key}`);
    assert.equal(cache.size, 3);
    assert.deepEqual(
      [1, 2, 3].map((key) => cache.get(key)),
      ["value 1", "value 2", "value 3"],
    );
  });

  it("refuses a capacity below one", () => {
    assert.throws(() => new BoundedCache(0), RangeError);
    assert.throws(() => new BoundedCache(1.5), RangeError);
  });
});
