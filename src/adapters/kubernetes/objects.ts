// Whole objects the Kubernetes way, for cluster-init, uninstall and reconfigure_setup: server-side
// apply (a PATCH of type application/apply-patch+yaml under the field manager `cmk`, so the API
// server merges, tracks who owns which field, and changes nothing when nothing differs), reads that
// take 404 for "absent", deletes that take 404 for "already done", and lists by label. Every call
// is retried within the command's deadline (retry.ts) and fails as one line naming the object.

import { collectionPath, describeRef, type ObjectRef, objectPath, refOf } from "../../core/cluster/resources.ts";
import { type Json, type JsonObject, jsonEqual } from "../../core/mutations.ts";
import type { Retrying } from "./retry.ts";

/** The field manager of everything cmk applies: `kubectl get -o yaml --show-managed-fields` names it. */
export const fieldManager = "cmk";

export interface ObjectMeta {
  readonly name: string;
  readonly namespace?: string;
  readonly resourceVersion?: string;
  readonly uid?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly deletionTimestamp?: string;
  readonly managedFields?: readonly { readonly manager?: string; readonly operation?: string; readonly time?: string }[];
}

export interface KubeObject {
  readonly metadata: ObjectMeta;
  readonly [key: string]: unknown;
}

/** What reads and lists return: an object with metadata, typed as far as the caller looks. */
type Typed = { readonly metadata: ObjectMeta };

const okOrAbsent = (status: number): boolean => (status >= 200 && status <= 299) || status === 404;

/** The object, or null when the cluster has none by that name. */
export async function getObject<T extends Typed = KubeObject>(calls: Retrying, ref: ObjectRef): Promise<T | null> {
  const response = await calls.send<T>({ verb: "get", path: objectPath(ref), what: describeRef(ref) }, okOrAbsent);
  return response.status === 404 ? null : response.body;
}

/**
 * Server-side apply: creates the object or brings the fields cmk manages to `object`, taking over
 * fields another manager set (`force`; callers apply only objects they proved are cmk's). With
 * `dryRun`, the server checks and answers as if, and stores nothing.
 */
export async function applyObject(calls: Retrying, object: JsonObject, options: { readonly dryRun?: boolean } = {}): Promise<KubeObject> {
  const ref = refOf(object);
  const query = `fieldManager=${fieldManager}&force=true${options.dryRun === true ? "&dryRun=All" : ""}`;
  const response = await calls.send<KubeObject>({
    verb: "patch",
    path: `${objectPath(ref)}?${query}`,
    what: describeRef(ref),
    contentType: "application/apply-patch+yaml",
    body: JSON.stringify(object),
  });
  return response.body;
}

/** The object as its writers wrote it: without what the server keeps (resourceVersion, managedFields, generation) and the status its controllers write. */
function content(object: KubeObject): Json {
  const { status: _status, metadata, ...rest } = object;
  const { resourceVersion: _version, managedFields: _fields, generation: _generation, ...identity } = metadata as ObjectMeta & { generation?: number };
  return { ...rest, metadata: identity } as Json;
}

/**
 * Whether two reads of an object hold the same content. A new resourceVersion alone may be a
 * controller's status write, or the server re-recording who manages which field (it does so once
 * after a field manager of the status appears, for an object that kubectl applied first).
 */
export function sameContent(a: KubeObject, b: KubeObject): boolean {
  return jsonEqual(content(a), content(b));
}

/** Deletes the object (its dependents in the background); false when it was already gone. */
export async function deleteObject(calls: Retrying, ref: ObjectRef, options: { readonly gracePeriodSeconds?: number } = {}): Promise<boolean> {
  const grace = options.gracePeriodSeconds === undefined ? "" : `&gracePeriodSeconds=${options.gracePeriodSeconds}`;
  const response = await calls.send({ verb: "delete", path: `${objectPath(ref)}?propagationPolicy=Background${grace}`, what: describeRef(ref) }, okOrAbsent);
  return response.status !== 404;
}

/** Every object of a kind (in a namespace, when given) whose labels match the selector, a page at a time. */
export async function listObjects<T extends Typed = KubeObject>(
  calls: Retrying,
  kind: string,
  options: { readonly namespace?: string; readonly labelSelector?: string; readonly fieldSelector?: string } = {},
): Promise<T[]> {
  const items: T[] = [];
  const what = `${kind.toLowerCase()}s${options.namespace === undefined ? "" : ` in namespace ${options.namespace}`}`;
  let continueToken: string | undefined;
  do {
    const query = new URLSearchParams({ limit: "500" });
    if (options.labelSelector !== undefined) query.set("labelSelector", options.labelSelector);
    if (options.fieldSelector !== undefined) query.set("fieldSelector", options.fieldSelector);
    if (continueToken !== undefined) query.set("continue", continueToken);
    const response = await calls.send<{ items: T[]; metadata?: { continue?: string } }>({
      verb: "list",
      path: `${collectionPath(kind, options.namespace)}?${query}`,
      what,
    });
    items.push(...response.body.items);
    continueToken = response.body.metadata?.continue || undefined;
  } while (continueToken !== undefined);
  return items;
}

/** A JSON merge patch (null removes a key), e.g. a Node's labels or status. */
export async function mergePatch(calls: Retrying, ref: ObjectRef, patch: JsonObject, subresource = ""): Promise<KubeObject> {
  const response = await calls.send<KubeObject>({
    verb: "patch",
    path: `${objectPath(ref)}${subresource === "" ? "" : `/${subresource}`}`,
    what: `${describeRef(ref)}${subresource === "" ? "" : ` ${subresource}`}`,
    contentType: "application/merge-patch+json",
    body: patch,
  });
  return response.body;
}

/** Creates an object with POST (an existing one is a conflict the caller sees as an ApiError). */
export async function createObject(calls: Retrying, object: JsonObject): Promise<KubeObject> {
  const ref = refOf(object);
  const response = await calls.send<KubeObject>({ verb: "create", path: collectionPath(ref.kind, ref.namespace), what: describeRef(ref), body: object });
  return response.body;
}

/** Replaces the object (PUT) as read, so the server refuses it (409) when someone changed it since: false then. */
export async function replaceObject(calls: Retrying, object: KubeObject): Promise<boolean> {
  const ref = refOf(object as unknown as JsonObject);
  const response = await calls.send(
    { verb: "update", path: objectPath(ref), what: describeRef(ref), body: object },
    (status) => (status >= 200 && status <= 299) || status === 409,
  );
  return response.status !== 409;
}
