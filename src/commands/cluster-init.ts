// cmk cluster-init: put cmk on chosen nodes of a cluster, the Kubernetes way. Checks every flag
// and that the nodes exist and that no object it would write belongs to someone else, before any
// write; then server-side applies the report definitions, the accounts and their roles, the
// webhook (with a CA and serving certificate of its own, kept across runs and renewed before they
// expire) and the node agent's DaemonSet, labels the nodes the DaemonSet selects, and waits for
// each node to be initialised, printing its progress. Running it again changes nothing.
// --dry-run prints the objects instead and contacts no cluster.
import { readFileSync } from "node:fs";
import type { KubeClient } from "../adapters/kubernetes/client.ts";
import { type KubeObject, sameContent } from "../adapters/kubernetes/objects.ts";
import type { Retrying } from "../adapters/kubernetes/retry.ts";
import type { Issued } from "../adapters/x509.ts";
import { chosenNodes, readNodeFacts, requireNodeSelection, waitForNodes } from "../app/cluster.ts";
import type { Context } from "../app/context.ts";
import { clusterManifests, dryRunText } from "../app/manifests.ts";
import { apiCalls, kubeClient } from "../app/stores.ts";
import { nodeProgress } from "../core/cluster/progress.ts";
import { describeRef, type ObjectRef, refOf } from "../core/cluster/resources.ts";
import { agentNodeLabel, type ClusterSpec, names, partOfLabel, partOfValue, type WebhookTls, webhookDnsNames } from "../core/cluster/spec.ts";
import { CmkError, describeCause, usageError } from "../core/errors.ts";
import type { JsonObject } from "../core/mutations.ts";
import { type ClusterInitOptions, clusterSpec } from "./cluster-spec.ts";
import type { CommandResult } from "./table.ts";

/** Renew the serving certificate when it has fewer days than this left. */
const renewalMarginDays = 30;

function readClientCa(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw usageError(`--cafile=${file} cannot be read: ${describeCause(error)}`);
  }
  if (!text.includes("-----BEGIN CERTIFICATE-----"))
    throw usageError(`--cafile=${file} holds no PEM certificate; give the CA that signs the API server's client certificate for webhooks`);
  return text;
}

export async function run(options: ClusterInitOptions, context: Context): Promise<CommandResult> {
  requireNodeSelection(options);
  const base = clusterSpec(options, options.cafile === undefined ? {} : { clientCa: readClientCa(options.cafile) });
  const { issueWebhookCertificates } = await import("../adapters/x509.ts");
  if (options.dryRun) {
    const tls = issueWebhookCertificates(`${names.webhook}-ca`, webhookDnsNames(base.namespace));
    context.stdout(dryRunText({ ...base, tls }, options.allHosts ? "every schedulable node" : (options.hostList ?? []).join(", ")));
    return 0;
  }
  const client = await kubeClient(options, context);
  try {
    const nodes = await chosenNodes(await apiCalls(client, context), options);
    const spec = await install(client, base, nodes, context);
    await waitForInit(client, spec, nodes, options.timeout, context);
    return 0;
  } finally {
    client.close();
  }
}

/** Everything after the checks: the namespace, the objects, the nodes' label. The spec as applied (with the webhook's certificate). */
async function install(client: KubeClient, base: ClusterSpec, nodes: readonly string[], context: Context): Promise<ClusterSpec> {
  const calls = await apiCalls(client, context);
  const existing = await readOwnObjects(calls, base);
  const spec: ClusterSpec = { ...base, tls: await webhookTls(existing.get(describeRef(tlsSecretRef(base))), base.namespace, context) };
  await ensureNamespace(calls, spec, context);
  await applyAll(await apiCalls(client, context), spec, existing, context);
  await labelNodes(await apiCalls(client, context), nodes, context);
  return spec;
}

/** Waits for each node's state (the ConfigMap store) and advertised cores (when discover runs), printing its progress. */
async function waitForInit(client: KubeClient, spec: ClusterSpec, nodes: readonly string[], timeoutSeconds: number, context: Context): Promise<void> {
  const expect = { stateVisible: spec.confDir === undefined, advertises: spec.commands.includes("discover") };
  if (!expect.stateVisible && !expect.advertises) {
    context.log.info("not waiting for the nodes: with --conf-dir and without discover, nothing they do shows in the cluster");
    return;
  }
  const poll = async (calls: Retrying) => (await readNodeFacts(calls, spec.namespace, nodes, expect.stateVisible)).map((facts) => nodeProgress(facts, expect));
  await waitForNodes(client, { namespace: spec.namespace, timeoutSeconds, what: "initialised", poll }, context);
}

// ---- Before any write: whose objects are these? ------------------------------------------------

const tlsSecretRef = (spec: ClusterSpec): ObjectRef => ({ kind: "Secret", name: names.webhookTls, namespace: spec.namespace });

/** Where an existing cluster-scoped object of cmk's says cmk lives. */
function namespaceOf(object: KubeObject): string | undefined {
  const subjects = object["subjects"] as { namespace?: string }[] | undefined;
  const webhooks = object["webhooks"] as { clientConfig?: { service?: { namespace?: string } } }[] | undefined;
  return subjects?.[0]?.namespace ?? webhooks?.[0]?.clientConfig?.service?.namespace;
}

/** The objects cluster-init would write that exist, by name; refuses any that is not cmk's, or cmk's of another namespace. */
async function readOwnObjects(calls: Retrying, spec: ClusterSpec): Promise<Map<string, KubeObject>> {
  const { getObject } = await import("../adapters/kubernetes/objects.ts");
  const refs: ObjectRef[] = [...clusterManifests(spec).map(refOf), tlsSecretRef(spec)];
  const found = await Promise.all(refs.map((ref) => getObject(calls, ref)));
  const existing = new Map<string, KubeObject>();
  refs.forEach((ref, index) => {
    const object = found[index];
    if (object === null || object === undefined) return;
    if (object.metadata.labels?.[partOfLabel] !== partOfValue) {
      throw new CmkError(
        "conflict",
        `${describeRef(ref)} exists and is not cmk's (it lacks the label ${partOfLabel}=${partOfValue}); cluster-init changes only its own objects: remove or rename it, or choose another --namespace`,
      );
    }
    const elsewhere = ref.namespace === undefined ? namespaceOf(object) : undefined;
    if (elsewhere !== undefined && elsewhere !== spec.namespace) {
      throw new CmkError(
        "conflict",
        `cmk is already set up in namespace ${elsewhere} (${describeRef(ref)} names it); use --namespace=${elsewhere}, or cmk uninstall --cluster --namespace=${elsewhere} first`,
      );
    }
    existing.set(describeRef(ref), object);
  });
  return existing;
}

// ---- The webhook's certificate -----------------------------------------------------------------

function decodeSecret(secret: KubeObject | undefined): { [K in keyof Issued]: string | undefined } {
  const data = (secret?.["data"] ?? {}) as Record<string, string>;
  const text = (key: string): string | undefined => (data[key] === undefined ? undefined : Buffer.from(data[key], "base64").toString("utf8"));
  return { caCert: text("ca.crt"), caKey: text("ca.key"), cert: text("tls.crt"), key: text("tls.key") };
}

/** The Secret's certificate when it still serves; else a new one from its CA when that is still good; else a new CA too. */
async function webhookTls(secret: KubeObject | undefined, namespace: string, context: Context): Promise<WebhookTls> {
  const { caUsable, issueServing, issueWebhookCertificates, unusableBecause } = await import("../adapters/x509.ts");
  const dnsNames = webhookDnsNames(namespace);
  const { caCert, caKey, cert, key } = decodeSecret(secret);
  if (caCert !== undefined && caKey !== undefined && cert !== undefined && key !== undefined) {
    const why = unusableBecause({ cert, key }, caCert, dnsNames, renewalMarginDays);
    if (why === undefined) return { caCert, caKey, cert, key };
    if (caUsable(caCert, caKey, renewalMarginDays)) {
      context.log.info(`renewing the webhook's serving certificate, signed by the same CA: ${why}`);
      return { caCert, caKey, ...issueServing({ caCert, caKey }, dnsNames) };
    }
    context.log.info(`making the webhook a new CA and serving certificate: ${why}`);
  }
  const issued = issueWebhookCertificates(`${names.webhook}-ca`, dnsNames);
  return { caCert: issued.caCert, caKey: issued.caKey, cert: issued.cert, key: issued.key };
}

// ---- Writing -----------------------------------------------------------------------------------

/** The namespace must exist first; cluster-init makes it only when it may (an administrator's run). */
async function ensureNamespace(calls: Retrying, spec: ClusterSpec, context: Context): Promise<void> {
  const { createObject, getObject } = await import("../adapters/kubernetes/objects.ts");
  if ((await getObject(calls, { kind: "Namespace", name: spec.namespace })) !== null) return;
  const { namespaceObject } = await import("../core/cluster/manifests.ts");
  await createObject(calls, namespaceObject(spec));
  context.log.info(`namespace ${spec.namespace}: created`);
}

async function applyAll(calls: Retrying, spec: ClusterSpec, existing: ReadonlyMap<string, KubeObject>, context: Context): Promise<void> {
  const { applyObject } = await import("../adapters/kubernetes/objects.ts");
  const counts = { created: 0, changed: 0, unchanged: 0 };
  for (const object of clusterManifests(spec)) {
    const ref = refOf(object);
    const before = existing.get(describeRef(ref));
    const after = await applyObject(calls, object);
    const outcome = before === undefined ? "created" : sameContent(before, after) ? "unchanged" : "changed";
    counts[outcome]++;
    (outcome === "unchanged" ? context.log.debug : context.log.info)(`${describeRef(ref)}: ${outcome}`);
  }
  context.log.info(
    `applied ${Object.values(counts).reduce((a, b) => a + b)} objects: ${counts.created} created, ${counts.changed} changed, ${counts.unchanged} unchanged`,
  );
}

/** Labels the chosen nodes for the agent's DaemonSet; says which nodes an earlier run chose that this one does not. */
async function labelNodes(calls: Retrying, nodes: readonly string[], context: Context): Promise<void> {
  const { listObjects, mergePatch } = await import("../adapters/kubernetes/objects.ts");
  const labelled = new Set((await listObjects(calls, "Node", { labelSelector: `${agentNodeLabel}=true` })).map((node) => node.metadata.name));
  for (const node of nodes) {
    if (labelled.has(node)) continue;
    await mergePatch(calls, { kind: "Node", name: node }, { metadata: { labels: { [agentNodeLabel]: "true" } } } as JsonObject);
    context.log.info(`node ${node}: labelled ${agentNodeLabel}=true`);
  }
  const others = [...labelled].filter((node) => !nodes.includes(node));
  if (others.length > 0)
    context.log.warning(
      `node(s) ${others.join(", ")} keep cmk from an earlier cluster-init (labelled ${agentNodeLabel}=true); remove the label to take cmk off them`,
    );
}
