// What a cmk installation on a cluster is made of, as one value: the namespace, the image, which of
// CMK's node commands run, how nodes are carved, and the webhook's TLS. `cmk cluster-init` builds
// it from its flags, scripts/write-manifests.ts from the defaults, and every object cmk puts on a
// cluster (core/cluster/*.ts) is a pure function of it, so the files under deploy/ and what
// cluster-init applies cannot drift apart. The names and labels that prove an object is cmk's
// live here too: uninstall removes only objects that carry them.

/** CMK's node commands that cluster-init can run on each node (`--cmk-cmd-list`). */
export const nodeCommands = ["init", "discover", "install", "reconcile", "nodereport"] as const;
export type NodeCommand = (typeof nodeCommands)[number];
export const defaultNodeCommands: readonly NodeCommand[] = ["init", "reconcile", "install", "discover", "nodereport"];

export const pullPolicies = ["Never", "IfNotPresent", "Always"] as const;
export type PullPolicy = (typeof pullPolicies)[number];

/** The serving certificate of the webhook and the CA that signed it (the caBundle), PEM; the CA's key renews it. */
export interface WebhookTls {
  readonly caCert: string;
  readonly caKey: string;
  readonly cert: string;
  readonly key: string;
}

export interface ClusterSpec {
  readonly namespace: string;
  /** The image with cmk's installed tree in /opt/bin (cmk install). */
  readonly image: string;
  readonly pullPolicy: PullPolicy;
  readonly pullSecret: string | undefined;
  /** The host directory `cmk install` fills and workload containers mount read-only. */
  readonly installDir: string;
  /** The file store's host directory (CMK 1.4's --conf-dir); undefined: the ConfigMap store in the namespace. */
  readonly confDir: string | undefined;
  /** The node agent's service account (CMK's --saname). */
  readonly agentAccount: string;
  readonly commands: readonly NodeCommand[];
  /** `cmk init`'s carving flags, as text (--num-exclusive-cores=4, ...). */
  readonly carving: readonly string[];
  readonly noTaint: boolean;
  /** The agent also advertises cores through the kubelet's device-plugin API (cmk agent --device-plugin). */
  readonly devicePlugin: boolean;
  /** The webhook answers clients without a certificate (cmk webhook --insecure=true). */
  readonly insecure: boolean;
  /** The CA that signs the API server's client certificate for webhooks (PEM); undefined: the cluster CA (kube-root-ca.crt). */
  readonly clientCa: string | undefined;
  /** Undefined in the static files, whose users bring their own Secret and caBundle. */
  readonly tls: WebhookTls | undefined;
}

/** Where cmk lives when nobody says otherwise: a namespace of its own, which the webhook never sees. */
export const defaultClusterNamespace = "cmk";

/** Namespaces cmk may not be installed in: the webhook excludes its own namespace, and these hold the cluster's own pods or everyone's. */
export const reservedNamespaces = ["default", "kube-system", "kube-public", "kube-node-lease"] as const;

/** The label every object of cmk carries (and the value), and the one naming its component. */
export const partOfLabel = "app.kubernetes.io/part-of";
export const partOfValue = "cmk";
export const nameLabel = "app.kubernetes.io/name";

/** The label cluster-init puts on the nodes it sets up: the node agent's DaemonSet selects them. */
export const agentNodeLabel = "cmk.intel.com/agent";

/** Object names. */
export const names = {
  agent: "cmk-agent",
  webhook: "cmk-webhook",
  webhookTls: "cmk-webhook-tls",
  webhookClientCa: "cmk-webhook-client-ca",
  clusterInit: "cmk-cluster-init",
  nodeAgentRole: "cmk-node-agent",
  defaultAgentAccount: "cmk-node-agent",
} as const;

/** The group whose members may connect to the agent's socket (workload pods get it as a supplemental group). */
export const socketGroup = 7001;
/** Where the agent's socket lives on the host and in every container that talks to it. */
export const agentSocketDirectory = "/var/lib/cmk";
export const defaultInstallDir = "/opt/bin";
/** Port the webhook serves on in its pod, and the Service's. */
export const webhookPort = 8443;
export const agentMetricsPort = 9100;

/** The labels of a component's objects. */
export function labelsOf(component: string): Record<string, string> {
  return { [nameLabel]: component, [partOfLabel]: partOfValue };
}

/** The DNS names the webhook's certificate must carry: its Service, as the API server calls it (the first is its subject). */
export function webhookDnsNames(namespace: string): string[] {
  const service = names.webhook;
  return [`${service}.${namespace}.svc`, `${service}.${namespace}`, service];
}
