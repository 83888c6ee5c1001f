// The state document codec: the whole document as JSON (state.json) and as cmk
// 2.0.0-alpha.1's YAML (state.yaml), and its halves, the pool document and the task records.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CpuSet } from "../../src/core/cpuset.ts";
import { CmkError } from "../../src/core/errors.ts";
import { type NodeState, stateFromLayout } from "../../src/core/node-state.ts";
import type { CpuList, PoolLayout, PoolName } from "../../src/core/pools.ts";
import {
  type DocumentValue,
  decodePoolDocument,
  decodeStateFile,
  decodeStoredState,
  decodeTaskDocument,
  decodeYamlStateFile,
  decodeYamlStoredState,
  encodePoolDocument,
  encodeStateFile,
  encodeStoredState,
  encodeTaskDocument,
  poolDocument,
  readPoolDocument,
  readTaskDocument,
  taskDocument,
} from "../../src/formats/state-document.ts";
import { emitYaml, parseYaml } from "../../src/formats/yaml.ts";
import { specPoolDocument } from "../helpers/documents.ts";
import { rec, state, throwsMentioning, view } from "../helpers/state.ts";

// Two sockets; an exclusive task with a child, and an infra task started with --no-affinity.

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

  it("nests that same pool document under config, in JSON", () => {
    const text = encodeStateFile(seed());
    const config = (JSON.parse(text) as { config: Record<string, Record<string, Record<string, string[]>>> }).config;
    assert.deepEqual(config, {
      exclusive: { "0": { "4,12": [], "5,13": [], "6,14": ["48624"] }, "1": {} },
      infra: { "0": { "0,8,1,9,2,10": ["48611"] }, "1": {} },
      shared: { "0": { "3,11": [] }, "1": {} },
    });
  });

  it("writes JSON that reads back the same through YAML (CMK's PyYAML reads the pool document as is)", () => {
    const asYaml = parseYaml(encodeStateFile(seed()), "state.json");
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
      [
        "exclusive",
        new Map([
          [0, [list("1,9")]],
          [1, []],
        ]),
      ],
      [
        "exclusive-non-isolcpus",
        new Map([
          [0, []],
          [1, [list("5,13")]],
        ]),
      ],
    ]);
    const decoded = decodeStateFile(encodeStateFile(stateFromLayout(layout)), "s");
    assert.deepEqual(view(decoded), { exclusive: { 0: { "1,9": [] }, 1: {} }, "exclusive-non-isolcpus": { 0: {}, 1: { "5,13": [] } } });
  });
});

describe("the boot id beside config and tasks", () => {
  const bootId = "0b7d8ed6-3f1c-4e7b-9a53-2d4c1f0e9a11";

  it("is written last, at the top, and leaves config byte for byte the pool document without it", () => {
    const text = encodeStoredState(seed(), bootId);
    const document = JSON.parse(text) as Record<string, unknown>;
    assert.deepEqual(Object.keys(document), ["config", "tasks", "bootId"]);
    assert.equal(document["bootId"], bootId);
    assert.equal(text, encodeStateFile(seed()).replace(/\n}\n$/, `,\n  "bootId": "${bootId}"\n}\n`));
  });

  it("round-trips through JSON and YAML, and reads as unknown (null) from files written before it", () => {
    const decoded = decodeStoredState(encodeStoredState(seed(), bootId), "s");
    assert.equal(decoded.bootId, bootId);
    assert.equal(encodeStoredState(decoded.state, decoded.bootId), encodeStoredState(seed(), bootId));
    assert.equal(decodeYamlStoredState(emitYaml(parseYaml(encodeStoredState(seed(), bootId), "s")), "s").bootId, bootId);
    assert.equal(decodeStoredState(encodeStateFile(seed()), "s").bootId, null);
    assert.equal(decodeYamlStoredState("config: {}\n", "s").bootId, null);
    assert.deepEqual(view(decodeStateFile(encodeStoredState(seed(), bootId), "s")), view(seed()));
  });

  it("must be a one-line string: anything else is refused, naming the key", () => {
    for (const value of ["42", "true", '""', '"two words"', '{"a": 1}']) {
      throwsMentioning(
        () => decodeStoredState(`{"config": {}, "bootId": ${value}}`, "/etc/cmk/state.json"),
        "invalid-state",
        "/etc/cmk/state.json",
        '"bootId"',
      );
    }
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
      assert.ok(
        error instanceof CmkError && error.kind === "invalid-state" && error.message.includes(source) && /socket.*0|0.*socket/.test(error.message),
        String(error),
      );
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
    throwsMentioning(() => decodeYamlStateFile("config: {}\n7: 1\n", source), "invalid-state", source, '"7"');
  });

  it("rejects malformed task records, naming the task and field", () => {
    throwsMentioning(
      () => decodeYamlStateFile("config: {}\ntasks:\n  '100':\n    pid: 100\n    affinity: true\n", source),
      "invalid-state",
      source,
      "100",
      "start",
    );
    throwsMentioning(
      () => decodeYamlStateFile("config: {}\ntasks:\n  '100':\n    pid: 100\n    start: 7\n", source),
      "invalid-state",
      source,
      "100",
      "affinity",
    );
    throwsMentioning(
      () => decodeYamlStateFile("config: {}\ntasks:\n  x1:\n    pid: 100\n    start: 7\n    affinity: true\n", source),
      "invalid-state",
      source,
      "x1",
    );
  });
});

describe("the document's halves, for stores that keep them apart", () => {
  it("encodes the pool document alone as the JSON under config, and the task records as the JSON under tasks", () => {
    const whole = JSON.parse(encodeStateFile(seed())) as { config: unknown; tasks: unknown };
    assert.deepEqual(JSON.parse(encodePoolDocument(seed())), whole.config);
    assert.deepEqual(JSON.parse(encodeTaskDocument(seed())), whole.tasks);
    assert.equal(encodeTaskDocument(state({ exclusive: { 0: { "1,9": [] } } })), "{}\n");
  });

  it("decodes each half back, from cmk's JSON or from CMK's YAML", () => {
    const pools = decodePoolDocument(encodePoolDocument(seed()), "configmap/cmk-config:config");
    assert.deepEqual(view({ pools, tasks: new Map() }), view(seed()));
    assert.deepEqual(view({ pools: decodePoolDocument(specPoolDocument, "configmap/cmk-config:config"), tasks: new Map() }), view(seed()));
    assert.deepEqual(decodeTaskDocument(encodeTaskDocument(seed()), "configmap/cmk-config:tasks"), seed().tasks);
    assert.deepEqual(decodeTaskDocument("'7':\n  pid: 7\n  start: 1007\n  affinity: false\n", "t"), new Map([["7", rec(7, { affinity: false })]]));
  });

  it("names the source of a bad half", () => {
    throwsMentioning(() => decodePoolDocument('{"bogus": {}}', "configmap/cmk-config:config"), "invalid-state", "configmap/cmk-config:config", "bogus");
    throwsMentioning(() => decodeTaskDocument("'7': {pid: 7}\n", "configmap/cmk-config:tasks"), "invalid-state", "configmap/cmk-config:tasks", "start");
    throwsMentioning(() => decodePoolDocument("exclusive: [\n", "configmap/cmk-config:config"), "invalid-state", "configmap/cmk-config:config");
  });

  it("reads the pool document from document values: YAML's Maps or JSON.parse's objects alike", () => {
    const fromYaml = readPoolDocument(parseYaml(specPoolDocument, "s"), "s");
    const fromJson = readPoolDocument(JSON.parse(encodePoolDocument(seed())) as DocumentValue, "s");
    assert.deepEqual(view({ pools: fromYaml, tasks: new Map() }), view({ pools: fromJson, tasks: new Map() }));
    assert.deepEqual(readTaskDocument(undefined, "s"), new Map());
    assert.equal(emitYaml(poolDocument({ pools: fromJson, tasks: new Map() })), specPoolDocument);
    assert.deepEqual(readTaskDocument(taskDocument(seed()), "s"), seed().tasks);
  });
});

describe("decoding many distinct CPU-list keys", () => {
  it("parses each document completely, whatever the keys seen before", () => {
    for (let round = 0; round < 5; round++) {
      const lists: Record<string, string[]> = {};
      for (let index = 0; index < 4000; index++) lists[`${round * 8000 + index * 2},${round * 8000 + index * 2 + 1}`] = [];
      const decoded = decodeStateFile(JSON.stringify({ config: { exclusive: { "0": lists } } }), "s");
      const keys =
        decoded.pools
          .get("exclusive")
          ?.sockets.get(0)
          ?.map((list) => `${list.key}=${list.cpus.toString()}`) ?? [];
      assert.equal(keys.length, 4000);
      assert.equal(keys[0], `${round * 8000},${round * 8000 + 1}=${round * 8000}-${round * 8000 + 1}`);
    }
  });
});
