import assert from "node:assert/strict";
import { it } from "node:test";
import { CmkError } from "../../src/core/errors.ts";
import { emitYaml, parseYaml, type YamlKey, type YamlValue } from "../../src/formats/yaml.ts";
import { specPoolDocument } from "../helpers/documents.ts";

const map = (...entries: [YamlKey, YamlValue][]): Map<YamlKey, YamlValue> => new Map(entries);

const poolValue = map(
  ["exclusive", map([0, map(["4,12", []], ["5,13", []], ["6,14", ["48624"]])], [1, map()])],
  ["infra", map([0, map(["0,8,1,9,2,10", ["48611"]])], [1, map()])],
  ["shared", map([0, map(["3,11", []])], [1, map()])],
);

/** Asserts that parsing fails with an invalid-state error naming the source and line. */
function assertRejected(text: string, line: number, mentions: RegExp): void {
  assert.throws(
    () => parseYaml(text, "/etc/cmk/state.yaml"),
    (error: unknown) => {
      assert.ok(error instanceof CmkError, `expected a CmkError, got ${String(error)}`);
      assert.equal(error.kind, "invalid-state");
      assert.ok(error.message.startsWith(`/etc/cmk/state.yaml: line ${line}: `), error.message);
      assert.match(error.message, mentions);
      assert.ok(!error.message.includes("\n"), "messages are one line");
      return true;
    },
  );
}

it("the PyYAML pool document parses with number socket keys, string CPU-list keys and string PIDs", () => {
  const value = parseYaml(specPoolDocument, "pools");
  assert.deepEqual(value, poolValue);
  assert.ok(value instanceof Map);
  const exclusive = value.get("exclusive");
  assert.ok(exclusive instanceof Map);
  assert.deepEqual([...exclusive.keys()], [0, 1]);
  const socket0 = exclusive.get(0);
  assert.ok(socket0 instanceof Map);
  assert.deepEqual([...socket0.keys()], ["4,12", "5,13", "6,14"]);
  assert.deepEqual(socket0.get("6,14"), ["48624"]);
});

it("the pool document re-emits byte-identically", () => {
  assert.equal(emitYaml(parseYaml(specPoolDocument, "pools")), specPoolDocument);
  assert.equal(emitYaml(poolValue), specPoolDocument);
});

it("JSON text, as cmk writes state.json, reads as the same document (JSON is YAML)", () => {
  const json =
    '{\n  "exclusive": {\n    "0": {\n      "4,12": [],\n      "6,14": ["48624"]\n    },\n    "1": {}\n  },\n  "tasks": { "48624": { "pid": 48624, "start": 5, "affinity": true } }\n}\n';
  const expected = map(
    ["exclusive", map(["0", map(["4,12", []], ["6,14", ["48624"]])], ["1", map()])],
    ["tasks", map(["48624", map(["pid", 48624], ["start", 5], ["affinity", true])])],
  );
  assert.deepEqual(parseYaml(json, "state.json"), expected);
});

it('long and empty keys use PyYAML\'s explicit "? key" form, in both directions', () => {
  // PyYAML (yaml.dump, default_flow_style=False) output for a 129-character CPU list and an empty key.
  const cpus = `${"0,".repeat(64)}1`;
  const pyyaml = `? ''\n: 1\npools:\n  ? ${cpus}\n  : - '48611'\n    - '2'\n  x:\n    ? ${cpus}\n    : c: 1\n      d:\n      - 1\nl:\n- ? ${cpus}\n  : {}\n  z: 2\n`;
  const value = map(["", 1], ["pools", map([cpus, ["48611", "2"]], ["x", map([cpus, map(["c", 1], ["d", [1]])])])], ["l", [map([cpus, map()], ["z", 2])]]);
  assert.deepEqual(parseYaml(pyyaml, "s"), value);
  assert.equal(emitYaml(value), pyyaml);
  // The boundary: PyYAML keeps keys of up to 122 characters simple.
  assert.equal(emitYaml(map(["a".repeat(122), 1])), `${"a".repeat(122)}: 1\n`);
  assert.equal(emitYaml(map(["a".repeat(123), 1])), `? ${"a".repeat(123)}\n: 1\n`);
});

it("block sequences may sit at the key's indentation or further in", () => {
  const expected = map(["a", ["x", "y"]], ["b", 1]);
  assert.deepEqual(parseYaml("a:\n- x\n- y\nb: 1\n", "s"), expected);
  assert.deepEqual(parseYaml("a:\n  - x\n  - y\nb: 1\n", "s"), expected);
  assert.deepEqual(parseYaml("a:\n    -   x\n    -   y\nb: 1\n", "s"), expected);
});

it("nested sequences and mappings inside sequence items", () => {
  const text = "- a: 1\n  b:\n  - 2\n- - x\n  - y\n-\n  c: d\n- \n";
  assert.deepEqual(parseYaml(text, "s"), [map(["a", 1], ["b", [2]]), ["x", "y"], map(["c", "d"]), null]);
  const emitted = emitYaml([map(["a", 1], ["b", [2]]), ["x", "y"], map(["c", map(["d", "e"])])]);
  assert.equal(emitted, "- a: 1\n  b:\n  - 2\n- - x\n  - y\n- c:\n    d: e\n");
});

it("flow mappings and sequences, including the task-metadata line", () => {
  const text = "tasks:\n  '48624': {pid: 48624, start: 123456789, child: 48630, childStart: 123456790, pool: exclusive, cpus: '6,14', affinity: true}\n";
  const task = map(
    ["pid", 48624],
    ["start", 123456789],
    ["child", 48630],
    ["childStart", 123456790],
    ["pool", "exclusive"],
    ["cpus", "6,14"],
    ["affinity", true],
  );
  assert.deepEqual(parseYaml(text, "s"), map(["tasks", map(["48624", task])]));
  assert.deepEqual(
    parseYaml("{a: 1, b: [x, 'y', \"z\"], c: {}, d: [], e: ~, f: {g: [1, [2]]}}", "s"),
    map(["a", 1], ["b", ["x", "y", "z"]], ["c", map()], ["d", []], ["e", null], ["f", map(["g", [1, [2]]])]),
  );
  // Trailing commas, keys without values, JSON-style quoted keys, and a collection spread over lines.
  assert.deepEqual(parseYaml("[a, b,]", "s"), ["a", "b"]);
  assert.deepEqual(parseYaml("{a, b: }", "s"), map(["a", null], ["b", null]));
  assert.deepEqual(parseYaml('{"a":1, "b":"x"}', "s"), map(["a", 1], ["b", "x"]));
  assert.deepEqual(parseYaml("k: {a: 1, # one\n    b: 2}\nm: 3\n", "s"), map(["k", map(["a", 1], ["b", 2])], ["m", 3]));
  // In flow context a comma ends a plain scalar, so CPU lists must be quoted there.
  assert.deepEqual(parseYaml("[4,12]", "s"), [4, 12]);
  assert.deepEqual(parseYaml("['4,12']", "s"), ["4,12"]);
});

it("scalar types: nulls, booleans, integers, floats and strings", () => {
  const text = [
    "n1: ~",
    "n2: null",
    "n3:",
    "t: true",
    "f: false",
    "y: yes",
    "o: Off",
    "i: 42",
    "neg: -7",
    "plus: +3",
    "zero: 0",
    "oct: 010",
    "hex: 0x1f",
    "fl: 1.5",
    "nf: -.inf",
    "s1: 12abc",
    "s2: 08",
    "s3: yEs",
    "s4: '42'",
    "s5: it's",
    "s6: a:b",
  ].join("\n");
  const value = parseYaml(text, "s");
  assert.ok(value instanceof Map);
  assert.deepEqual(Object.fromEntries(value), {
    n1: null,
    n2: null,
    n3: null,
    t: true,
    f: false,
    y: true,
    o: false,
    i: 42,
    neg: -7,
    plus: 3,
    zero: 0,
    oct: 8,
    hex: 31,
    fl: 1.5,
    nf: Number.NEGATIVE_INFINITY,
    s1: "12abc",
    s2: "08",
    s3: "yEs",
    s4: "42",
    s5: "it's",
    s6: "a:b",
  });
});

it("quoted scalars and their escapes", () => {
  assert.equal(parseYaml(`'it''s # not a comment'`, "s"), "it's # not a comment");
  assert.equal(parseYaml(String.raw`"q\" b\\ n\n t\t u\u00fc x\x41 U\U0001F600"`, "s"), 'q" b\\ n\n t\t uü xA U😀');
  assert.equal(parseYaml(`""`, "s"), "");
});

it("comments, blank lines, a leading document marker and an end marker", () => {
  const text = "# state\n---\n\n# pools\na: 1 # one\n  # indented comment\n\nb: 'x' # two\n...\n# trailing\n";
  assert.deepEqual(parseYaml(text, "s"), map(["a", 1], ["b", "x"]));
  assert.deepEqual(parseYaml("--- {a: [1]}\n", "s"), map(["a", [1]]));
  assert.equal(parseYaml("", "s"), null);
  assert.equal(parseYaml("# only a comment\n", "s"), null);
});

it("Windows line endings and a byte-order mark parse like Unix text", () => {
  const windows = `\ufeff${specPoolDocument.replaceAll("\n", "\r\n")}`;
  assert.deepEqual(parseYaml(windows, "s"), poolValue);
  assertRejected("a: 1\r\nb: 'x\r\n", 2, /unterminated single-quoted/);
});

it("tricky strings round-trip as values and keys, and stay strings", () => {
  const tricky = [
    "0",
    "007",
    "1.5",
    "-1",
    "1e5",
    "0x1F",
    "1:20",
    ".5",
    "true",
    "Yes",
    "ON",
    "null",
    "~",
    "",
    " x",
    "x ",
    "- a",
    "-a",
    "a: b",
    "a:",
    "a #b",
    "a#b",
    "it's",
    "'",
    '"',
    "line\nbreak",
    "tab\there",
    "\u0007bell",
    "4,12",
    "0-3,8",
    "ü",
    "日本 😀",
    "[x]",
    "{y}",
    "&a",
    "*a",
    "!t",
    "|",
    ">",
    "%p",
    "@x",
    "`x",
    "?",
    "? a",
    ":",
    "#",
    "---",
    "...",
    "--- x",
    "=",
    "<<",
    "2001-12-14",
    "\u2028",
    "\\",
    "\u0085",
  ];
  for (const text of tricky) {
    const value = map([text, text], ["list", [text]]);
    const emitted = emitYaml(value);
    assert.deepEqual(parseYaml(emitted, "s"), value, `round trip of ${JSON.stringify(text)} via ${JSON.stringify(emitted)}`);
  }
  // PyYAML's choices: plain where that reads back as the same string, single quotes otherwise,
  // double quotes only for characters that need escapes.
  assert.equal(emitYaml(map(["4,12", "0-2,8-10"])), "4,12: 0-2,8-10\n");
  assert.equal(emitYaml(map(["007", "Yes"])), "'007': 'Yes'\n");
  assert.equal(emitYaml(map(["k", "it's"])), "k: it's\n");
  assert.equal(emitYaml(map(["k", "a: b"])), "k: 'a: b'\n");
  assert.equal(emitYaml(map(["k", "'x'"])), "k: '''x'''\n");
  assert.equal(emitYaml(map(["k", "line\nbreak"])), 'k: "line\\nbreak"\n');
});

it("numbers, booleans and null round-trip with their types", () => {
  const values: YamlValue[] = [
    0,
    -0,
    7,
    -48624,
    123456789,
    1.5,
    -2.25,
    1e21,
    1e-7,
    2 ** 60,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    true,
    false,
    null,
    "7",
    "-0",
  ];
  const value = map(...values.map((v, i): [YamlKey, YamlValue] => [i, v]), [-1, "negative key"], [true, "bool key"], [null, "null key"], [2.5, "float key"]);
  assert.deepEqual(parseYaml(emitYaml(value), "s"), value);
  assert.equal(emitYaml(map(["pid", 48624], ["neg", -3], ["f", 1.5], ["b", false], ["n", null])), "pid: 48624\nneg: -3\nf: 1.5\nb: false\nn: null\n");
});

it("keys keep document order and are not sorted by the emitter", () => {
  const value = map(["b", 1], [10, 2], ["a", 3], [2, 4]);
  assert.equal(emitYaml(value), "b: 1\n10: 2\na: 3\n2: 4\n");
  const parsed = parseYaml(emitYaml(value), "s");
  assert.ok(parsed instanceof Map);
  assert.deepEqual([...parsed.keys()], ["b", 10, "a", 2]);
});

it("empty and scalar documents emit like PyYAML", () => {
  assert.equal(emitYaml(map()), "{}\n");
  assert.equal(emitYaml([]), "[]\n");
  assert.equal(emitYaml("text"), "text\n...\n");
  assert.equal(emitYaml("007"), "'007'\n");
  assert.equal(parseYaml(emitYaml("text"), "s"), "text");
});

it("bad indentation is rejected with its line", () => {
  assertRejected("a:\n  b: 1\n   c: 2\n", 3, /bad indentation/);
  assertRejected("a:\n    b: 1\n  c: 2\n", 3, /bad indentation/);
  assertRejected("a: hello\n  world\n", 2, /bad indentation/);
  assertRejected("a: 1\n- x\n", 2, /sequence item/);
  assertRejected("- x\nb: 1\n", 2, /does not continue/);
});

it("tab indentation is rejected", () => {
  assertRejected("a:\n\tb: 1\n", 2, /tab/);
  assertRejected("a:\n  \tb: 1\n", 2, /tab/);
});

it("unterminated quotes and flow collections are rejected", () => {
  assertRejected("a: 1\nb: 'open\nc: 2\n", 2, /unterminated single-quoted/);
  assertRejected('a: "open\n', 1, /unterminated double-quoted/);
  assertRejected('a: "bad \\q"\n', 1, /unknown escape/);
  assertRejected('a: "\\x4"\nb: 1\n', 1, /invalid escape "\\x": expected 2 hex digits/);
  assertRejected("a: {b: 1\nc: 2\n", 1, /"\{" is never closed.*"\}"/);
  assertRejected("a: [1, 2\n", 1, /"\[" is never closed/);
});

it("anchors, aliases, tags, block scalars, directives and other complex keys are rejected", () => {
  assertRejected("a: 1\nb: &x 2\n", 2, /anchors/);
  assertRejected("a: 1\nb: *x\n", 2, /aliases/);
  assertRejected("a: !!python/tuple [1, 2]\n", 1, /tags/);
  assertRejected("a: 1\nb: |\n  text\n", 2, /block scalars/);
  assertRejected("a: >-\n  text\n", 1, /folded block scalars/);
  assertRejected("? [a, b]\n: c\n", 1, /key must be a scalar/);
  assertRejected("? a\nb: c\n", 2, /expected ": value" below the "\? " key of line 1/);
  assertRejected("{? a : b}\n", 1, /"\? " keys are only supported in block mappings/);
  assertRejected("%YAML 1.1\n---\na: 1\n", 1, /directives/);
  assertRejected("a:\n  <<: {b: 1}\n", 2, /merge keys/);
  assertRejected("[a]: 1\n", 1, /key must be a scalar/);
  assertRejected("a: b: c\n", 1, /same line as its key/);
  assertRejected("a: - x\n", 1, /same line as its key/);
});

it("duplicate keys are rejected with the line of the repeat", () => {
  assertRejected("a: 1\nb: 2\na: 3\n", 3, /duplicate key "a"/);
  assertRejected("s:\n  0: x\n  0: y\n", 3, /duplicate key 0/);
  assertRejected("t: {x: 1,\n  x: 2}\n", 2, /duplicate key "x"/);
  // A number key and a string key with the same digits are different keys.
  assert.deepEqual(parseYaml("0: a\n'0': b\n", "s"), map([0, "a"], ["0", "b"]));
});

it("a second document is rejected", () => {
  assertRejected("a: 1\n---\nb: 2\n", 2, /second YAML document/);
  assertRejected("---\na: 1\n...\n---\nb: 2\n", 4, /second YAML document/);
});

it("text after a value is rejected rather than dropped", () => {
  assertRejected("a: 'x' y\n", 1, /after the value/);
  assertRejected("a: [1, 2] 3\n", 1, /after the value/);
  assertRejected("a: {b: 'x' c}\n", 1, /expected "," or "\}"/);
});

it("a 10,000-entry document parses completely", () => {
  const lines = ["tasks:"];
  for (let i = 0; i < 10_000; i++) {
    lines.push(`  '${100000 + i}': {pid: ${100000 + i}, start: ${5000000 + i}, pool: exclusive, cpus: '${i % 64},${(i % 64) + 64}', affinity: true}`);
  }
  const value = parseYaml(`${lines.join("\n")}\n`, "big");
  assert.ok(value instanceof Map);
  const tasks = value.get("tasks");
  assert.ok(tasks instanceof Map);
  assert.equal(tasks.size, 10_000);
  assert.deepEqual(tasks.get("100000"), map(["pid", 100000], ["start", 5000000], ["pool", "exclusive"], ["cpus", "0,64"], ["affinity", true]));
  assert.deepEqual(tasks.get("109999"), map(["pid", 109999], ["start", 5009999], ["pool", "exclusive"], ["cpus", "15,79"], ["affinity", true]));
  assert.equal(tasks.has(100000), false, "quoted PID keys stay strings");
  // The block form the emitter writes for the same data reads back identically.
  assert.deepEqual(parseYaml(emitYaml(value), "big"), value);
});
