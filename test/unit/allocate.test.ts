// Allocation, release and reclaim of CPU lists on node states written as literals.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { allocate, type Placement, poolCpus, reclaimDead, releaseTask, type TaskLiveness } from "../../src/core/allocate.ts";
import type { CpuSet } from "../../src/core/cpuset.ts";
import type { NodeState } from "../../src/core/node-state.ts";
import { decodeYamlStateFile } from "../../src/formats/state-document.ts";
import { rec, state, throwsMentioning, view } from "../helpers/state.ts";

const allAlive: TaskLiveness = () => true;

describe("allocate", () => {
  const exclusive3 = (): NodeState =>
    state({ exclusive: { 0: { "4,12": ["100"], "5,13": [], "6,14": [] } }, shared: { 0: { "3,11": [] } } }, { "100": rec(100) });

  it("gives an exclusive task the first free list and records it", () => {
    const result = allocate(exclusive3(), { pool: "exclusive", socketId: null, count: 1, taskId: "200", record: rec(200) }, allAlive);
    assert.deepEqual(
      result.lists.map((list) => list.key),
      ["5,13"],
    );
    assert.deepEqual(view(result.state).exclusive, { 0: { "4,12": ["100"], "5,13": ["200"], "6,14": [] } });
    assert.deepEqual(result.state.tasks.get("200"), rec(200));
    assert.deepEqual(result.reclaimed, []);
  });

  it("hands out lists in numeric order (2,22 before 10,30)", () => {
    const current = decodeYamlStateFile("config:\n  exclusive:\n    0:\n      10,30: []\n      2,22: []\n", "s");
    const result = allocate(current, { pool: "exclusive", socketId: null, count: 1, taskId: "7", record: rec(7) }, allAlive);
    assert.deepEqual(
      result.lists.map((list) => list.key),
      ["2,22"],
    );
  });

  it("reclaims the lists of dead tasks when no list is free", () => {
    const full = state({ exclusive: { 0: { "4,12": ["100"], "5,13": ["101"] } } }, { "100": rec(100), "101": rec(101) });
    const asked: string[] = [];
    const alive: TaskLiveness = (taskId) => {
      asked.push(taskId);
      return taskId !== "101";
    };
    const result = allocate(full, { pool: "exclusive", socketId: null, count: 1, taskId: "300", record: rec(300) }, alive);
    assert.deepEqual(
      result.lists.map((list) => list.key),
      ["5,13"],
    );
    assert.deepEqual(result.reclaimed, [{ pid: 101, pool: "exclusive", cpus: "5,13" }]);
    assert.deepEqual(view(result.state).exclusive, { 0: { "4,12": ["100"], "5,13": ["300"] } });
    assert.equal(result.state.tasks.has("101"), false);
    assert.equal(result.state.tasks.has("100"), true);
    assert.ok(asked.includes("101"));
  });

  it("does not reclaim while free lists suffice", () => {
    const result = allocate(exclusive3(), { pool: "exclusive", socketId: null, count: 1, taskId: "200", record: rec(200) }, () => false);
    assert.deepEqual(result.reclaimed, []);
    assert.deepEqual(view(result.state).exclusive?.[0]?.["4,12"], ["100"]);
  });

  it("refuses with pool-exhausted, naming free/total and the holders", () => {
    const full = state(
      { exclusive: { 0: { "4,12": ["100"], "5,13": ["101"], "6,14": [] } } },
      { "100": rec(100, { child: { pid: 150, start: 9 } }), "101": rec(101) },
    );
    throwsMentioning(
      () => allocate(full, { pool: "exclusive", socketId: null, count: 2, taskId: "300", record: rec(300) }, allAlive),
      "pool-exhausted",
      "1 free of 3",
      "2 requested",
      "4,12 by PID 100 (child 150)",
      "5,13 by PID 101",
    );
  });

  it("refuses an unknown pool and an unknown socket", () => {
    throwsMentioning(() => allocate(exclusive3(), { pool: "infra", socketId: null, count: 1, taskId: "1", record: rec(1) }, allAlive), "does-not-fit", "infra");
    throwsMentioning(() => allocate(exclusive3(), { pool: "exclusive", socketId: 3, count: 1, taskId: "1", record: rec(1) }, allAlive), "does-not-fit", "3");
  });

  it("takes lists from the requested socket only", () => {
    const two = state({ exclusive: { 0: { "0,8": [], "1,9": [] }, 1: { "4,12": [], "5,13": [] } } });
    const result = allocate(two, { pool: "exclusive", socketId: 1, count: 1, taskId: "9", record: rec(9) }, allAlive);
    assert.deepEqual(
      result.lists.map((list) => [list.socket, list.key]),
      [[1, "4,12"]],
    );
    const busy = state({ exclusive: { 0: { "0,8": [] }, 1: { "4,12": ["5"] } } }, { "5": rec(5) });
    throwsMentioning(
      () => allocate(busy, { pool: "exclusive", socketId: 1, count: 1, taskId: "9", record: rec(9) }, allAlive),
      "pool-exhausted",
      "socket 1",
      "0 free of 1",
    );
  });

  // Unlike CMK, infra honours --socket-id too: shared and infra take the least-loaded list of the requested socket.
  it("honours the socket filter for infra, even when another socket's list is less loaded", () => {
    const infra = state({ infra: { 0: { "0,8": [] }, 1: { "4,12": ["5"] } } }, { "5": rec(5) });
    const result = allocate(infra, { pool: "infra", socketId: 1, count: 1, taskId: "9", record: rec(9) }, allAlive);
    assert.deepEqual(
      result.lists.map((list) => [list.socket, list.key]),
      [[1, "4,12"]],
    );
  });

  describe("count > 1 keeps lists close", () => {
    const five = (): NodeState => state({ exclusive: { 0: { "0,8": [], "1,9": [], "2,10": [], "3,11": [] } } });
    const placements: Record<string, Placement> = {
      "0,8": { numaNode: 0, l3: 0 },
      "1,9": { numaNode: 1, l3: 1 },
      "2,10": { numaNode: 1, l3: 2 },
      "3,11": { numaNode: 1, l3: 2 },
    };
    const placementOf = (cpus: CpuSet): Placement => placements[cpus.toPlainList()] ?? { numaNode: -1, l3: -1 };

    it("picks lists sharing an L3 group", () => {
      const result = allocate(five(), { pool: "exclusive", socketId: null, count: 2, taskId: "1", record: rec(1) }, allAlive, placementOf);
      assert.deepEqual(
        result.lists.map((list) => list.key),
        ["2,10", "3,11"],
      );
      assert.deepEqual(view(result.state).exclusive, { 0: { "0,8": [], "1,9": [], "2,10": ["1"], "3,11": ["1"] } });
    });

    it("falls back to one NUMA node", () => {
      const result = allocate(five(), { pool: "exclusive", socketId: null, count: 3, taskId: "1", record: rec(1) }, allAlive, placementOf);
      assert.deepEqual(result.lists.map((list) => list.key).sort(), ["1,9", "2,10", "3,11"]);
    });

    it("takes the first free lists without a placement function", () => {
      const result = allocate(five(), { pool: "exclusive", socketId: null, count: 2, taskId: "1", record: rec(1) }, allAlive);
      assert.deepEqual(
        result.lists.map((list) => list.key),
        ["0,8", "1,9"],
      );
    });

    it("stays on one socket when lists of one socket suffice", () => {
      const two = state({ exclusive: { 0: { "0,8": [] }, 1: { "4,12": [], "5,13": [] } } });
      const result = allocate(two, { pool: "exclusive", socketId: null, count: 2, taskId: "1", record: rec(1) }, allAlive);
      assert.deepEqual(
        result.lists.map((list) => [list.socket, list.key]),
        [
          [1, "4,12"],
          [1, "5,13"],
        ],
      );
    });
  });

  it("gives shared and infra tasks the least-loaded list, one list whatever the count", () => {
    const loaded = state(
      { shared: { 0: { "2,10": ["1", "2"] }, 1: { "6,14": ["3"] } }, infra: { 0: { "0,8": ["4"] }, 1: { "4,12": [] } } },
      { "1": rec(1), "2": rec(2), "3": rec(3), "4": rec(4) },
    );
    const shared = allocate(loaded, { pool: "shared", socketId: null, count: 3, taskId: "9", record: rec(9) }, allAlive);
    assert.deepEqual(
      shared.lists.map((list) => list.key),
      ["6,14"],
    );
    assert.deepEqual(view(shared.state).shared, { 0: { "2,10": ["1", "2"] }, 1: { "6,14": ["3", "9"] } });
    const infra = allocate(loaded, { pool: "infra", socketId: null, count: 1, taskId: "9", record: rec(9) }, allAlive);
    assert.deepEqual(
      infra.lists.map((list) => list.key),
      ["4,12"],
    );
    // A shared list takes any number of tasks.
    const again = allocate(shared.state, { pool: "shared", socketId: 0, count: 1, taskId: "10", record: rec(10) }, allAlive);
    assert.deepEqual(view(again.state).shared?.[0], { "2,10": ["1", "2", "10"] });
  });

  it("refuses a shared pool without lists", () => {
    const empty = state({ shared: { 0: {}, 1: {} } });
    throwsMentioning(() => allocate(empty, { pool: "shared", socketId: null, count: 1, taskId: "9", record: rec(9) }, allAlive), "does-not-fit", "shared");
  });

  it("replaces the old entry of a PID already recorded", () => {
    const stale = state(
      { exclusive: { 0: { "4,12": ["100"], "5,13": [] } }, shared: { 0: { "3,11": ["100", "7"] } } },
      { "100": rec(100, { child: { pid: 5, start: 5 } }), "7": rec(7) },
    );
    const result = allocate(stale, { pool: "shared", socketId: null, count: 1, taskId: "100", record: rec(100) }, allAlive);
    assert.deepEqual(view(result.state), { exclusive: { 0: { "4,12": [], "5,13": [] } }, shared: { 0: { "3,11": ["7", "100"] } } });
    assert.deepEqual(result.state.tasks.get("100"), rec(100));
  });

  it("does not change the state it was given", () => {
    const before = exclusive3();
    const snapshot = JSON.stringify(view(before));
    allocate(before, { pool: "exclusive", socketId: null, count: 1, taskId: "200", record: rec(200) }, allAlive);
    assert.equal(JSON.stringify(view(before)), snapshot);
    assert.equal(before.tasks.has("200"), false);
  });
});

describe("releaseTask, reclaimDead, poolCpus", () => {
  it("releaseTask removes the task from every list and forgets its record", () => {
    const held = state({ exclusive: { 0: { "4,12": ["100"], "5,13": ["100"] } }, infra: { 0: { "0,8": ["100", "7"] } } }, { "100": rec(100), "7": rec(7) });
    const released = releaseTask(held, "100");
    assert.deepEqual(view(released), { exclusive: { 0: { "4,12": [], "5,13": [] } }, infra: { 0: { "0,8": ["7"] } } });
    assert.equal(released.tasks.has("100"), false);
    assert.equal(released.tasks.has("7"), true);
    assert.deepEqual(view(releaseTask(held, "999")), view(held));
  });

  it("reclaimDead frees dead tasks everywhere and reports them sorted by PID (numerically)", () => {
    const busy = state(
      {
        exclusive: { 0: { "4,12": ["300"], "5,13": ["20"] } },
        shared: { 0: { "3,11": ["100", "50"] } },
        infra: { 0: { "0,8": ["9"] } },
      },
      { "300": rec(300), "20": rec(20), "100": rec(100), "50": rec(50) },
    );
    const dead = new Set(["300", "20", "100", "9"]);
    const result = reclaimDead(busy, (taskId) => !dead.has(taskId));
    assert.deepEqual(result.reclaimed, [
      { pid: 9, pool: "infra", cpus: "0,8" },
      { pid: 20, pool: "exclusive", cpus: "5,13" },
      { pid: 100, pool: "shared", cpus: "3,11" },
      { pid: 300, pool: "exclusive", cpus: "4,12" },
    ]);
    assert.deepEqual(view(result.state), { exclusive: { 0: { "4,12": [], "5,13": [] } }, shared: { 0: { "3,11": ["50"] } }, infra: { 0: { "0,8": [] } } });
    assert.deepEqual([...result.state.tasks.keys()], ["50"]);
  });

  it("reclaimDead limited to one pool leaves the others alone", () => {
    const busy = state({ exclusive: { 0: { "4,12": ["1"] } }, shared: { 0: { "3,11": ["2"] } } }, { "1": rec(1), "2": rec(2) });
    const result = reclaimDead(busy, () => false, "shared");
    assert.deepEqual(result.reclaimed, [{ pid: 2, pool: "shared", cpus: "3,11" }]);
    assert.deepEqual(view(result.state), { exclusive: { 0: { "4,12": ["1"] } }, shared: { 0: { "3,11": [] } } });
  });

  it("reclaimDead passes the task's record to the liveness function", () => {
    const busy = state({ exclusive: { 0: { "4,12": ["1"], "5,13": ["2"] } } }, { "1": rec(1, { child: { pid: 11, start: 3 } }) });
    const seen: [string, number | undefined][] = [];
    reclaimDead(busy, (taskId, record) => {
      seen.push([taskId, record?.child?.pid]);
      return true;
    });
    assert.deepEqual(seen.sort(), [
      ["1", 11],
      ["2", undefined],
    ]);
  });

  it("poolCpus is the union of a pool's lists", () => {
    const current = state({ infra: { 0: { "0,8,1,9": [] }, 1: { "4,12": [] } } });
    assert.equal(poolCpus(current, "infra")?.toString(), "0-1,4,8-9,12");
    assert.equal(poolCpus(current, "shared"), null);
  });
});
