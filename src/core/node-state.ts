// The node's state: CMK's pool document (pool -> socket -> CPU list -> task PID strings),
// and beside it, never inside it, the identity of each task (host PIDs with start times).
import { CpuSet } from "./cpuset.ts";
import { CmkError } from "./errors.ts";
import { compareCpuLists, isPoolName, poolNames, type PoolLayout, type PoolName } from "./pools.ts";
import type { YamlKey, YamlValue } from "./yaml.ts";

/** A process, told apart from a later one with the same PID by its start time (/proc/<pid>/stat field 22). */
export interface ProcessIdentity {
  readonly pid: number;
  readonly start: number;
}

/** What we know of a task beyond its PID string in the pool document. */
export interface TaskRecord {
  readonly isolate: ProcessIdentity;
  readonly child?: ProcessIdentity;
  /** False for `cmk isolate --no-affinity`: its affinity is the workload's business. */
  readonly affinity: boolean;
}

export interface CpuListState {
  readonly key: string;
  readonly cpus: CpuSet;
  readonly tasks: readonly string[];
}

export interface PoolState {
  readonly name: PoolName;
  readonly sockets: ReadonlyMap<number, readonly CpuListState[]>;
}

export interface NodeState {
  readonly pools: ReadonlyMap<PoolName, PoolState>;
  /** Task id (the PID string in the pool document) -> identity. Tasks without a record are CMK's own. */
  readonly tasks: ReadonlyMap<string, TaskRecord>;
}

export function stateFromLayout(layout: PoolLayout): NodeState {
  const pools = new Map<PoolName, PoolState>();
  for (const [name, sockets] of layout) {
    pools.set(name, {
      name,
      sockets: new Map([...sockets].map(([socket, lists]) => [socket, lists.map((list) => ({ ...list, tasks: [] }))])),
    });
  }
  return { pools, tasks: new Map() };
}

export function* cpuListsOf(pool: PoolState): Generator<CpuListState & { readonly socket: number }> {
  for (const [socket, lists] of pool.sockets) for (const list of lists) yield { ...list, socket };
}

export function allTaskIds(state: NodeState): Set<string> {
  const ids = new Set<string>();
  for (const pool of state.pools.values()) for (const list of cpuListsOf(pool)) for (const task of list.tasks) ids.add(task);
  return ids;
}

/** True when both states carve the same pools into the same CPU lists (tasks aside). */
export function sameLayout(a: NodeState, b: NodeState): boolean {
  const shape = (state: NodeState): string =>
    [...state.pools.values()]
      .sort((x, y) => x.name.localeCompare(y.name))
      .map((pool) => `${pool.name}:${[...pool.sockets].sort(([x], [y]) => x - y).map(([socket, lists]) => `${socket}=${lists.map((list) => list.cpus.toString()).join("|")}`).join(";")}`)
      .join("\n");
  return shape(a) === shape(b);
}

/** Returns a copy of the state with `change` applied to the task list of each CPU list. */
export function mapTasks(
  state: NodeState,
  change: (pool: PoolName, list: CpuListState, socket: number) => readonly string[],
  tasks: ReadonlyMap<string, TaskRecord> = state.tasks,
): NodeState {
  const pools = new Map<PoolName, PoolState>();
  for (const pool of state.pools.values()) {
    const sockets = new Map<number, CpuListState[]>();
    for (const [socket, lists] of pool.sockets) {
      sockets.set(socket, lists.map((list) => ({ ...list, tasks: change(pool.name, list, socket) })));
    }
    pools.set(pool.name, { name: pool.name, sockets });
  }
  return { pools, tasks };
}

// ---- The wire format -------------------------------------------------------------------

/** The pool document exactly as CMK writes it: pools alphabetical, sockets numeric, PIDs as strings. */
export function poolDocument(state: NodeState): Map<YamlKey, YamlValue> {
  const document = new Map<YamlKey, YamlValue>();
  for (const name of [...state.pools.keys()].sort()) {
    const pool = state.pools.get(name) as PoolState;
    const sockets = new Map<YamlKey, YamlValue>();
    for (const socket of [...pool.sockets.keys()].sort((a, b) => a - b)) {
      const lists = new Map<YamlKey, YamlValue>();
      for (const list of [...(pool.sockets.get(socket) ?? [])].sort(compareCpuLists)) lists.set(list.key, [...list.tasks]);
      sockets.set(socket, lists);
    }
    document.set(name, sockets);
  }
  return document;
}

export function taskDocument(state: NodeState): Map<YamlKey, YamlValue> {
  const document = new Map<YamlKey, YamlValue>();
  for (const id of [...state.tasks.keys()].sort((a, b) => Number(a) - Number(b))) {
    const record = state.tasks.get(id) as TaskRecord;
    const entry = new Map<YamlKey, YamlValue>([
      ["pid", record.isolate.pid],
      ["start", record.isolate.start],
    ]);
    if (record.child !== undefined) {
      entry.set("child", record.child.pid);
      entry.set("childStart", record.child.start);
    }
    entry.set("affinity", record.affinity);
    document.set(id, entry);
  }
  return document;
}

/**
 * A parsed state document as the readers below take it: YAML's (mappings as Maps) or
 * JSON.parse's (mappings as plain objects), so that JSON needs no conversion first.
 */
export type DocumentValue = YamlValue | DocumentObject | readonly DocumentValue[];
interface DocumentObject {
  readonly [key: string]: DocumentValue;
}

export function isMapping(value: DocumentValue): value is Map<YamlKey, YamlValue> | DocumentObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A mapping's entries (null reads as empty); `where` names it when it is not a mapping. */
function entriesOf(value: DocumentValue, where: () => string, source: string): Iterable<readonly [YamlKey, DocumentValue]> {
  if (value instanceof Map) return value;
  if (isMapping(value)) return Object.entries(value);
  if (value === null) return [];
  throw new CmkError("invalid-state", `${source}: ${where()} must be a mapping, found ${describeValue(value)}; restore the file from a backup or re-run cmk init`);
}

function describeValue(value: DocumentValue): string {
  if (Array.isArray(value)) return "a list";
  if (isMapping(value)) return "a mapping";
  return JSON.stringify(value);
}

function pidString(value: DocumentValue, where: () => string, source: string): string {
  const text = typeof value === "number" ? String(value) : typeof value === "string" ? value.trim() : "";
  if (!/^[1-9]\d{0,9}$/.test(text)) {
    throw new CmkError("invalid-state", `${source}: ${where()}: task ${describeValue(value)} is not a process id; remove it from the list`);
  }
  return text;
}

/**
 * CPU-list keys parsed so far: a process reads the same keys in each of its state transactions,
 * and CPU sets are immutable.
 */
const cpuSetsByKey = new Map<string, CpuSet>();

/** Reads a pool document (CMK's `config`), accepting CMK's variants: int or string sockets and tasks, ranges in keys. */
export function readPoolDocument(value: DocumentValue, source: string): Map<PoolName, PoolState> {
  const pools = new Map<PoolName, PoolState>();
  for (const [poolKey, socketsValue] of entriesOf(value, () => "the pool document", source)) {
    const name = String(poolKey);
    if (!isPoolName(name)) {
      throw new CmkError("invalid-state", `${source}: unknown pool "${name}": pools are ${poolNames.join(", ")}`);
    }
    const sockets = new Map<number, CpuListState[]>();
    for (const [socketKey, listsValue] of entriesOf(socketsValue, () => `pool ${name}`, source)) {
      const socket = typeof socketKey === "number" ? socketKey : /^\d+$/.test(String(socketKey)) ? Number(socketKey) : NaN;
      if (!Number.isInteger(socket) || socket < 0) {
        throw new CmkError("invalid-state", `${source}: pool ${name}: socket "${String(socketKey)}" is not a socket number`);
      }
      if (sockets.has(socket)) {
        throw new CmkError("invalid-state", `${source}: pool ${name}: socket ${socket} appears twice (as a number and as a string); merge its CPU lists under one key`);
      }
      const lists: CpuListState[] = [];
      for (const [listKey, tasksValue] of entriesOf(listsValue, () => `pool ${name} socket ${socket}`, source)) {
        const key = String(listKey);
        let cpus = cpuSetsByKey.get(key);
        if (cpus === undefined) {
          try {
            cpus = CpuSet.parse(key);
          } catch (error) {
            throw new CmkError("invalid-state", `${source}: pool ${name} socket ${socket}: "${key}" is not a CPU list`, { cause: error });
          }
          cpuSetsByKey.set(key, cpus);
        }
        if (cpus.isEmpty) throw new CmkError("invalid-state", `${source}: pool ${name} socket ${socket}: empty CPU list key`);
        const where = (): string => `pool ${name} socket ${socket} list ${key}`;
        const taskValues = tasksValue === null ? [] : Array.isArray(tasksValue) ? (tasksValue as readonly DocumentValue[]) : null;
        if (taskValues === null) {
          throw new CmkError("invalid-state", `${source}: ${where()}: tasks must be a list, found ${describeValue(tasksValue)}`);
        }
        const tasks: string[] = [];
        for (const task of taskValues) tasks.push(pidString(task, where, source));
        lists.push({ key, cpus, tasks });
      }
      sockets.set(socket, lists.sort(compareCpuLists));
    }
    pools.set(name, { name, sockets });
  }
  return pools;
}

export function readTaskDocument(value: DocumentValue | undefined, source: string): Map<string, TaskRecord> {
  const tasks = new Map<string, TaskRecord>();
  if (value === undefined) return tasks;
  for (const [idKey, entryValue] of entriesOf(value, () => "tasks", source)) {
    const id = pidString(typeof idKey === "number" || typeof idKey === "string" ? idKey : null, () => "tasks", source);
    const entry = new Map(entriesOf(entryValue, () => `task ${id}`, source));
    const integer = (field: string, required: boolean): number | undefined => {
      const raw = entry.get(field);
      if (raw === undefined && !required) return undefined;
      if (typeof raw !== "number" || !Number.isSafeInteger(raw) || raw < 0) {
        throw new CmkError("invalid-state", `${source}: task ${id}: "${field}" must be a non-negative integer, found ${raw === undefined ? "nothing" : describeValue(raw)}`);
      }
      return raw;
    };
    const pid = integer("pid", true) as number;
    const start = integer("start", true) as number;
    const childPid = integer("child", false);
    const childStart = integer("childStart", false);
    const affinity = entry.get("affinity");
    if (typeof affinity !== "boolean") {
      throw new CmkError("invalid-state", `${source}: task ${id}: "affinity" must be true or false`);
    }
    const record: TaskRecord =
      childPid !== undefined && childStart !== undefined
        ? { isolate: { pid, start }, child: { pid: childPid, start: childStart }, affinity }
        : { isolate: { pid, start }, affinity };
    tasks.set(id, record);
  }
  return tasks;
}
