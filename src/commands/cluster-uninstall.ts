// cmk uninstall --cluster: take off a cluster what cmk cluster-init put there, and only that. An
// object goes only when its name is one cluster-init makes and it carries cmk's label (or, for the
// nodes' states and reports, when it is a cmk state or report in cmk's namespace); anything else
// by that name is left and named. Absent objects count as removed, so a second run, or one after a
// half-finished first, completes the job. While a node's state records tasks (workloads holding
// cores), nothing at all is removed unless --force: their agent and their state would go. The cmk
// the agents installed on each node goes too (unless --keep-installed): once the agent DaemonSet
// is deleted, a one-shot pod per node it ran on runs the node-local `cmk uninstall`
// (core/cluster/node-uninstall.ts); the rest is removed meanwhile, and the wait for those pods
// comes last, so nodes that do not finish (exit 12, each named) leave nothing else half-done.

import type { KubeClient } from "../adapters/kubernetes/client.ts";
import type { KubeObject } from "../adapters/kubernetes/objects.ts";
import type { Retrying } from "../adapters/kubernetes/retry.ts";
import { createPodAnew, waitForNodes } from "../app/cluster.ts";
import type { Context } from "../app/context.ts";
import { clusterManifests } from "../app/manifests.ts";
import { apiCalls, kubeClient } from "../app/stores.ts";
import { cmkNodeLabel, nodeWithdrawal } from "../core/advertisement.ts";
import { reportGroup, reportPlurals, reportVersion } from "../core/cluster/crds.ts";
import { type InstalledCmk, installedBy, uninstallComponent, uninstallPod, uninstallProgress } from "../core/cluster/node-uninstall.ts";
import type { PodFacts } from "../core/cluster/progress.ts";
import { describeRef, type ObjectRef, refOf } from "../core/cluster/resources.ts";
import { agentNodeLabel, labelsOf, names, partOfLabel, partOfValue } from "../core/cluster/spec.ts";
import { CmkError } from "../core/errors.ts";
import { allTaskIds, type NodeState } from "../core/node-state.ts";
import { checkNamespace, clusterSpec } from "./cluster-spec.ts";
import { clusterInitFlags, defaultsOf, type OptionsOf, type uninstallFlags } from "./flags.ts";

type Options = OptionsOf<typeof uninstallFlags>;

/** What cluster-init makes in `namespace` but the report definitions (removeDefinitions), last applied first: the agents and the webhook's registration before what they use. */
async function candidates(calls: Retrying, namespace: string): Promise<ObjectRef[]> {
  const { getObject } = await import("../adapters/kubernetes/objects.ts");
  // The node agent's account is whichever the binding of an earlier cluster-init names (--saname).
  const binding = await getObject(calls, { kind: "RoleBinding", name: names.nodeAgentRole, namespace });
  const account = (binding?.["subjects"] as { name?: string }[] | undefined)?.[0]?.name ?? names.defaultAgentAccount;
  const spec = clusterSpec({ ...defaultsOf(clusterInitFlags), namespace, saname: account });
  const refs = clusterManifests(spec)
    .map(refOf)
    .filter((ref) => ref.kind !== "CustomResourceDefinition")
    .reverse();
  return [...refs, { kind: "ConfigMap", name: names.webhookClientCa, namespace }, { kind: "Secret", name: names.webhookTls, namespace }];
}

export async function run(options: Options, context: Context): Promise<number> {
  checkNamespace(options.namespace);
  const client = await kubeClient(options, context);
  try {
    const namespace = options.namespace;
    const states = await nodeStates(await apiCalls(client, context), namespace);
    refuseWhileTasksRun(states, options.force);
    const calls = () => apiCalls(client, context);
    // Read before the DaemonSet and the nodes' labels go: what was installed, and on which nodes.
    const installed = options.keepInstalled ? undefined : await installedOnNodes(await calls(), namespace);
    const left = await removeObjects(await calls(), await candidates(await calls(), namespace), context);
    const started = installed === undefined ? [] : await startUninstallPods(await calls(), namespace, installed, context);
    await removeReports(await calls(), namespace, context);
    await withdrawNodes(await calls(), context);
    await removeStates(await calls(), namespace, states, context);
    await removeDefinitions(await calls(), context);
    context.log.info(
      `namespace ${namespace} is left in place (it may hold what is not cmk's): kubectl delete namespace ${namespace} once nothing else lives there`,
    );
    if (options.keepInstalled) context.log.info("the cmk the agents installed on the nodes is left in place (--keep-installed)");
    if (left.length > 0) context.log.warning(`left, not cmk's: ${left.join(", ")}`);
    // Also with --keep-installed, or no DaemonSet left: the pods of an earlier run that did not wait (--timeout=0) go.
    const unfinished = await waitForUninstallPods(client, options, installed?.installDir ?? "", started, context);
    if (unfinished !== undefined) throw unfinished;
    return 0;
  } finally {
    client.close();
  }
}

interface Installed extends InstalledCmk {
  /** The nodes the agent DaemonSet ran on (labelled cmk.intel.com/agent=true). */
  readonly nodes: readonly string[];
}

/** What the agents installed and where, from cmk's agent DaemonSet; undefined when there is none or it installs nothing. */
async function installedOnNodes(calls: Retrying, namespace: string): Promise<Installed | undefined> {
  const { getObject, listObjects } = await import("../adapters/kubernetes/objects.ts");
  const daemonSet = await getObject(calls, { kind: "DaemonSet", name: names.agent, namespace });
  const installed = daemonSet === null ? undefined : installedBy(daemonSet);
  if (installed === undefined) return undefined;
  const nodes = (await listObjects(calls, "Node", { labelSelector: `${agentNodeLabel}=true` })).map((node) => node.metadata.name).sort();
  return { ...installed, nodes };
}

async function startUninstallPods(calls: Retrying, namespace: string, installed: Installed, context: Context): Promise<string[]> {
  for (const node of installed.nodes) {
    const ref = await createPodAnew(calls, uninstallPod(installed, namespace, node));
    context.log.info(`${node}: started ${describeRef(ref)} to remove cmk from ${installed.installDir}`);
  }
  return [...installed.nodes];
}

/** Waits for the uninstall pods started on `nodes`, then deletes them (and any an earlier run left); the error naming the nodes that did not finish. */
async function waitForUninstallPods(
  client: KubeClient,
  options: Options,
  installDir: string,
  nodes: readonly string[],
  context: Context,
): Promise<CmkError | undefined> {
  const namespace = options.namespace;
  const selector = Object.entries(labelsOf(uninstallComponent))
    .map(([key, value]) => `${key}=${value}`)
    .join(",");
  const { deleteObject, listObjects } = await import("../adapters/kubernetes/objects.ts");
  const listPods = (calls: Retrying) =>
    listObjects<{ metadata: { name: string }; spec?: { nodeName?: string }; status?: Omit<PodFacts, "name"> }>(calls, "Pod", {
      namespace,
      labelSelector: selector,
    });
  let failure: CmkError | undefined;
  let failed: string[] = [];
  if (nodes.length > 0 && options.timeout > 0) {
    const poll = async (calls: Retrying) => {
      const podOf = new Map((await listPods(calls)).map((pod) => [pod.spec?.nodeName ?? "", { name: pod.metadata.name, ...pod.status }]));
      const progress = nodes.map((node) => uninstallProgress(node, installDir, podOf.get(node)));
      failed = progress.filter((entry) => entry.failed).map((entry) => entry.line);
      return progress;
    };
    try {
      await waitForNodes(client, { namespace, timeoutSeconds: options.timeout, what: "finished", poll }, context);
      if (failed.length > 0) failure = new CmkError("unfinished", `${failed.length} of ${nodes.length} node(s) failed: ${failed.join("; ")}`);
    } catch (error) {
      if (!(error instanceof CmkError && error.kind === "unfinished")) throw error;
      failure = error;
    }
  } else if (nodes.length > 0) {
    context.log.info(`not waiting (--timeout=0): the pods remove cmk from the nodes; a later cmk uninstall --cluster removes the pods`);
  }
  // Every pod of cmk's uninstall but those just started and not waited for.
  const keep = new Set(options.timeout > 0 ? [] : nodes);
  const calls = await apiCalls(client, context);
  for (const pod of await listPods(calls)) {
    const node = pod.spec?.nodeName ?? "";
    if (keep.has(node)) continue;
    const ref = { kind: "Pod", name: pod.metadata.name, namespace };
    // This run's pods go without a word (their nodes' lines said how they ended); an earlier run's are named.
    if ((await deleteObject(calls, ref, { gracePeriodSeconds: 0 })) && !nodes.includes(node)) context.log.info(`${describeRef(ref)}: removed`);
  }
  if (failure === undefined) return undefined;
  return new CmkError("unfinished", `${failure.message}; everything else was removed; on each node named, run cmk uninstall --install-dir=${installDir} there`);
}

interface StateEntry {
  readonly node: string;
  readonly state: NodeState | null;
  readonly error?: string;
}

async function nodeStates(calls: Retrying, namespace: string): Promise<StateEntry[]> {
  const { listNodeStates } = await import("../adapters/kubernetes/configmap-store.ts");
  return (await listNodeStates(calls, namespace)).map((entry) => ({
    node: entry.nodeName,
    state: entry.state,
    ...(entry.error === undefined ? {} : { error: entry.error }),
  }));
}

/** Who holds cores where, for the refusal: tasks and their pods. */
function holders(state: NodeState): string {
  const ids = [...allTaskIds(state)];
  const pods = ids.flatMap((id) => {
    const pod = state.tasks.get(id)?.pod;
    return pod === undefined ? [] : [`${pod.namespace}/${pod.name}`];
  });
  return `${ids.length} task(s)${pods.length > 0 ? ` (pods ${pods.slice(0, 5).join(", ")}${pods.length > 5 ? ", ..." : ""})` : ""}`;
}

function refuseWhileTasksRun(states: readonly StateEntry[], force: boolean): void {
  const busy = states.flatMap((entry) => {
    if (entry.state === null) return entry.error === undefined ? [] : [`${entry.node}: its state cannot be read (${entry.error})`];
    return allTaskIds(entry.state).size > 0 ? [`${entry.node} holds ${holders(entry.state)}`] : [];
  });
  if (busy.length > 0 && !force) {
    throw new CmkError(
      "conflict",
      `workloads hold cores, so nothing was removed: ${busy.join("; ")}; stop them (their agent and state would go), or give --force`,
    );
  }
}

const isCmks = (object: KubeObject): boolean => object.metadata.labels?.[partOfLabel] === partOfValue;

/** Deletes each object that is cmk's; returns those left because they are not. */
async function removeObjects(calls: Retrying, refs: readonly ObjectRef[], context: Context): Promise<string[]> {
  const { deleteObject, getObject } = await import("../adapters/kubernetes/objects.ts");
  const left: string[] = [];
  for (const ref of refs) {
    const object = await getObject(calls, ref);
    if (object === null) continue;
    if (!isCmks(object)) {
      left.push(describeRef(ref));
      continue;
    }
    if (await deleteObject(calls, ref)) context.log.info(`${describeRef(ref)}: removed`);
  }
  return left;
}

/** The nodes' published reports in cmk's namespace. */
async function removeReports(calls: Retrying, namespace: string, context: Context): Promise<void> {
  for (const plural of reportPlurals) {
    const reports = await listReports(calls, plural, namespace);
    for (const report of reports) {
      await calls.send(
        {
          verb: "delete",
          path: `/apis/${reportGroup}/${reportVersion}/namespaces/${namespace}/${plural}/${report}`,
          what: `${plural}.${reportGroup} ${namespace}/${report}`,
        },
        (status) => status < 300 || status === 404,
      );
    }
    if (reports.length > 0) context.log.info(`${reports.length} ${plural} in namespace ${namespace}: removed`);
  }
}

/** The names of the reports of a kind (in a namespace, or everywhere); none when the definition is gone. */
async function listReports(calls: Retrying, plural: string, namespace?: string): Promise<string[]> {
  const where = namespace === undefined ? "" : `/namespaces/${namespace}`;
  const response = await calls.send<{ items?: { metadata: { name: string; namespace?: string } }[] }>(
    {
      verb: "list",
      path: `/apis/${reportGroup}/${reportVersion}${where}/${plural}`,
      what: `${plural}.${reportGroup}${namespace === undefined ? "" : ` in namespace ${namespace}`}`,
    },
    (status) => status < 300 || status === 404,
  );
  return response.status === 404
    ? []
    : (response.body.items ?? []).map((item) => (namespace === undefined ? `${item.metadata.namespace}/${item.metadata.name}` : item.metadata.name));
}

/** cmk's marks on the nodes cluster-init chose: its label, discover's label and taint, the advertised cores. */
async function withdrawNodes(calls: Retrying, context: Context): Promise<void> {
  const [{ listObjects }, { changeNode }] = await Promise.all([import("../adapters/kubernetes/objects.ts"), import("../adapters/kubernetes/nodes.ts")]);
  for (const node of await listObjects(calls, "Node", { labelSelector: `${agentNodeLabel}=true` })) {
    const changes = await changeNode(calls, node.metadata.name, (view) => nodeWithdrawal(view, [agentNodeLabel, cmkNodeLabel]));
    if (changes === null) continue;
    const removed = [
      ...Object.keys(changes.labels ?? {}).map((label) => `label ${label}`),
      ...(changes.taints === undefined ? [] : ["taint cmk"]),
      ...Object.keys(changes.resources ?? {}),
    ];
    context.log.info(`node ${node.metadata.name}: removed ${removed.join(", ")}`);
  }
}

/** The nodes' states (cmk-config-<node>) and reconfigure requests: CMK's ConfigMaps in cmk's namespace. */
async function removeStates(calls: Retrying, namespace: string, states: readonly StateEntry[], context: Context): Promise<void> {
  const [{ deleteObject, listObjects }, { configMapName }] = await Promise.all([
    import("../adapters/kubernetes/objects.ts"),
    import("../adapters/kubernetes/names.ts"),
  ]);
  const requests = (await listObjects(calls, "ConfigMap", { namespace }))
    .map((object) => object.metadata.name)
    .filter((name) => name.startsWith("cmk-reconfigure-"));
  for (const name of [...states.map((entry) => configMapName(entry.node)), ...requests]) {
    if (await deleteObject(calls, { kind: "ConfigMap", name, namespace })) context.log.info(`configmap ${namespace}/${name}: removed`);
  }
}

/** The report definitions, once no namespace holds reports (another cmk, or reports kept on purpose, would lose theirs). */
async function removeDefinitions(calls: Retrying, context: Context): Promise<void> {
  const { deleteObject, getObject } = await import("../adapters/kubernetes/objects.ts");
  for (const plural of reportPlurals) {
    const ref = { kind: "CustomResourceDefinition", name: `${plural}.${reportGroup}` };
    const definition = await getObject(calls, ref);
    if (definition === null || !isCmks(definition)) continue;
    const remaining = await listReports(calls, plural);
    if (remaining.length > 0) {
      context.log.warning(`${describeRef(ref)} is kept: ${remaining.length} report(s) remain (${remaining.slice(0, 3).join(", ")})`);
      continue;
    }
    if (await deleteObject(calls, ref)) context.log.info(`${describeRef(ref)}: removed`);
  }
}
