// The node state as text, both ways. The whole document has two halves: `config`, CMK's pool
// document (pool -> socket -> CPU list -> task PID strings) exactly as CMK writes and reads it,
// and `tasks`, cmk's task records (host PIDs with start times) beside it, never inside it. The
// file store keeps the whole document as JSON (JSON is YAML, so CMK reads `config` as is; JSON
// because every cmk isolate reads and writes it under the node's lock, and V8 parses JSON
// natively where a YAML parser runs cold in every short-lived process). cmk 2.0.0-alpha.1 kept
// the same document as YAML, which is still read. Beside the halves the file store records the
// kernel's boot id at the time of writing (`bootId`, absent in files written before it and on
// hosts that do not expose one): the way to tell, should state.json be lost, whether the tasks
// it recorded ended with the machine. A store that keeps the halves apart (a ConfigMap: the pool
// document under data key `config`, the task records under another key) uses the halves'
// functions below. Errors name the source and say how to repair it.
import { BoundedCache } from "../core/bounded-cache.ts";
import { CpuSet } from "../core/cpuset.ts";
import { CmkError } from "../core/errors.ts";
import type { CpuListState, NodeState, PodIdentity, PoolState, TaskRecord } from "../core/node-state.ts";
import { compareCpuLists, isPoolName, type PoolName, poolNames } from "../core/pools.ts";
import { parseYaml, type YamlKey, type YamlMap, type YamlValue } from "./yaml.ts";

/**
 * A parsed document as the readers below take it: YAML's (mappings as Maps) or JSON.parse's
 * (mappings as plain objects), so that JSON needs no conversion first.
 */
export type DocumentValue = YamlValue | DocumentObject | readonly DocumentValue[];
interface DocumentObject {
  readonly [key: string]: DocumentValue;
}

// ---- The whole document ---------------------------------------------------------------------

/** The whole document as the file store keeps it: the state and the boot id it was written in. */
export interface StoredState {
  readonly state: NodeState;
  /** The kernel's boot id when the document was written; null when it does not say (older files). */
  readonly bootId: string | null;
}

/** The top-level keys of the document, in the order they are written. */
const topLevelKeys = ["config", "tasks", "bootId"];

/**
 * The state as two-space indented JSON: `config`, then `tasks` when there are task records, then
 * `bootId` when one is given.
 */
export function encodeStoredState(state: NodeState, bootId: string | null): string {
  const document: YamlMap = new Map([["config", poolDocument(state)]]);
  const tasks = taskDocument(state);
  if (tasks.size > 0) document.set("tasks", tasks);
  if (bootId !== null) document.set("bootId", bootId);
  return `${jsonText(document, "")}\n`;
}

/** The state as JSON without a boot id. */
export function encodeStateFile(state: NodeState): string {
  return encodeStoredState(state, null);
}

export function decodeStoredState(text: string, source: string): StoredState {
  let parsed: DocumentValue;
  try {
    parsed = JSON.parse(text) as DocumentValue;
  } catch (error) {
    const reason = error instanceof SyntaxError ? error.message : String(error);
    throw new CmkError(
      "invalid-state",
      `${source}: not valid JSON (${reason}); restore it from its backup, or run cmk init to start afresh (it keeps the unreadable file as a backup)`,
      { cause: error },
    );
  }
  return storedStateOf(parsed, source);
}

/** The state of a JSON state file, whatever boot id it records. */
export function decodeStateFile(text: string, source: string): NodeState {
  return decodeStoredState(text, source).state;
}

/** The YAML state file of cmk 2.0.0-alpha.1, read so that an upgrade loses nothing. */
export function decodeYamlStateFile(text: string, source: string): NodeState {
  return decodeYamlStoredState(text, source).state;
}

/** The whole document written as YAML (cmk 2.0.0-alpha.1's state.yaml, or a document YAML tools rewrote). */
export function decodeYamlStoredState(text: string, source: string): StoredState {
  return storedStateOf(parseYaml(text, source), source);
}

function storedStateOf(document: DocumentValue, source: string): StoredState {
  const top: ReadonlyMap<YamlKey, DocumentValue> | null = !isMapping(document) ? null : document instanceof Map ? document : new Map(Object.entries(document));
  if (top === null || !top.has("config")) {
    throw new CmkError(
      "invalid-state",
      `${source}: not a cmk state file (no "config" mapping at the top); restore it from its backup, or run cmk init to start afresh (it keeps the unreadable file as a backup)`,
    );
  }
  for (const key of top.keys()) {
    if (typeof key !== "string" || !topLevelKeys.includes(key)) {
      throw new CmkError("invalid-state", `${source}: unexpected top-level key "${String(key)}"; only "config", "tasks" and "bootId" belong here`);
    }
  }
  const pools = readPoolDocument(top.get("config") as DocumentValue, source);
  const tasks = readTaskDocument(top.get("tasks"), source);
  return { state: { pools, tasks }, bootId: readBootId(top.get("bootId"), source) };
}

/** A recorded boot id: absent is unknown; anything but a non-empty one-line string is refused. */
function readBootId(value: DocumentValue | undefined, source: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "string" || !/^[\x21-\x7e]{1,64}$/.test(value)) {
    throw new CmkError(
      "invalid-state",
      `${source}: "bootId" must be the kernel's boot id (a string such as 0b7d8ed6-3f1c-4e7b-9a53-2d4c1f0e9a11), found ${describeValue(value)}; remove the key if it was edited by hand`,
    );
  }
  return value;
}

// ---- The halves as text -----------------------------------------------------------------------

/** The pool document as JSON, which CMK's YAML readers take as is. */
export function encodePoolDocument(state: NodeState): string {
  return `${jsonText(poolDocument(state), "")}\n`;
}

/** The task records as JSON. */
export function encodeTaskDocument(state: NodeState): string {
  return `${jsonText(taskDocument(state), "")}\n`;
}

/** A pool document written as JSON (by cmk) or as YAML (by CMK). */
export function decodePoolDocument(text: string, source: string): Map<PoolName, PoolState> {
  return readPoolDocument(parseJsonOrYaml(text, source), source);
}

/** Task records written as JSON or YAML. */
export function decodeTaskDocument(text: string, source: string): Map<string, TaskRecord> {
  return readTaskDocument(parseJsonOrYaml(text, source), source);
}

/** JSON.parse for JSON (the common case, and V8's native parser); YAML, which reads JSON too, otherwise. */
function parseJsonOrYaml(text: string, source: string): DocumentValue {
  try {
    return JSON.parse(text) as DocumentValue;
  } catch {
    return parseYaml(text, source);
  }
}

// ---- The halves as document values ------------------------------------------------------------

/** The pool document exactly as CMK writes it: pools alphabetical, sockets numeric, PIDs as strings. */
export function poolDocument(state: NodeState): YamlMap {
  const document: YamlMap = new Map();
  for (const name of [...state.pools.keys()].sort()) {
    const pool = state.pools.get(name) as PoolState;
    const sockets: YamlMap = new Map();
    for (const socket of [...pool.sockets.keys()].sort((a, b) => a - b)) {
      const lists: YamlMap = new Map();
      for (const list of [...(pool.sockets.get(socket) ?? [])].sort(compareCpuLists)) lists.set(list.key, [...list.tasks]);
      sockets.set(socket, lists);
    }
    document.set(name, sockets);
  }
  return document;
}

/** Task id -> record, ordered by PID. */
export function taskDocument(state: NodeState): YamlMap {
  const document: YamlMap = new Map();
  for (const id of [...state.tasks.keys()].sort((a, b) => Number(a) - Number(b))) {
    const record = state.tasks.get(id) as TaskRecord;
    const entry: YamlMap = new Map<YamlKey, YamlValue>([
      ["pid", record.isolate.pid],
      ["start", record.isolate.start],
    ]);
    if (record.child !== undefined) {
      entry.set("child", record.child.pid);
      entry.set("childStart", record.child.start);
    }
    entry.set("affinity", record.affinity);
    if (record.pod !== undefined) {
      entry.set(
        "pod",
        new Map([
          ["namespace", record.pod.namespace],
          ["name", record.pod.name],
          ["uid", record.pod.uid],
        ]),
      );
    }
    document.set(id, entry);
  }
  return document;
}

/** Reads a pool document (CMK's `config`), accepting CMK's variants: int or string sockets and tasks, ranges in keys. */
export function readPoolDocument(value: DocumentValue, source: string): Map<PoolName, PoolState> {
  const pools = new Map<PoolName, PoolState>();
  for (const [poolKey, socketsValue] of entriesOf(value, () => "the pool document", source)) {
    const name = String(poolKey);
    if (!isPoolName(name)) {
      throw new CmkError("invalid-state", `${source}: unknown pool "${name}": pools are ${poolNames.join(", ")}`);
    }
    pools.set(name, { name, sockets: readSockets(name, socketsValue, source) });
  }
  return pools;
}

function readSockets(pool: PoolName, value: DocumentValue, source: string): Map<number, CpuListState[]> {
  const sockets = new Map<number, CpuListState[]>();
  for (const [socketKey, listsValue] of entriesOf(value, () => `pool ${pool}`, source)) {
    const socket = typeof socketKey === "number" ? socketKey : /^\d+$/.test(String(socketKey)) ? Number(socketKey) : NaN;
    if (!Number.isInteger(socket) || socket < 0) {
      throw new CmkError("invalid-state", `${source}: pool ${pool}: socket "${String(socketKey)}" is not a socket number`);
    }
    if (sockets.has(socket)) {
      throw new CmkError(
        "invalid-state",
        `${source}: pool ${pool}: socket ${socket} appears twice (as a number and as a string); merge its CPU lists under one key`,
      );
    }
    const socketWhere = `pool ${pool} socket ${socket}`;
    const lists: CpuListState[] = [];
    for (const [listKey, tasksValue] of entriesOf(listsValue, () => socketWhere, source)) {
      lists.push(readCpuList(socketWhere, String(listKey), tasksValue, source));
    }
    sockets.set(socket, lists.sort(compareCpuLists));
  }
  return sockets;
}

/** One CPU list of a socket (`socketWhere`: "pool exclusive socket 0") and its task PIDs. */
function readCpuList(socketWhere: string, key: string, tasksValue: DocumentValue, source: string): CpuListState {
  const cpus = cpuSetOfKey(key, socketWhere, source);
  const where = (): string => `${socketWhere} list ${key}`;
  const taskValues = tasksValue === null ? [] : Array.isArray(tasksValue) ? (tasksValue as readonly DocumentValue[]) : null;
  if (taskValues === null) {
    throw new CmkError("invalid-state", `${source}: ${where()}: tasks must be a list, found ${describeValue(tasksValue)}`);
  }
  const tasks: string[] = [];
  for (const task of taskValues) tasks.push(pidString(task, where, source));
  return { key, cpus, tasks };
}

/**
 * CPU-list keys parsed so far: a process reads the same keys in each of its state transactions
 * (isolate re-reads them when it releases, inside the lock), and CPU sets are immutable. Bounded
 * well above the lists of the largest node.
 */
const cpuSetsByKey = new BoundedCache<string, CpuSet>(8192);

function cpuSetOfKey(key: string, socketWhere: string, source: string): CpuSet {
  let cpus = cpuSetsByKey.get(key);
  if (cpus === undefined) {
    try {
      cpus = CpuSet.parse(key);
    } catch (error) {
      throw new CmkError("invalid-state", `${source}: ${socketWhere}: "${key}" is not a CPU list`, { cause: error });
    }
    cpuSetsByKey.set(key, cpus);
  }
  if (cpus.isEmpty) throw new CmkError("invalid-state", `${source}: ${socketWhere}: empty CPU list key`);
  return cpus;
}

/** Reads cmk's task records (absent: none). */
export function readTaskDocument(value: DocumentValue | undefined, source: string): Map<string, TaskRecord> {
  const tasks = new Map<string, TaskRecord>();
  if (value === undefined) return tasks;
  for (const [idKey, entryValue] of entriesOf(value, () => "tasks", source)) {
    const id = pidString(typeof idKey === "number" || typeof idKey === "string" ? idKey : null, () => "tasks", source);
    tasks.set(id, readTaskRecord(id, entryValue, source));
  }
  return tasks;
}

function readTaskRecord(id: string, value: DocumentValue, source: string): TaskRecord {
  const entry = new Map(entriesOf(value, () => `task ${id}`, source));
  const integer = (field: string, required: boolean, minimum = 0, maximum = Number.MAX_SAFE_INTEGER): number | undefined => {
    const raw = entry.get(field);
    if (raw === undefined && !required) return undefined;
    if (typeof raw !== "number" || !Number.isSafeInteger(raw) || raw < minimum || raw > maximum) {
      const expected = maximum === maxPid ? `a process id (from 1 to ${maxPid})` : "a non-negative integer";
      throw new CmkError("invalid-state", `${source}: task ${id}: "${field}" must be ${expected}, found ${raw === undefined ? "nothing" : describeValue(raw)}`);
    }
    return raw;
  };
  const pid = integer("pid", true, 1, maxPid) as number;
  const start = integer("start", true) as number;
  const childPid = integer("child", false, 1, maxPid);
  const childStart = integer("childStart", false);
  const affinity = entry.get("affinity");
  if (typeof affinity !== "boolean") {
    throw new CmkError("invalid-state", `${source}: task ${id}: "affinity" must be true or false`);
  }
  const pod = entry.has("pod") ? readPod(id, entry.get("pod") as DocumentValue, source) : undefined;
  const record: TaskRecord =
    childPid !== undefined && childStart !== undefined
      ? { isolate: { pid, start }, child: { pid: childPid, start: childStart }, affinity }
      : { isolate: { pid, start }, affinity };
  return pod === undefined ? record : { ...record, pod };
}

function readPod(id: string, value: DocumentValue, source: string): PodIdentity {
  const entry = new Map(entriesOf(value, () => `task ${id} pod`, source));
  const text = (field: string): string => {
    const raw = entry.get(field);
    if (typeof raw !== "string" || raw === "") throw new CmkError("invalid-state", `${source}: task ${id}: pod "${field}" must be a non-empty string`);
    return raw;
  };
  return { namespace: text("namespace"), name: text("name"), uid: text("uid") };
}

// ---- Reading document values ------------------------------------------------------------------

function isMapping(value: DocumentValue): value is YamlMap | DocumentObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A mapping's entries (null reads as empty); `where` names it when it is not a mapping. */
function entriesOf(value: DocumentValue, where: () => string, source: string): Iterable<readonly [YamlKey, DocumentValue]> {
  if (value instanceof Map) return value;
  if (isMapping(value)) return Object.entries(value);
  if (value === null) return [];
  throw new CmkError(
    "invalid-state",
    `${source}: ${where()} must be a mapping, found ${describeValue(value)}; restore the file from a backup, or run cmk init to start afresh (it keeps the unreadable file as a backup)`,
  );
}

function describeValue(value: DocumentValue): string {
  if (Array.isArray(value)) return "a list";
  if (isMapping(value)) return "a mapping";
  return JSON.stringify(value);
}

/** The largest PID Linux hands out (PID_MAX_LIMIT on 64-bit kernels): a larger one names no process. */
export const maxPid = 4_194_304;

function pidString(value: DocumentValue, where: () => string, source: string): string {
  const text = typeof value === "number" ? String(value) : typeof value === "string" ? value.trim() : "";
  if (!/^[1-9]\d{0,9}$/.test(text) || Number(text) > maxPid) {
    throw new CmkError(
      "invalid-state",
      `${source}: ${where()}: task ${describeValue(value)} is not a process id (Linux PIDs run from 1 to ${maxPid}); remove it from the list`,
    );
  }
  return text;
}

// ---- Writing JSON -----------------------------------------------------------------------------

/**
 * Two-space indented JSON in the document's key order: a mapping that holds collections gets a
 * line per entry; a mapping of scalars (a task record) and every list stay on one line.
 */
function jsonText(value: YamlValue, indent: string): string {
  if (!(value instanceof Map)) return JSON.stringify(Array.isArray(value) ? value.map(plainValue) : value);
  if (value.size === 0) return "{}";
  const entries = [...value].map(([key, entry]) => [JSON.stringify(String(key)), entry] as const);
  if (entries.every(([, entry]) => !(entry instanceof Map) && !Array.isArray(entry))) {
    return `{ ${entries.map(([key, entry]) => `${key}: ${JSON.stringify(entry)}`).join(", ")} }`;
  }
  const inner = `${indent}  `;
  return `{\n${entries.map(([key, entry]) => `${inner}${key}: ${jsonText(entry, inner)}`).join(",\n")}\n${indent}}`;
}

function plainValue(value: YamlValue): unknown {
  if (value instanceof Map) return Object.fromEntries([...value].map(([key, entry]) => [String(key), plainValue(entry)]));
  return Array.isArray(value) ? value.map(plainValue) : value;
}
