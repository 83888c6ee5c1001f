// What cluster-init and reconfigure_setup share on a cluster: which nodes the flags choose (checked
// before anything is written), and the wait for those nodes, polling what the nodes themselves
// write (their state, the Node's advertised cores) and what their agent pods are doing, printing a
// line per node whenever it changes, and ending with the nodes that did not finish and why.
import type { KubeClient } from "../adapters/kubernetes/client.ts";
import type { Retrying } from "../adapters/kubernetes/retry.ts";
import { exclusiveCoresResource } from "../core/advertisement.ts";
import type { NodeFacts, NodeProgress, PodFacts } from "../core/cluster/progress.ts";
import { type ObjectRef, refOf } from "../core/cluster/resources.ts";
import { names } from "../core/cluster/spec.ts";
import { CmkError, usageError } from "../core/errors.ts";
import type { JsonObject } from "../core/mutations.ts";
import type { Context } from "./context.ts";
import { apiCalls } from "./stores.ts";

interface NodeObject {
  readonly metadata: { readonly name: string; readonly labels?: Readonly<Record<string, string>> };
  readonly spec?: { readonly unschedulable?: boolean };
  readonly status?: { readonly capacity?: Readonly<Record<string, string>> };
}

/** The nodes of --host-list (each must exist) or --all-hosts (every schedulable one); a usage error otherwise, before any write. */
export async function chosenNodes(
  calls: Retrying,
  selection: { readonly hostList: readonly string[] | undefined; readonly allHosts: boolean },
): Promise<string[]> {
  const { getObject, listObjects } = await import("../adapters/kubernetes/objects.ts");
  if (selection.allHosts) {
    const nodes = (await listObjects<NodeObject>(calls, "Node")).filter((node) => node.spec?.unschedulable !== true).map((node) => node.metadata.name);
    if (nodes.length === 0) throw new CmkError("failure", "the cluster has no schedulable node (--all-hosts chose none); check kubectl get nodes");
    return nodes.sort();
  }
  const listed = selection.hostList ?? [];
  const found = await Promise.all(listed.map((name) => getObject(calls, { kind: "Node", name })));
  const missing = listed.filter((_, index) => found[index] === null);
  if (missing.length > 0)
    throw usageError(
      `--host-list names ${missing.length === 1 ? "a node" : "nodes"} the cluster does not have: ${missing.join(", ")} (kubectl get nodes lists them)`,
    );
  return [...listed];
}

/** Exactly one of --host-list and --all-hosts, as CMK required. */
export function requireNodeSelection(selection: { readonly hostList: readonly string[] | undefined; readonly allHosts: boolean }): void {
  if ((selection.hostList === undefined) === !selection.allHosts) {
    throw usageError(selection.allHosts ? "give --host-list or --all-hosts, not both" : "choose the nodes: --host-list=<node>,<node>... or --all-hosts");
  }
}

export interface WaitPlan {
  readonly namespace: string;
  readonly timeoutSeconds: number;
  /** Each node's progress now (reading what it needs with `calls`, one batch per poll). */
  readonly poll: (calls: Retrying) => Promise<NodeProgress[]>;
  /** What the finish line calls the work ("initialised", "answered"). */
  readonly what: string;
}

const pollMs = 2000;

/** What each node shows now: its state, its Node's advertised cores, its agent pod. */
export async function readNodeFacts(calls: Retrying, namespace: string, nodes: readonly string[], readStates: boolean): Promise<NodeFacts[]> {
  const [{ listObjects }, { listNodeStates }] = await Promise.all([
    import("../adapters/kubernetes/objects.ts"),
    import("../adapters/kubernetes/configmap-store.ts"),
  ]);
  const wanted = new Set(nodes);
  const [states, nodeObjects, pods] = await Promise.all([
    readStates ? listNodeStates(calls, namespace) : Promise.resolve([]),
    listObjects<NodeObject>(calls, "Node"),
    listObjects<{ metadata: { name: string }; spec?: { nodeName?: string }; status?: Omit<PodFacts, "name"> }>(calls, "Pod", {
      namespace,
      labelSelector: `app.kubernetes.io/name=${names.agent}`,
    }),
  ]);
  const stateOf = new Map(states.map((entry) => [entry.nodeName, entry.state ?? entry.error]));
  const advertisedOf = new Map(
    nodeObjects.filter((node) => wanted.has(node.metadata.name)).map((node) => [node.metadata.name, node.status?.capacity?.[exclusiveCoresResource]]),
  );
  const podOf = new Map(pods.map((pod) => [pod.spec?.nodeName ?? "", { name: pod.metadata.name, ...pod.status }]));
  return nodes.map((node) => ({ node, state: stateOf.get(node) ?? undefined, advertised: advertisedOf.get(node), pod: podOf.get(node) }));
}

function sleep(ms: number, stop: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    stop.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

/** Polls until every node is done, logging each node's line when it changes; "unfinished" names the others when the time is up. The last progress. */
export async function waitForNodes(client: KubeClient, plan: WaitPlan, context: Context): Promise<NodeProgress[]> {
  if (plan.timeoutSeconds <= 0) {
    context.log.info(`not waiting for the nodes (--timeout=0); follow them with kubectl -n ${plan.namespace} get pods,configmaps`);
    return [];
  }
  const deadline = context.now() + plan.timeoutSeconds * 1000;
  const stop = context.stopSignal();
  const shown = new Map<string, string>();
  for (;;) {
    const calls = await apiCalls(client, context);
    const progress = await plan.poll(calls);
    for (const entry of progress) {
      if (shown.get(entry.node) !== entry.line) context.log.info(entry.line);
      shown.set(entry.node, entry.line);
    }
    const pending = progress.filter((entry) => !entry.done);
    if (pending.length === 0) {
      context.log.info(`all ${progress.length} node(s) ${plan.what}`);
      return progress;
    }
    if (context.now() >= deadline || stop.aborted)
      throw unfinished(pending, progress.length, stop.aborted ? "before it was stopped" : `within ${plan.timeoutSeconds} s`);
    await sleep(Math.min(pollMs, deadline - context.now()), stop);
  }
}

function unfinished(pending: readonly NodeProgress[], total: number, when: string): CmkError {
  const why = pending.map((entry) => entry.line).join("; ");
  return new CmkError("unfinished", `${pending.length} of ${total} node(s) did not finish ${when}: ${why}`);
}

/** Creates a one-shot pod of cmk's, replacing one an earlier run left (a pod cannot be changed once made). */
export async function createPodAnew(calls: Retrying, pod: JsonObject): Promise<ObjectRef> {
  const { createObject, deleteObject } = await import("../adapters/kubernetes/objects.ts");
  const ref = refOf(pod);
  await deleteObject(calls, ref, { gracePeriodSeconds: 0 });
  for (let attempt = 0; ; attempt++) {
    try {
      await createObject(calls, pod);
      return ref;
    } catch (error) {
      // The one deleted may still be going.
      if (!(error instanceof CmkError && /HTTP 409/.test(error.message))) throw error;
      await calls.backOff(attempt, () => error);
    }
  }
}
