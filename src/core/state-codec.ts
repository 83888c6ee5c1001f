// The text forms of the node state. The file store keeps one JSON document: `config` holds CMK's
// pool document (JSON is YAML, so it is CMK's document as CMK would read it) and `tasks` the task
// identities beside it. JSON because every cmk isolate reads and writes it under the node's lock:
// V8 parses JSON natively, where a YAML parser runs cold in every short-lived process.
// cmk 2.0.0-alpha.1 kept the same document as YAML (state.yaml); it is still read.
import { CmkError } from "./errors.ts";
import { isMapping, poolDocument, readPoolDocument, readTaskDocument, taskDocument, type DocumentValue, type NodeState } from "./node-state.ts";
import { parseYaml, type YamlKey, type YamlValue } from "./yaml.ts";

export function encodeStateFile(state: NodeState): string {
  const document = new Map<YamlKey, YamlValue>([["config", poolDocument(state)]]);
  const tasks = taskDocument(state);
  if (tasks.size > 0) document.set("tasks", tasks);
  return `${jsonText(document, "")}\n`;
}

export function decodeStateFile(text: string, source: string): NodeState {
  let parsed: DocumentValue;
  try {
    parsed = JSON.parse(text) as DocumentValue;
  } catch (error) {
    const reason = error instanceof SyntaxError ? error.message : String(error);
    throw new CmkError("invalid-state", `${source}: not valid JSON (${reason}); restore it from its backup or remove it and run cmk init`, { cause: error });
  }
  return stateOf(parsed, source);
}

/** The YAML state file of cmk 2.0.0-alpha.1, read so that an upgrade loses nothing. */
export function decodeYamlStateFile(text: string, source: string): NodeState {
  return stateOf(parseYaml(text, source), source);
}

function stateOf(document: DocumentValue, source: string): NodeState {
  const top: ReadonlyMap<YamlKey, DocumentValue> | null = !isMapping(document) ? null : document instanceof Map ? document : new Map(Object.entries(document));
  if (top === null || !top.has("config")) {
    throw new CmkError("invalid-state", `${source}: not a cmk state file (no "config" mapping at the top); restore it from its backup or remove it and run cmk init`);
  }
  for (const key of top.keys()) {
    if (key !== "config" && key !== "tasks") {
      throw new CmkError("invalid-state", `${source}: unexpected top-level key "${String(key)}"; only "config" and "tasks" belong here`);
    }
  }
  const pools = readPoolDocument(top.get("config") as DocumentValue, source);
  const tasks = readTaskDocument(top.get("tasks"), source);
  return { pools, tasks };
}

/**
 * Two-space indented JSON in the document's key order: a mapping that holds collections gets a
 * line per entry; a mapping of scalars (a task record) and every list stay on one line.
 */
function jsonText(value: YamlValue, indent: string): string {
  if (!(value instanceof Map)) return JSON.stringify(value instanceof Array ? value.map(plainValue) : value);
  if (value.size === 0) return "{}";
  const entries = [...value].map(([key, entry]) => [JSON.stringify(String(key)), entry] as const);
  if (entries.every(([, entry]) => !(entry instanceof Map) && !(entry instanceof Array))) {
    return `{ ${entries.map(([key, entry]) => `${key}: ${JSON.stringify(entry)}`).join(", ")} }`;
  }
  const inner = `${indent}  `;
  return `{\n${entries.map(([key, entry]) => `${inner}${key}: ${jsonText(entry, inner)}`).join(",\n")}\n${indent}}`;
}

function plainValue(value: YamlValue): unknown {
  if (value instanceof Map) return Object.fromEntries([...value].map(([key, entry]) => [String(key), plainValue(entry)]));
  return value instanceof Array ? value.map(plainValue) : value;
}
