// cmk reconfigure_setup: change pool sizes on chosen nodes while their workloads run, through what
// runs on each node. It writes each node a request (ConfigMap cmk-reconfigure-<node>, CMK 1.5's
// name) with the new carving; the node's agent answers it on its next reconcile pass, moving and
// re-pinning tasks as `cmk reconfigure` does; where no agent answers within --agent-wait, a pod on
// the node (host PID namespace, the node agent's account) runs `cmk reconfigure --from-request`,
// the same code. It then reports, per node, what was kept, moved or refused. Nothing is exec'd in
// workload containers (CMK exec'd reaffinitize in every container of every pod of the cluster).
import { randomUUID } from "node:crypto";
import type { KubeClient } from "../adapters/kubernetes/client.ts";
import type { Retrying } from "../adapters/kubernetes/retry.ts";
import { chosenNodes, createPodAnew, waitForNodes } from "../app/cluster.ts";
import type { Context } from "../app/context.ts";
import { apiCalls, kubeClient } from "../app/stores.ts";
import { cmkNodeLabel } from "../core/advertisement.ts";
import { reconfigurePod } from "../core/cluster/agent.ts";
import { type NodeProgress, type PodFacts, podSummary } from "../core/cluster/progress.ts";
import {
  decodeResult,
  encodeJson,
  type ReconfigureRequest,
  type ReconfigureResult,
  requestConfigMapName,
  requestKey,
  resultKey,
  resultLine,
} from "../core/cluster/reconfigure-request.ts";
import { describeRef, type ObjectRef } from "../core/cluster/resources.ts";
import { labelsOf, partOfLabel, partOfValue } from "../core/cluster/spec.ts";
import { CmkError } from "../core/errors.ts";
import type { JsonObject } from "../core/mutations.ts";
import { checkNamespace } from "./cluster-spec.ts";
import type { OptionsOf, reconfigureSetupFlags } from "./flags.ts";
import type { CommandResult } from "./table.ts";

type Options = OptionsOf<typeof reconfigureSetupFlags>;

const requestRef = (namespace: string, node: string): ObjectRef => ({ kind: "ConfigMap", name: requestConfigMapName(node), namespace });
const podRef = (namespace: string, node: string): ObjectRef => ({ kind: "Pod", name: requestConfigMapName(node), namespace });

/** CMK's CMK nodes: schedulable and labelled cmk.intel.com/cmk-node=true (discover's label). */
async function cmkNodes(calls: Retrying): Promise<string[]> {
  const { listObjects } = await import("../adapters/kubernetes/objects.ts");
  const nodes = await listObjects<{ metadata: { name: string }; spec?: { unschedulable?: boolean } }>(calls, "Node", { labelSelector: `${cmkNodeLabel}=true` });
  const names = nodes.filter((node) => node.spec?.unschedulable !== true).map((node) => node.metadata.name);
  if (names.length === 0)
    throw new CmkError("failure", `no cmk nodes (schedulable, labelled ${cmkNodeLabel}=true): run cmk cluster-init first, or name the nodes with --host-list`);
  return names.sort();
}

function requestOf(options: Options): ReconfigureRequest {
  return {
    id: randomUUID(),
    carving: {
      numExclusiveCores: options.numExclusiveCores,
      numSharedCores: options.numSharedCores,
      exclusiveMode: options.exclusiveMode.mode,
      sharedMode: options.sharedMode.mode,
      exclNonIsolcpus: options.exclNonIsolcpus,
    },
  };
}

/** Before any write: an existing request object of that name must be cmk's. */
async function refuseForeign(calls: Retrying, refs: readonly ObjectRef[]): Promise<void> {
  const { getObject } = await import("../adapters/kubernetes/objects.ts");
  for (const ref of refs) {
    const object = await getObject(calls, ref);
    if (object !== null && object.metadata.labels?.[partOfLabel] !== partOfValue) {
      throw new CmkError("conflict", `${describeRef(ref)} exists and is not cmk's (it lacks the label ${partOfLabel}=${partOfValue}); remove or rename it`);
    }
  }
}

async function writeRequests(calls: Retrying, namespace: string, nodes: readonly string[], request: ReconfigureRequest): Promise<void> {
  const { applyObject } = await import("../adapters/kubernetes/objects.ts");
  for (const node of nodes) {
    const ref = requestRef(namespace, node);
    const object: JsonObject = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: ref.name, namespace, labels: labelsOf("cmk-reconfigure") },
      data: { [requestKey]: encodeJson(request) },
    };
    await applyObject(calls, object);
  }
}

interface NodeWait {
  readonly node: string;
  /** When the agent's time to answer is up, on the context's clock. */
  readonly agentDeadline: number;
  podStarted: boolean;
}

/** One poll: the results so far (kept in `results`); a pod for each node whose agent's time is up. */
function poller(
  client: KubeClient,
  options: Options,
  request: ReconfigureRequest,
  waits: readonly NodeWait[],
  results: Map<string, ReconfigureResult>,
  context: Context,
): (calls: Retrying) => Promise<NodeProgress[]> {
  return async (calls) => {
    const { getObject } = await import("../adapters/kubernetes/objects.ts");
    return Promise.all(
      waits.map(async (wait): Promise<NodeProgress> => {
        const object = await getObject(calls, requestRef(options.namespace, wait.node));
        const result = decodeResult(((object?.["data"] ?? {}) as Record<string, string>)[resultKey]);
        if (result?.id === request.id) {
          results.set(wait.node, result);
          return { node: wait.node, done: true, line: resultLine(wait.node, result) };
        }
        if (!wait.podStarted && context.now() >= wait.agentDeadline) await startPod(await apiCalls(client, context), options, wait, context);
        const pod = wait.podStarted
          ? await getObject<{ metadata: { name: string }; status?: Omit<PodFacts, "name"> }>(calls, podRef(options.namespace, wait.node))
          : null;
        const waiting = wait.podStarted
          ? `no agent answered within ${options.agentWait} s; reconfigure ${podSummary(pod === null ? undefined : { name: pod.metadata.name, ...pod.status }, "pod")}`
          : "waiting for its agent to answer";
        return { node: wait.node, done: false, line: `${wait.node}: ${waiting}` };
      }),
    );
  };
}

/** The node's reconfigure pod, replacing one an earlier run left. */
async function startPod(calls: Retrying, options: Options, wait: NodeWait, context: Context): Promise<void> {
  const ref = podRef(options.namespace, wait.node);
  const parts = {
    namespace: options.namespace,
    image: options.cmkImg,
    pullPolicy: options.cmkImgPol,
    pullSecret: options.pullSecret,
    agentAccount: options.saname,
  };
  await createPodAnew(calls, reconfigurePod(parts, wait.node, ref.name));
  wait.podStarted = true;
  context.log.info(`${wait.node}: no agent answered within ${options.agentWait} s; started ${describeRef(ref)} to run cmk reconfigure --from-request`);
}

export async function run(options: Options, context: Context): Promise<CommandResult> {
  checkNamespace(options.namespace);
  const client = await kubeClient(options, context);
  try {
    const calls = await apiCalls(client, context);
    const nodes = options.hostList === undefined ? await cmkNodes(calls) : await chosenNodes(calls, { hostList: options.hostList, allHosts: false });
    await refuseForeign(
      calls,
      nodes.flatMap((node) => [requestRef(options.namespace, node), podRef(options.namespace, node)]),
    );
    const request = requestOf(options);
    await writeRequests(await apiCalls(client, context), options.namespace, nodes, request);
    context.log.info(`asked ${nodes.length} node(s) to reconfigure (request ${request.id}): ${nodes.join(", ")}`);
    const agentDeadline = context.now() + options.agentWait * 1000;
    const waits: NodeWait[] = nodes.map((node) => ({ node, agentDeadline, podStarted: false }));
    const results = new Map<string, ReconfigureResult>();
    const poll = poller(client, options, request, waits, results, context);
    await waitForNodes(client, { namespace: options.namespace, timeoutSeconds: options.timeout, what: "answered", poll }, context);
    const outcomes = [...results.values()].map((result) => result.outcome);
    return outcomes.includes("refused") ? "conflict" : outcomes.includes("failed") ? "affinity" : 0;
  } finally {
    client.close();
  }
}
