// The node state document on random states: pools, sockets, CPU-list keys in every form CMK and
// cmk write (plain ids, kernel ranges, core by core out of order, keys long enough that PyYAML
// writes them as "? key"), task PIDs, task records and the boot id. It round-trips through the
// JSON codec, through YAML (JSON read as YAML, the JSON's document rewritten as PyYAML writes it),
// and by halves; and any YAML value the emitter writes reads back as the same value.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CpuSet } from "../../src/core/cpuset.ts";
import { CmkError } from "../../src/core/errors.ts";
import type { CpuListState, NodeState, PoolState, TaskRecord } from "../../src/core/node-state.ts";
import { compareCpuLists, type PoolName, poolNames } from "../../src/core/pools.ts";
import {
  decodePoolDocument,
  decodeStoredState,
  decodeTaskDocument,
  decodeYamlStoredState,
  encodePoolDocument,
  encodeStoredState,
  encodeTaskDocument,
  poolDocument,
} from "../../src/formats/state-document.ts";
import { emitYaml, parseYaml, type YamlKey, type YamlMap, type YamlValue } from "../../src/formats/yaml.ts";
import { fc, runs } from "../helpers/property.ts";

const pid = fc.integer({ min: 1, max: 4194304 }).map(String);

/** A CPU list: its CPUs and its key in one of the forms found in pool documents. */
const cpuList: fc.Arbitrary<{ key: string; cpus: CpuSet }> = fc
  .tuple(
    fc.oneof(
      { weight: 3, arbitrary: fc.uniqueArray(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 8 }) },
      // Long keys: over PyYAML's 128-character limit for simple keys.
      { weight: 1, arbitrary: fc.uniqueArray(fc.integer({ min: 1000, max: 8191 }), { minLength: 30, maxLength: 60 }) },
    ),
    fc.constantFrom("plain", "kernel", "as given"),
  )
  .map(([ids, form]) => {
    const cpus = CpuSet.of(ids);
    // "as given": CMK's core-by-core order ("3,11,4,12"), not sorted.
    const key = form === "plain" ? cpus.toPlainList() : form === "kernel" ? cpus.toString() : ids.join(",");
    return { key, cpus };
  });

const taskRecord: fc.Arbitrary<TaskRecord> = fc.record(
  {
    isolate: fc.record({ pid: fc.integer({ min: 1, max: 4194304 }), start: fc.nat() }),
    child: fc.record({ pid: fc.integer({ min: 1, max: 4194304 }), start: fc.nat() }),
    affinity: fc.boolean(),
  },
  { requiredKeys: ["isolate", "affinity"] },
);

const bootId = fc.option(fc.uuid(), { nil: null });

/** A random state: any pools, sockets and lists (CPU sets unique within a socket), tasks on them, records for some. */
const nodeState: fc.Arbitrary<NodeState> = fc
  .tuple(
    fc.uniqueArray(fc.constantFrom(...poolNames), { minLength: 0, maxLength: 4 }),
    fc.array(fc.tuple(fc.uniqueArray(fc.integer({ min: 0, max: 7 }), { maxLength: 3 }), fc.array(fc.array(cpuList, { maxLength: 4 }), { maxLength: 3 })), {
      minLength: 4,
      maxLength: 4,
    }),
    fc.array(fc.array(pid, { maxLength: 3 }), { maxLength: 40 }),
    fc.array(fc.tuple(fc.nat(), taskRecord), { maxLength: 6 }),
  )
  .map(([names, socketSpecs, taskLists, records]) => {
    let taskIndex = 0;
    const pools = new Map<PoolName, PoolState>();
    names.forEach((name, poolIndex) => {
      const [socketIds, listsPerSocket] = socketSpecs[poolIndex] ?? [[], []];
      const sockets = new Map<number, CpuListState[]>();
      socketIds.forEach((socket, socketIndex) => {
        const seen = new Set<string>();
        const lists = (listsPerSocket[socketIndex] ?? [])
          .filter((list) => !seen.has(list.cpus.toString()) && seen.add(list.cpus.toString()))
          .map((list) => ({ ...list, tasks: taskLists[taskIndex++ % Math.max(1, taskLists.length)] ?? [] }))
          .sort(compareCpuLists);
        sockets.set(socket, lists);
      });
      pools.set(name, { name, sockets });
    });
    const ids = [...new Set([...pools.values()].flatMap((pool) => [...pool.sockets.values()].flat().flatMap((list) => list.tasks)))];
    const tasks = new Map<string, TaskRecord>();
    for (const [index, record] of records) if (ids.length > 0) tasks.set(ids[index % ids.length] as string, record);
    return { pools, tasks };
  });

/** A state as plain data, in a canonical order: what must survive every round trip. */
function canonical(state: NodeState): unknown {
  return {
    pools: [...state.pools.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((pool) => ({
        name: pool.name,
        sockets: [...pool.sockets]
          .sort(([a], [b]) => a - b)
          .map(([socket, lists]) => ({
            socket,
            lists: [...lists].sort(compareCpuLists).map((list) => {
              assert.ok(list.cpus.equals(CpuSet.parse(list.key)), `key ${list.key} names its CPUs`);
              return { key: list.key, cpus: list.cpus.toString(), tasks: [...list.tasks] };
            }),
          })),
      })),
    // As plain data: fast-check builds records without a prototype.
    tasks: JSON.parse(JSON.stringify([...state.tasks].sort(([a], [b]) => Number(a) - Number(b)))) as unknown,
  };
}

describe("the state document on random states (property)", () => {
  it("round-trips through JSON with its boot id, and the text is stable", () => {
    fc.assert(
      fc.property(nodeState, bootId, (state, boot) => {
        const text = encodeStoredState(state, boot);
        const decoded = decodeStoredState(text, "state.json");
        assert.deepEqual(canonical(decoded.state), canonical(state));
        assert.equal(decoded.bootId, boot);
        assert.equal(encodeStoredState(decoded.state, decoded.bootId), text);
      }),
      runs(200),
    );
  });

  it("reads the same through YAML: the JSON as is, and rewritten as PyYAML writes it (long keys as '? key')", () => {
    fc.assert(
      fc.property(nodeState, bootId, (state, boot) => {
        const text = encodeStoredState(state, boot);
        const viaYaml = decodeYamlStoredState(text, "state.json");
        assert.deepEqual(canonical(viaYaml.state), canonical(state));
        const asPyYaml = emitYaml(parseYaml(text, "state.json"));
        const rewritten = decodeYamlStoredState(asPyYaml, "state.yaml");
        assert.deepEqual(canonical(rewritten.state), canonical(state));
        assert.equal(rewritten.bootId, boot);
        const long = [...state.pools.values()].some((pool) => [...pool.sockets.values()].flat().some((list) => list.key.length >= 123));
        assert.equal(/^ *\? /m.test(asPyYaml), long, "'? key' exactly for keys of 123 characters or more");
      }),
      runs(200),
    );
  });

  it("round-trips by halves, the pool document in cmk's JSON and in CMK's YAML, the task records alone", () => {
    fc.assert(
      fc.property(nodeState, (state) => {
        const fromJson = decodePoolDocument(encodePoolDocument(state), "configmap:config");
        const fromYaml = decodePoolDocument(emitYaml(poolDocument(state)), "configmap:config");
        const tasks = decodeTaskDocument(encodeTaskDocument(state), "configmap:tasks");
        assert.deepEqual(canonical({ pools: fromJson, tasks }), canonical(state));
        assert.deepEqual(canonical({ pools: fromYaml, tasks }), canonical(state));
      }),
      runs(200),
    );
  });
});

/** Strings that YAML readers take for something else unless quoted, beside arbitrary ones. */
const trickyString = fc.constantFrom(
  "",
  "yes",
  "No",
  "on",
  "OFF",
  "null",
  "~",
  "true",
  "1e3",
  "0x1F",
  "0o17",
  "017",
  "1_000",
  "1:30",
  ".inf",
  "-.Inf",
  ".NaN",
  "2026-12-03",
  " lead",
  "trail ",
  "a: b",
  "a #b",
  "#c",
  "- x",
  "? x",
  ": x",
  "-",
  "<<",
  "=",
  "---",
  "...",
  "'q'",
  '"dq"',
  "multi\nline",
  "tab\tx",
  "é",
  "line\u2028sep",
  "\x85",
  "bell\x07",
  "\uFEFFbom",
  "4,12",
  "0-2,8-10",
  "@x",
  "`x",
  "%x",
  "!x",
  "&x",
  "*x",
  "|",
  ">",
  "[a]",
  "{a}",
);
const yamlString = fc.oneof(
  { weight: 2, arbitrary: trickyString },
  { weight: 2, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 6 }) },
);
const yamlKey: fc.Arbitrary<YamlKey> = fc.oneof(
  { weight: 6, arbitrary: yamlString },
  { weight: 2, arbitrary: fc.integer({ min: -1000, max: 100000 }) },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.string({ minLength: 123, maxLength: 140 }) },
);
const yamlScalar: fc.Arbitrary<YamlValue> = fc.oneof(yamlString, fc.integer(), fc.maxSafeInteger(), fc.double(), fc.boolean(), fc.constant(null));
const { value: yamlValue } = fc.letrec<{ value: YamlValue; map: YamlMap; list: YamlValue[] }>((tie) => ({
  value: fc.oneof({ depthSize: "small", withCrossShrink: true }, yamlScalar, tie("list"), tie("map")),
  list: fc.array(tie("value"), { maxLength: 4 }),
  map: fc.uniqueArray(fc.tuple(yamlKey, tie("value")), { maxLength: 4, selector: ([key]) => key }).map((entries) => new Map(entries)),
}));

describe("YAML emitter and reader on random values (property)", () => {
  it("reads back every value it writes: scalars that look like other types, long and empty keys, nested collections", () => {
    fc.assert(
      fc.property(yamlValue, (value) => {
        assert.deepEqual(parseYaml(emitYaml(value), "emitted"), value);
      }),
      runs(500),
    );
  });
});

describe("reading damaged text (property)", () => {
  const yamlish = fc.string({ unit: fc.constantFrom(..."ab01 -:?,[]{}'\"#\n\t&*!|>%@`.~\\xe\u2028"), maxLength: 60 });

  it("YAML: any text reads as a value or fails with a state error naming the source, never anything else", () => {
    fc.assert(
      fc.property(yamlish, (text) => {
        try {
          parseYaml(text, "damaged.yaml");
        } catch (error) {
          assert.ok(error instanceof CmkError, `not a CmkError: ${String(error)}`);
          assert.equal(error.kind, "invalid-state");
          assert.ok(error.message.includes("damaged.yaml"), error.message);
        }
      }),
      runs(1000),
    );
  });

  it("state files: any JSON or YAML text decodes or fails with a state error, never anything else", () => {
    const jsonish = fc.oneof(
      fc.json({ maxDepth: 4 }),
      nodeState.map((state) => encodeStoredState(state, null)).chain((text) => fc.nat({ max: text.length }).map((cut) => text.slice(0, cut))),
    );
    fc.assert(
      fc.property(fc.oneof(jsonish, yamlish), (text) => {
        for (const decode of [decodeStoredState, decodeYamlStoredState]) {
          try {
            decode(text, "damaged");
          } catch (error) {
            assert.ok(error instanceof CmkError, `not a CmkError: ${String(error)}`);
            assert.equal(error.kind, "invalid-state", error.message);
          }
        }
      }),
      runs(500),
    );
  });
});
