// The Node object as discover sees and changes it: read once, then only what differs is sent, as
// JSON merge patches: resources on the status subresource (capacity, and allocatable so that the
// scheduler counts them before a kubelet's next status update), the label on metadata, and the taint
// list, which a patch can only replace whole, guarded by the resourceVersion read so that a taint
// another controller added in between is never lost (the server answers 409 and we read again).
import { type NodeChanges, type NodeView, noChanges, type Taint } from "../../core/advertisement.ts";
import { CmkError } from "../../core/errors.ts";
import type { ApiRequest } from "./client.ts";
import type { Retrying } from "./retry.ts";

interface NodeObject {
  readonly metadata: { readonly name: string; readonly resourceVersion?: string; readonly labels?: Record<string, string> };
  readonly spec?: { readonly taints?: Taint[] };
  readonly status?: { readonly capacity?: Record<string, string>; readonly allocatable?: Record<string, string> };
}

const mergePatch = "application/merge-patch+json";

function nodePath(name: string): string {
  return `/api/v1/nodes/${encodeURIComponent(name)}`;
}

export interface NodeRead {
  readonly view: NodeView;
  readonly resourceVersion: string;
}

/** The Node named `name`, or null when the cluster has none by that name. */
export async function readNode(calls: Retrying, name: string): Promise<NodeRead | null> {
  const response = await calls.send<NodeObject>({ verb: "get", path: nodePath(name), what: `node ${name}` }, (status) => status === 200 || status === 404);
  if (response.status === 404) return null;
  const node = response.body;
  return {
    view: {
      labels: node.metadata.labels ?? {},
      taints: node.spec?.taints ?? [],
      capacity: node.status?.capacity ?? {},
      allocatable: node.status?.allocatable ?? {},
    },
    resourceVersion: node.metadata.resourceVersion ?? "",
  };
}

/** Sends the changes; false when the taint list changed since it was read (read again and retry). */
export async function applyNodeChanges(calls: Retrying, name: string, changes: NodeChanges, resourceVersion: string): Promise<boolean> {
  if (changes.resources !== undefined) {
    const request: ApiRequest = {
      verb: "patch",
      path: `${nodePath(name)}/status`,
      what: `node ${name} status`,
      contentType: mergePatch,
      body: { status: { capacity: changes.resources, allocatable: changes.resources } },
    };
    await calls.send(request);
  }
  if (changes.labels === undefined && changes.taints === undefined) return true;
  const metadata: Record<string, unknown> = {};
  if (changes.labels !== undefined) metadata["labels"] = changes.labels;
  if (changes.taints !== undefined) metadata["resourceVersion"] = resourceVersion;
  const body = changes.taints === undefined ? { metadata } : { metadata, spec: { taints: changes.taints } };
  const response = await calls.send(
    { verb: "patch", path: nodePath(name), what: `node ${name}`, contentType: mergePatch, body },
    (status) => (status >= 200 && status <= 299) || status === 409,
  );
  return response.status !== 409;
}

/**
 * Reads the Node, asks `plan` what to change and sends it, reading again when the taint list
 * changed meanwhile (within the calls' deadline). The changes sent (empty when none were needed),
 * or null when the cluster has no such node.
 */
export async function changeNode(calls: Retrying, name: string, plan: (view: NodeView) => NodeChanges): Promise<NodeChanges | null> {
  // The status patch changes the Node's resourceVersion, so a taint change sent after it is read again: what an earlier attempt sent counts.
  let resourcesSent: Readonly<Record<string, string | null>> | undefined;
  for (let attempt = 0; ; attempt++) {
    const node = await readNode(calls, name);
    if (node === null) return null;
    const changes = plan(node.view);
    if (changes.resources !== undefined) resourcesSent = { ...resourcesSent, ...changes.resources };
    const sent = resourcesSent === undefined ? changes : { ...changes, resources: resourcesSent };
    if (noChanges(changes) || (await applyNodeChanges(calls, name, changes, node.resourceVersion))) return sent;
    await calls.backOff(attempt, () => new CmkError("lock-timeout", `node ${name} kept changing while cmk changed its taints; try again`));
  }
}
