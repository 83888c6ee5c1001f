import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { allocate, poolCpus, reclaimDead, releaseTask, type Placement, type TaskLiveness } from "../../src/core/allocate.ts";
import { findMaskMismatches, findOverlaps, findUnisolated } from "../../src/core/checks.ts";
import { CpuSet } from "../../src/core/cpuset.ts";
import { CmkError } from "../../src/core/errors.ts";
import { stateFromLayout, type NodeState, type PoolState, type TaskRecord } from "../../src/core/node-state.ts";
import type { CpuList, PoolLayout, PoolName } from "../../src/core/pools.ts";
import { decodeStateFile, decodeYamlStateFile, encodeStateFile, poolDocument } from "../../src/formats/state-document.ts";
import { emitYaml, parseYaml } from "../../src/formats/yaml.ts";
import { specPoolDocument } from "../helpers/documents.ts";

type PoolSpec = Partial<Record<PoolName, Record<number, Record<string, string[]>>>>;

/** Builds a state from pool -> socket -> CPU-list key -> task ids, plus task records. */
function state(pools: PoolSpec, tasks: Record<string, TaskRecord> = {}): NodeState {
  const map = new Map<PoolName, PoolState>();
  for (const [name, sockets] of Object.entries(pools) as [PoolName, Record<number, Record<string, string[]>>][]) {
    map.set(name, {
      name,
      sockets: new Map(Object.entries(sockets).map(([socket, lists]) => [Number(socket), Object.entries(lists).map(([key, held]) => ({ key, cpus: CpuSet.parse(key), tasks: held }))])),
    });
  }
  return { pools: map, tasks: new Map(Object.entries(tasks)) };
}

/** The state's pools as pool -> socket -> key -> tasks, in state order. */
function view(current: NodeState): PoolSpec {
  const out: PoolSpec = {};
  for (const [name, pool] of current.pools) {
    const sockets: Record<number, Record<string, string[]>> = {};
    for (const [socket, lists] of pool.sockets) sockets[socket] = Object.fromEntries(lists.map((list) => [list.key, [...list.tasks]]));
    out[name] = sockets;
  }
  return out;
}

const rec = (pid: number, extra: Partial<TaskRecord> = {}): TaskRecord => ({ isolate: { pid, start: 1000 + pid }, affinity: true, ...extra });
const allAlive: TaskLiveness = () => true;

function throwsMentioning(run: () => unknown, kind: string, ...fragments: string[]): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof CmkError, `expected a CmkError, got ${String(error)}`);
    assert.equal(error.kind, kind, error.message);
    for (const fragment of fragments) assert.ok(error.message.includes(fragment), `message ${JSON.stringify(error.message)} should mention ${JSON.stringify(fragment)}`);
    return true;
  });
}

// The seed ConfigMap of spec §3.2.

const seed = (): NodeState =>
  state(
    {
      shared: { 0: { "3,11": [] }, 1: {} },
      exclusive: { 1: {}, 0: { "6,14": ["48624"], "4,12": [], "5,13": [] } },
      infra: { 0: { "0,8,1,9,2,10": ["48611"] }, 1: {} },
    },
    { "48624": rec(48624, { child: { pid: 48700, start: 5 } }), "48611": rec(48611, { affinity: false }) },
  );

describe("state file encoding", () => {
  it("emits the pool document exactly as CMK's PyYAML dump: pools alphabetical, sockets numeric, quoted PID strings", () => {
    assert.equal(emitYaml(poolDocument(seed())), specPoolDocument);
  });

  it("nests that same pool document under config, in JSON that YAML readers (CMK's PyYAML) read too", () => {
    const text = encodeStateFile(seed());
    const config = (JSON.parse(text) as { config: Record<string, Record<string, Record<string, string[]>>> }).config;
    assert.deepEqual(config, {
      exclusive: { "0": { "4,12": [], "5,13": [], "6,14": ["48624"] }, "1": {} },
      infra: { "0": { "0,8,1,9,2,10": ["48611"] }, "1": {} },
      shared: { "0": { "3,11": [] }, "1": {} },
    });
    const asYaml = parseYaml(text, "state.json");
    assert.ok(asYaml instanceof Map);
    assert.deepEqual(view(decodeYamlStateFile(emitYaml(new Map([["config", asYaml.get("config") ?? null]])), "s")), view(seed()));
  });

  it("writes a CPU list per line, numerically ordered, and a task per line", () => {
    const text = encodeStateFile(state({ exclusive: { 0: { "10,30": [], "2,22": ["7"], "4": [] } } }, { "7": rec(7, { child: { pid: 8, start: 9 } }) }));
    assert.equal(
      text,
      [
        "{",
        '  "config": {',
        '    "exclusive": {',
        '      "0": {',
        '        "2,22": ["7"],',
        '        "4": [],',
        '        "10,30": []',
        "      }",
        "    }",
        "  },",
        '  "tasks": {',
        '    "7": { "pid": 7, "start": 1007, "child": 8, "childStart": 9, "affinity": true }',
        "  }",
        "}",
        "",
      ].join("\n"),
    );
  });

  it("rejects text that is not JSON, naming the file", () => {
    throwsMentioning(() => decodeStateFile('{ "config": {', "/etc/cmk/state.json"), "invalid-state", "/etc/cmk/state.json", "not valid JSON");
  });

  it("orders CPU-list keys numerically, never lexicographically", () => {
    const text = emitYaml(poolDocument(state({ exclusive: { 0: { "10,30": [], "2,22": [], "4": [] } } })));
    assert.equal(text, "exclusive:\n  0:\n    2,22: []\n    '4': []\n    10,30: []\n");
  });

  it("round-trips pools, sockets, and tasks with and without a child", () => {
    const original = seed();
    const decoded = decodeStateFile(encodeStateFile(original), "/var/lib/cmk/state.json");
    assert.deepEqual(view(decoded), {
      exclusive: { 0: { "4,12": [], "5,13": [], "6,14": ["48624"] }, 1: {} },
      infra: { 0: { "0,8,1,9,2,10": ["48611"] }, 1: {} },
      shared: { 0: { "3,11": [] }, 1: {} },
    });
    assert.deepEqual(decoded.tasks.get("48624"), { isolate: { pid: 48624, start: 49624 }, child: { pid: 48700, start: 5 }, affinity: true });
    assert.deepEqual(decoded.tasks.get("48611"), { isolate: { pid: 48611, start: 49611 }, affinity: false });
    assert.equal(decoded.tasks.size, 2);
    assert.equal(decoded.pools.get("infra")?.sockets.get(0)?.[0]?.cpus.toString(), "0-2,8-10");
    assert.equal(encodeStateFile(decoded), encodeStateFile(original));
  });

  it("writes no tasks section when there are no task records", () => {
    const text = encodeStateFile(state({ exclusive: { 0: { "1,9": [] } } }));
    assert.doesNotMatch(text, /"tasks"/);
    assert.equal(decodeStateFile(text, "s").tasks.size, 0);
  });

  it("round-trips a freshly carved layout with empty sockets", () => {
    const list = (key: string): CpuList => ({ key, cpus: CpuSet.parse(key) });
    const layout: PoolLayout = new Map<PoolName, Map<number, CpuList[]>>([
      ["exclusive", new Map([[0, [list("1,9")]], [1, []]])],
      ["exclusive-non-isolcpus", new Map([[0, []], [1, [list("5,13")]]])],
    ]);
    const decoded = decodeStateFile(encodeStateFile(stateFromLayout(layout)), "s");
    assert.deepEqual(view(decoded), { exclusive: { 0: { "1,9": [] }, 1: {} }, "exclusive-non-isolcpus": { 0: {}, 1: { "5,13": [] } } });
  });
});

describe("state file decoding (YAML: cmk 2.0.0-alpha.1 state.yaml, CMK ConfigMap text)", () => {
  const source = "/var/lib/cmk/state.yaml";

  it("accepts CMK 1.5 ConfigMap text with string tasks", () => {
    const decoded = decodeYamlStateFile(`config:\n${specPoolDocument.replace(/^/gm, "  ")}`, source);
    assert.deepEqual(view(decoded).exclusive, { 0: { "4,12": [], "5,13": [], "6,14": ["48624"] }, 1: {} });
  });

  it("accepts CMK 1.4-style int tasks, string socket keys and ranges in keys", () => {
    const text = "config:\n  exclusive:\n    '0':\n      4,12: [2000]\n      0-2,8-10:\n      - 3000\n    '1': {}\n  infra:\n    0:\n      '7': null\n";
    const decoded = decodeYamlStateFile(text, source);
    assert.deepEqual(view(decoded), { exclusive: { 0: { "0-2,8-10": ["3000"], "4,12": ["2000"] }, 1: {} }, infra: { 0: { "7": [] } } });
    assert.equal(decoded.pools.get("exclusive")?.sockets.get(0)?.[0]?.cpus.toString(), "0-2,8-10");
  });

  it("rejects an unknown pool, naming it and the source", () => {
    throwsMentioning(() => decodeYamlStateFile("config:\n  bogus:\n    0: {}\n", source), "invalid-state", source, "bogus");
  });

  it("rejects a non-numeric socket", () => {
    throwsMentioning(() => decodeYamlStateFile("config:\n  exclusive:\n    zero: {}\n", source), "invalid-state", source, "zero");
    throwsMentioning(() => decodeYamlStateFile("config:\n  exclusive:\n    -1: {}\n", source), "invalid-state", source, "-1");
  });

  it("does not silently drop lists when a socket appears both as 0 and '0'", () => {
    const text = "config:\n  exclusive:\n    0:\n      4,12: []\n    '0':\n      5,13: []\n";
    let decoded: NodeState;
    try {
      decoded = decodeYamlStateFile(text, source);
    } catch (error) {
      // Refusing the document is fine, if it says which socket is duplicated.
      assert.ok(error instanceof CmkError && error.kind === "invalid-state" && error.message.includes(source) && /socket.*0|0.*socket/.test(error.message), String(error));
      return;
    }
    assert.deepEqual(view(decoded).exclusive, { 0: { "4,12": [], "5,13": [] } });
  });

  it("rejects a bad CPU-list key", () => {
    throwsMentioning(() => decodeYamlStateFile("config:\n  exclusive:\n    0:\n      4,x: []\n", source), "invalid-state", source, "4,x");
    throwsMentioning(() => decodeYamlStateFile("config:\n  exclusive:\n    0:\n      5-3: []\n", source), "invalid-state", source, "5-3");
  });

  it("rejects a task that is not a PID", () => {
    throwsMentioning(() => decodeYamlStateFile("config:\n  exclusive:\n    0:\n      4,12: [abc]\n", source), "invalid-state", source, "abc", "4,12");
    throwsMentioning(() => decodeYamlStateFile("config:\n  exclusive:\n    0:\n      4,12: ['0']\n", source), "invalid-state", source, "0");
    throwsMentioning(() => decodeYamlStateFile("config:\n  exclusive:\n    0:\n      4,12: [-5]\n", source), "invalid-state", source, "-5");
    throwsMentioning(() => decodeYamlStateFile("config:\n  exclusive:\n    0:\n      4,12: [1.5]\n", source), "invalid-state", source, "1.5");
  });

  it("rejects tasks that are not a list", () => {
    throwsMentioning(() => decodeYamlStateFile("config:\n  exclusive:\n    0:\n      4,12: '100'\n", source), "invalid-state", source, "4,12");
  });

  it("rejects a document without a config key", () => {
    throwsMentioning(() => decodeYamlStateFile("tasks: {}\n", source), "invalid-state", source, "config");
    throwsMentioning(() => decodeYamlStateFile("", source), "invalid-state", source, "config");
    throwsMentioning(() => decodeYamlStateFile("- config\n", source), "invalid-state", source, "config");
  });

  it("rejects unexpected top-level keys", () => {
    throwsMentioning(() => decodeYamlStateFile("config: {}\nextra: 1\n", source), "invalid-state", source, "extra");
  });

  it("rejects malformed task records, naming the task and field", () => {
    throwsMentioning(() => decodeYamlStateFile("config: {}\ntasks:\n  '100':\n    pid: 100\n    affinity: true\n", source), "invalid-state", source, "100", "start");
    throwsMentioning(() => decodeYamlStateFile("config: {}\ntasks:\n  '100':\n    pid: 100\n    start: 7\n", source), "invalid-state", source, "100", "affinity");
    throwsMentioning(() => decodeYamlStateFile("config: {}\ntasks:\n  x1:\n    pid: 100\n    start: 7\n    affinity: true\n", source), "invalid-state", source, "x1");
  });
});

describe("allocate", () => {
  const exclusive3 = (): NodeState =>
    state({ exclusive: { 0: { "4,12": ["100"], "5,13": [], "6,14": [] } }, shared: { 0: { "3,11": [] } } }, { "100": rec(100) });

  it("gives an exclusive task the first free list and records it", () => {
    const result = allocate(exclusive3(), { pool: "exclusive", socketId: null, count: 1, taskId: "200", record: rec(200) }, allAlive);
    assert.deepEqual(result.lists.map((list) => list.key), ["5,13"]);
    assert.deepEqual(view(result.state).exclusive, { 0: { "4,12": ["100"], "5,13": ["200"], "6,14": [] } });
    assert.deepEqual(result.state.tasks.get("200"), rec(200));
    assert.deepEqual(result.reclaimed, []);
  });

  it("hands out lists in numeric order (2,22 before 10,30)", () => {
    const current = decodeYamlStateFile("config:\n  exclusive:\n    0:\n      10,30: []\n      2,22: []\n", "s");
    const result = allocate(current, { pool: "exclusive", socketId: null, count: 1, taskId: "7", record: rec(7) }, allAlive);
    assert.deepEqual(result.lists.map((list) => list.key), ["2,22"]);
  });

  it("reclaims the lists of dead tasks when no list is free", () => {
    const full = state({ exclusive: { 0: { "4,12": ["100"], "5,13": ["101"] } } }, { "100": rec(100), "101": rec(101) });
    const asked: string[] = [];
    const alive: TaskLiveness = (taskId) => {
      asked.push(taskId);
      return taskId !== "101";
    };
    const result = allocate(full, { pool: "exclusive", socketId: null, count: 1, taskId: "300", record: rec(300) }, alive);
    assert.deepEqual(result.lists.map((list) => list.key), ["5,13"]);
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
    const full = state({ exclusive: { 0: { "4,12": ["100"], "5,13": ["101"], "6,14": [] } } }, { "100": rec(100, { child: { pid: 150, start: 9 } }), "101": rec(101) });
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
    throwsMentioning(() => allocate(exclusive3(), { pool: "infra", socketId: null, count: 1, taskId: "1", record: rec(1) }, allAlive), "usage", "infra");
    throwsMentioning(() => allocate(exclusive3(), { pool: "exclusive", socketId: 3, count: 1, taskId: "1", record: rec(1) }, allAlive), "usage", "3");
  });

  it("takes lists from the requested socket only", () => {
    const two = state({ exclusive: { 0: { "0,8": [], "1,9": [] }, 1: { "4,12": [], "5,13": [] } } });
    const result = allocate(two, { pool: "exclusive", socketId: 1, count: 1, taskId: "9", record: rec(9) }, allAlive);
    assert.deepEqual(result.lists.map((list) => [list.socket, list.key]), [[1, "4,12"]]);
    const busy = state({ exclusive: { 0: { "0,8": [] }, 1: { "4,12": ["5"] } } }, { "5": rec(5) });
    throwsMentioning(() => allocate(busy, { pool: "exclusive", socketId: 1, count: 1, taskId: "9", record: rec(9) }, allAlive), "pool-exhausted", "socket 1", "0 free of 1");
  });

  // Unlike CMK (spec §7.1), infra honours --socket-id too: shared and infra take the least-loaded list of the requested socket.
  it("honours the socket filter for infra, even when another socket's list is less loaded", () => {
    const infra = state({ infra: { 0: { "0,8": [] }, 1: { "4,12": ["5"] } } }, { "5": rec(5) });
    const result = allocate(infra, { pool: "infra", socketId: 1, count: 1, taskId: "9", record: rec(9) }, allAlive);
    assert.deepEqual(result.lists.map((list) => [list.socket, list.key]), [[1, "4,12"]]);
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
      assert.deepEqual(result.lists.map((list) => list.key), ["2,10", "3,11"]);
      assert.deepEqual(view(result.state).exclusive, { 0: { "0,8": [], "1,9": [], "2,10": ["1"], "3,11": ["1"] } });
    });

    it("falls back to one NUMA node", () => {
      const result = allocate(five(), { pool: "exclusive", socketId: null, count: 3, taskId: "1", record: rec(1) }, allAlive, placementOf);
      assert.deepEqual(result.lists.map((list) => list.key).sort(), ["1,9", "2,10", "3,11"]);
    });

    it("takes the first free lists without a placement function", () => {
      const result = allocate(five(), { pool: "exclusive", socketId: null, count: 2, taskId: "1", record: rec(1) }, allAlive);
      assert.deepEqual(result.lists.map((list) => list.key), ["0,8", "1,9"]);
    });

    it("stays on one socket when lists of one socket suffice", () => {
      const two = state({ exclusive: { 0: { "0,8": [] }, 1: { "4,12": [], "5,13": [] } } });
      const result = allocate(two, { pool: "exclusive", socketId: null, count: 2, taskId: "1", record: rec(1) }, allAlive);
      assert.deepEqual(result.lists.map((list) => [list.socket, list.key]), [[1, "4,12"], [1, "5,13"]]);
    });
  });

  it("gives shared and infra tasks the least-loaded list, one list whatever the count", () => {
    const loaded = state(
      { shared: { 0: { "2,10": ["1", "2"] }, 1: { "6,14": ["3"] } }, infra: { 0: { "0,8": ["4"] }, 1: { "4,12": [] } } },
      { "1": rec(1), "2": rec(2), "3": rec(3), "4": rec(4) },
    );
    const shared = allocate(loaded, { pool: "shared", socketId: null, count: 3, taskId: "9", record: rec(9) }, allAlive);
    assert.deepEqual(shared.lists.map((list) => list.key), ["6,14"]);
    assert.deepEqual(view(shared.state).shared, { 0: { "2,10": ["1", "2"] }, 1: { "6,14": ["3", "9"] } });
    const infra = allocate(loaded, { pool: "infra", socketId: null, count: 1, taskId: "9", record: rec(9) }, allAlive);
    assert.deepEqual(infra.lists.map((list) => list.key), ["4,12"]);
    // A shared list takes any number of tasks.
    const again = allocate(shared.state, { pool: "shared", socketId: 0, count: 1, taskId: "10", record: rec(10) }, allAlive);
    assert.deepEqual(view(again.state).shared?.[0], { "2,10": ["1", "2", "10"] });
  });

  it("refuses a shared pool without lists", () => {
    const empty = state({ shared: { 0: {}, 1: {} } });
    throwsMentioning(() => allocate(empty, { pool: "shared", socketId: null, count: 1, taskId: "9", record: rec(9) }, allAlive), "pool-exhausted", "shared");
  });

  it("replaces the old entry of a PID already recorded", () => {
    const stale = state({ exclusive: { 0: { "4,12": ["100"], "5,13": [] } }, shared: { 0: { "3,11": ["100", "7"] } } }, { "100": rec(100, { child: { pid: 5, start: 5 } }), "7": rec(7) });
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
    assert.deepEqual(seen.sort(), [["1", 11], ["2", undefined]]);
  });

  it("poolCpus is the union of a pool's lists", () => {
    const current = state({ infra: { 0: { "0,8,1,9": [] }, 1: { "4,12": [] } } });
    assert.equal(poolCpus(current, "infra")?.toString(), "0-1,4,8-9,12");
    assert.equal(poolCpus(current, "shared"), null);
  });
});

describe("consistency checks", () => {
  it("findOverlaps reports the shared CPUs within and between pools", () => {
    const current = state({ exclusive: { 0: { "1,2": [], "2,3": [], "4,12": [] } }, infra: { 0: { "0-4": [] } }, shared: { 0: { "5,13": [] } } });
    const found = findOverlaps(current).map((overlap) => `${[overlap.a, overlap.b].sort().join(" & ")} = ${overlap.cpus}`).sort();
    assert.deepEqual(found, [
      "exclusive:1,2 & exclusive:2,3 = 2",
      "exclusive:1,2 & infra:0-4 = 1-2",
      "exclusive:2,3 & infra:0-4 = 2-3",
      "exclusive:4,12 & infra:0-4 = 4",
    ]);
    assert.deepEqual(findOverlaps(state({ exclusive: { 0: { "1,9": [] }, 1: { "2,10": [] } }, infra: { 0: { "0,8": [] } } })), []);
  });

  it("findUnisolated reports exclusive and shared CPUs outside isolcpus, not infra", () => {
    const current = state({ exclusive: { 0: { "1,9": [], "3,11": [] } }, shared: { 0: { "2,10": [] } }, infra: { 0: { "0,8": [] } } });
    assert.deepEqual(
      findUnisolated(current, CpuSet.parse("1-2,9")).map((entry) => ({ pool: entry.pool, list: entry.list, cpus: entry.cpus.toString() })),
      [
        { pool: "exclusive", list: "3,11", cpus: "3,11" },
        { pool: "shared", list: "2,10", cpus: "10" },
      ],
    );
    assert.deepEqual(findUnisolated(current, CpuSet.empty), []);
  });

  it("findMaskMismatches reports pinned tasks running elsewhere, skipping --no-affinity tasks and dead ones", () => {
    const current = state(
      { exclusive: { 0: { "4,12": ["30"], "5,13": ["30"], "6,14": ["20"] } }, shared: { 0: { "3,11": ["10", "40"] } } },
      { "30": rec(30), "20": rec(20, { affinity: false }), "10": rec(10), "40": rec(40) },
    );
    const actual: Record<string, string> = { "30": "4-5,12", "20": "0-15", "10": "3,11" };
    const mismatches = findMaskMismatches(current, (taskId) => (actual[taskId] === undefined ? null : CpuSet.parse(actual[taskId])));
    assert.deepEqual(mismatches, [{ pid: 30, pool: "exclusive", cpus: "4,12,5,13", actualCpus: "4-5,12" }]);
    const allWrong = findMaskMismatches(current, () => CpuSet.of([0]));
    assert.deepEqual(allWrong.map((entry) => entry.pid), [10, 30, 40]);
  });
});
