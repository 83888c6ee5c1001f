// The node state in a ConfigMap, as CMK 1.5 keeps it: object cmk-config-<node> in the namespace,
// data key `config` holding CMK's pool document as PyYAML writes it (so CMK 1.5 and `kubectl get
// -o yaml` read it as before), and cmk's task records under their own key `tasks`, never inside
// `config`. A change is a transaction by optimistic concurrency: read, change, PUT with the
// resourceVersion read; when another writer came first the server answers 409, and the change runs
// again on the new document after a jittered back-off, until CMK_LOCK_TIMEOUT. No lock is held
// between calls, so a writer killed at any instant leaves nothing to clean up (CMK 1.5's `Owner`
// annotation lock wedged the node forever; a leftover `Owner` is ignored and dropped by our next
// write). Transient API failures (unreachable, 429, 5xx) are retried within the same deadline.
import { assertNoSharedCpus } from "../../core/checks.ts";
import { CmkError } from "../../core/errors.ts";
import type { NodeState } from "../../core/node-state.ts";
import type { StateStore, Transition } from "../../core/state-store.ts";
import { noStoreObserver, type StoreObserver } from "../../core/store-observer.ts";
import { decodePoolDocument, decodeTaskDocument, encodeTaskDocument, poolDocument } from "../../formats/state-document.ts";
import { emitYaml } from "../../formats/yaml.ts";
import type { ApiRequest, KubeClient } from "./client.ts";
import { configMapLocation, configMapName } from "./names.ts";
import { isSuccess, Retrying } from "./retry.ts";

/** The data keys cmk writes: CMK's pool document, and cmk's task records beside it. */
export const configKey = "config";
export const tasksKey = "tasks";
/** Where `setAsideUnreadable` moves an unreadable pool document, in the same ConfigMap. */
export const unreadableConfigKey = "config.unreadable";
/** CMK 1.5's lock annotation; ignored, and removed by the next write. */
const ownerAnnotation = "Owner";

export interface ConfigMapObject {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly resourceVersion?: string;
    readonly annotations?: Readonly<Record<string, string>>;
    readonly [key: string]: unknown;
  };
  readonly data?: Readonly<Record<string, string>>;
  readonly [key: string]: unknown;
}

export interface ConfigMapStoreOptions {
  readonly client: KubeClient;
  readonly namespace: string;
  readonly nodeName: string;
  readonly lockTimeoutSeconds: number;
  readonly observer?: StoreObserver;
  /** Milliseconds on a monotonic clock (tests and servers pass their own). */
  readonly now?: () => number;
}

interface Snapshot {
  readonly object: ConfigMapObject | null;
  readonly state: NodeState | null;
}

export class ConfigMapStateStore implements StateStore {
  readonly location: string;
  private readonly client: KubeClient;
  private readonly namespace: string;
  private readonly name: string;
  private readonly timeoutMs: number;
  private readonly observer: StoreObserver;
  private readonly now: () => number;
  /** A read started by prepare(), taken by the first transaction. */
  private prefetched: Promise<ConfigMapObject | null> | undefined;
  /** The object as this store's last write left it (with its resourceVersion), until another write. */
  private lastWritten: ConfigMapObject | undefined;
  /** The document this store last read or wrote and its state: decoded once. */
  private lastSeen: { readonly config: string; readonly tasks: string | undefined; readonly state: NodeState } | undefined;

  constructor(options: ConfigMapStoreOptions) {
    this.client = options.client;
    this.namespace = options.namespace;
    this.name = configMapName(options.nodeName);
    this.location = configMapLocation(options.namespace, this.name);
    this.timeoutMs = options.lockTimeoutSeconds * 1000;
    this.observer = options.observer ?? noStoreObserver;
    this.now = options.now ?? (() => performance.now());
  }

  prepare(): void {
    if (this.prefetched !== undefined) return;
    const prefetched = this.getObject(this.transaction());
    // A failure is seen, and reported, by the transaction that takes it.
    prefetched.catch(() => {});
    this.prefetched = prefetched;
  }

  async read(): Promise<NodeState | null> {
    return (await this.fetch(this.transaction())).state;
  }

  async update<T>(change: (current: NodeState | null) => Transition<T>): Promise<T> {
    const calls = this.transaction();
    let conflicts = 0;
    for (let attempt = 0; ; attempt++) {
      // What this store wrote last is likely still current (isolate's release follows its own
      // allocation): change that at once, and read only when the server says it is stale.
      const written = attempt === 0 ? this.lastWritten : undefined;
      const snapshot = written !== undefined ? { object: written, state: this.decode(written) } : await this.fetch(calls);
      if (snapshot.state !== null) assertNoSharedCpus(snapshot.state, this.location);
      const transition = change(snapshot.state);
      if (transition.state === undefined || transition.state === snapshot.state) return transition.result;
      if (await this.write(snapshot.object, this.dataOf(snapshot.object, transition.state), calls)) return transition.result;
      conflicts++;
      this.observer.conflict();
      this.observer.retry();
      await calls.backOff(attempt, () => this.conflictTimeout(conflicts));
    }
  }

  async setAsideUnreadable(): Promise<string | null> {
    const calls = this.transaction();
    for (let attempt = 0; ; attempt++) {
      let object: ConfigMapObject | null;
      try {
        const snapshot = await this.fetch(calls);
        if (snapshot.object === null || snapshot.state === null) return null;
        assertNoSharedCpus(snapshot.state, this.location);
        return null;
      } catch (error) {
        if (!(error instanceof CmkError && error.kind === "invalid-state")) throw error;
        object = await this.getObject(calls);
      }
      if (object === null) return null;
      const { [configKey]: unreadable, [tasksKey]: _tasks, ...rest } = object.data ?? {};
      const data = unreadable === undefined ? rest : { ...rest, [unreadableConfigKey]: unreadable };
      if (await this.write(object, data, calls)) return `${this.location} data key ${unreadableConfigKey}`;
      this.observer.conflict();
      this.observer.retry();
      await calls.backOff(attempt, () => this.conflictTimeout(attempt + 1));
    }
  }

  // ---- Reading ------------------------------------------------------------------------------

  private async fetch(calls: Retrying): Promise<Snapshot> {
    const object = await this.getObject(calls);
    return { object, state: object === null ? null : this.decode(object) };
  }

  private async getObject(calls: Retrying): Promise<ConfigMapObject | null> {
    const prefetched = this.prefetched;
    if (prefetched !== undefined) {
      // Read before this transaction began: as good as a read now, since a write checks the
      // resourceVersion; a failed prefetch is simply read again.
      this.prefetched = undefined;
      const object = await prefetched.catch(() => undefined);
      if (object !== undefined) return object;
    }
    const request: ApiRequest = { verb: "get", path: this.path(), what: this.location };
    const response = await calls.send<ConfigMapObject>(request, (status) => status === 200 || status === 404);
    return response.status === 404 ? null : response.body;
  }

  private decode(object: ConfigMapObject): NodeState | null {
    const data = object.data ?? {};
    const config = data[configKey];
    if (config === undefined) return null;
    const tasks = data[tasksKey];
    if (this.lastSeen !== undefined && this.lastSeen.config === config && this.lastSeen.tasks === tasks) return this.lastSeen.state;
    const state = decodeConfigMap(object, this.location);
    if (state !== null) this.lastSeen = { config, tasks, state };
    return state;
  }

  // ---- Writing ------------------------------------------------------------------------------

  /** The data to store for `state`: the ConfigMap's other keys kept, ours replaced. */
  private dataOf(object: ConfigMapObject | null, state: NodeState): Record<string, string> {
    const { [tasksKey]: _oldTasks, ...others } = object?.data ?? {};
    const data: Record<string, string> = { ...others, [configKey]: emitYaml(poolDocument(state)) };
    if (state.tasks.size > 0) data[tasksKey] = encodeTaskDocument(state);
    return data;
  }

  /** Creates the object or replaces the version read; false when another writer came first. */
  private async write(read: ConfigMapObject | null, data: Record<string, string>, calls: Retrying): Promise<boolean> {
    let request: ApiRequest;
    if (read === null) {
      const body: ConfigMapObject = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: this.name, namespace: this.namespace }, data };
      request = { verb: "create", path: this.path(""), what: this.location, body };
    } else {
      const { [ownerAnnotation]: _owner, ...annotations } = read.metadata.annotations ?? {};
      const metadata = { ...read.metadata, annotations };
      const body: ConfigMapObject = { ...read, metadata, data };
      request = { verb: "update", path: this.path(), what: this.location, body };
    }
    // A create racing another create answers 409 AlreadyExists; an update of a changed object, 409 Conflict.
    const response = await calls.send(request, (status) => isSuccess(status) || status === 409);
    this.lastWritten = undefined;
    if (response.status === 409) return false;
    const written = response.body as ConfigMapObject;
    if (written.data?.[configKey] !== undefined) {
      this.decode(written);
      this.lastWritten = written;
    }
    return true;
  }

  /** The calls of one transaction, retried within one CMK_LOCK_TIMEOUT. */
  private transaction(): Retrying {
    return new Retrying(this.client, this.timeoutMs, this.now, this.observer);
  }

  private conflictTimeout(conflicts: number): CmkError {
    return new CmkError(
      "lock-timeout",
      `${this.location}: other writers changed it ${conflicts} times in a row within ${(this.timeoutMs / 1000).toFixed(1)} s; try again, or raise CMK_LOCK_TIMEOUT`,
      { location: this.location },
    );
  }

  private path(name: string = this.name): string {
    return `/api/v1/namespaces/${encodeURIComponent(this.namespace)}/configmaps${name === "" ? "" : `/${encodeURIComponent(name)}`}`;
  }
}

/** The state a ConfigMap holds (null when it has no `config`); errors name `location` and the key. */
export function decodeConfigMap(object: ConfigMapObject, location: string): NodeState | null {
  const data = object.data ?? {};
  const config = data[configKey];
  if (config === undefined) return null;
  const tasks = data[tasksKey];
  const pools = decodePoolDocument(config, `${location} data key ${configKey}`);
  const records = tasks === undefined ? new Map() : decodeTaskDocument(tasks, `${location} data key ${tasksKey}`);
  return { pools, tasks: records };
}

export interface NodeStateEntry {
  readonly nodeName: string;
  readonly location: string;
  /** The state, or the one-line reason it cannot be read. */
  readonly state: NodeState | null;
  readonly error?: string;
}

/** Every node's state in `namespace`: the ConfigMaps named cmk-config-<node>, listed a page at a time. */
export async function listNodeStates(calls: Retrying, namespace: string): Promise<NodeStateEntry[]> {
  const entries: NodeStateEntry[] = [];
  const prefix = configMapName("");
  let continueToken: string | undefined;
  do {
    const query = `limit=200${continueToken === undefined ? "" : `&continue=${encodeURIComponent(continueToken)}`}`;
    const response = await calls.send<{ items: ConfigMapObject[]; metadata?: { continue?: string } }>({
      verb: "list",
      path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps?${query}`,
      what: `configmaps in namespace ${namespace}`,
    });
    for (const object of response.body.items) {
      const name = object.metadata.name;
      if (!name.startsWith(prefix) || name.length === prefix.length) continue;
      const location = configMapLocation(namespace, name);
      try {
        const state = decodeConfigMap(object, location);
        if (state !== null) assertNoSharedCpus(state, location);
        entries.push({ nodeName: name.slice(prefix.length), location, state });
      } catch (error) {
        if (!(error instanceof CmkError)) throw error;
        entries.push({ nodeName: name.slice(prefix.length), location, state: null, error: error.message });
      }
    }
    continueToken = response.body.metadata?.continue || undefined;
  } while (continueToken !== undefined);
  return entries.sort((a, b) => a.nodeName.localeCompare(b.nodeName));
}
