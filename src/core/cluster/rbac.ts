// Who may do what: one service account per part of cmk, each with the rights its work needs and
// nothing more, namespaced Roles wherever the objects are namespaced and a ClusterRole only for
// cluster-scoped ones. The node agent changes its node's state and the Node's advertisement; the
// webhook has no role at all (it answers the API server and reads nothing); cluster-init may
// create, change and delete exactly the objects it makes (by name, where the API checks names) and
// must itself hold every right it grants the node agent, as Kubernetes requires of whoever writes
// a Role. Workload pods get no account of cmk's.
import type { JsonObject } from "../mutations.ts";
import { reportGroup, reportPlurals } from "./crds.ts";
import { nodeAgentPolicy } from "./policy.ts";
import { type ClusterSpec, labelsOf, names } from "./spec.ts";

export interface Rule {
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly verbs: readonly string[];
  readonly resourceNames?: readonly string[];
}

const rule = (apiGroups: readonly string[], resources: readonly string[], verbs: readonly string[], resourceNames?: readonly string[]): Rule =>
  resourceNames === undefined ? { apiGroups, resources, verbs } : { apiGroups, resources, verbs, resourceNames };

/** In cmk's namespace: the node's state (cmk-config-<node>, cmk-reconfigure-<node>) and its reports. */
export const nodeAgentRules: readonly Rule[] = [
  rule([""], ["configmaps"], ["get", "create", "update"]),
  rule([reportGroup], reportPlurals, ["get", "create", "update"]),
  rule(
    [reportGroup],
    reportPlurals.map((plural) => `${plural}/status`),
    ["update"],
  ),
];

/** Cluster-wide: discover reads the Node and patches its label, taint and extended resources. */
export const nodeAgentClusterRules: readonly Rule[] = [rule([""], ["nodes"], ["get", "patch"]), rule([""], ["nodes/status"], ["patch"])];

/** Verbs on objects cluster-init names. Create is limited by name too: server-side apply creates with a PATCH that names the object (a POST names none, and would be refused). */
const manage = ["get", "create", "patch", "delete"];

/** In cmk's namespace: the objects it makes, by name; the node states and agent pods it watches; reconfigure requests and pods. */
export function clusterInitRules(spec: ClusterSpec): Rule[] {
  const accounts = [spec.agentAccount, names.webhook];
  return [
    rule([""], ["serviceaccounts"], manage, accounts),
    rule([""], ["secrets"], manage, [names.webhookTls]),
    rule([""], ["services"], manage, [names.webhook]),
    // The webhook's configuration, the node states (uninstall removes them) and reconfigure requests (cmk-reconfigure-<node>);
    // create, update and get as the node agent has them.
    rule([""], ["configmaps"], ["get", "list", "create", "patch", "update", "delete"]),
    // Progress: which agent pod runs where, and why it does not; reconfigure_setup's pod on a node whose agent does not answer
    // (it runs as the node agent, whose rights cluster-init holds anyway), and uninstall --cluster's pod on each node (no token;
    // the agents' image and install directory, read from their DaemonSet). Both are named after a node and found by label, and
    // RBAC limits create by neither; no exec, attach or logs.
    rule([""], ["pods"], ["get", "list", "create", "delete"]),
    rule(["apps"], ["daemonsets"], manage, [names.agent]),
    rule(["apps"], ["deployments"], manage, [names.webhook]),
    rule(["policy"], ["poddisruptionbudgets"], manage, [names.webhook]),
    rule(["rbac.authorization.k8s.io"], ["roles", "rolebindings"], manage, [names.nodeAgentRole]),
    // The node agent's rights, which whoever writes its Role must hold; list and delete for uninstall.
    rule([reportGroup], reportPlurals, ["get", "list", "create", "update", "delete"]),
    ...nodeAgentRules.slice(2),
  ];
}

/** Cluster-wide: the CRDs, the webhook's registration and the node agent's ClusterRole, by name; Nodes (its label, and uninstall's clean-up). */
export function clusterInitClusterRules(spec: ClusterSpec): Rule[] {
  return [
    rule([""], ["nodes"], ["get", "list", "patch"]),
    rule([""], ["nodes/status"], ["patch"]),
    rule([""], ["namespaces"], ["get"], [spec.namespace]),
    rule(
      ["apiextensions.k8s.io"],
      ["customresourcedefinitions"],
      manage,
      reportPlurals.map((plural) => `${plural}.${reportGroup}`),
    ),
    rule(["admissionregistration.k8s.io"], ["mutatingwebhookconfigurations"], manage, [names.webhook]),
    rule(["rbac.authorization.k8s.io"], ["clusterroles", "clusterrolebindings"], manage, [names.nodeAgentRole]),
    rule(["admissionregistration.k8s.io"], ["validatingadmissionpolicies", "validatingadmissionpolicybindings"], manage, [`${names.nodeAgentRole}-own-node`]),
    // Uninstall removes the definitions only when no namespace holds reports any more.
    rule([reportGroup], reportPlurals, ["list"]),
  ];
}

export function serviceAccount(spec: ClusterSpec, name: string, component: string, automount?: boolean): JsonObject {
  const account: JsonObject = { apiVersion: "v1", kind: "ServiceAccount", metadata: { name, namespace: spec.namespace, labels: labelsOf(component) } };
  return automount === undefined ? account : { ...account, automountServiceAccountToken: automount };
}

const rbacVersion = "rbac.authorization.k8s.io/v1";

/** A Role (namespace given) or ClusterRole and its binding to one service account of cmk's namespace. */
export function roleAndBinding(
  spec: ClusterSpec,
  role: { name: string; component: string; account: string; namespaced: boolean; rules: readonly Rule[] },
): JsonObject[] {
  const kind = role.namespaced ? "Role" : "ClusterRole";
  const metadata = (): JsonObject => ({
    name: role.name,
    ...(role.namespaced ? { namespace: spec.namespace } : {}),
    labels: labelsOf(role.component),
  });
  const rules = role.rules.map((entry) => ({ ...entry }) as unknown as JsonObject);
  return [
    { apiVersion: rbacVersion, kind, metadata: metadata(), rules },
    {
      apiVersion: rbacVersion,
      kind: `${kind}Binding`,
      metadata: metadata(),
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind, name: role.name },
      subjects: [{ kind: "ServiceAccount", name: role.account, namespace: spec.namespace }],
    },
  ];
}

/** The node agent's account, its Role and ClusterRole with their bindings, and the policy that holds a node's agent to its node. */
export function nodeAgentAccess(spec: ClusterSpec): JsonObject[] {
  const role = { name: names.nodeAgentRole, component: names.nodeAgentRole, account: spec.agentAccount };
  return [
    serviceAccount(spec, spec.agentAccount, names.nodeAgentRole),
    ...roleAndBinding(spec, { ...role, namespaced: true, rules: nodeAgentRules }),
    ...roleAndBinding(spec, { ...role, namespaced: false, rules: nodeAgentClusterRules }),
    ...nodeAgentPolicy(spec),
  ];
}

/** cluster-init's own account (applied by an administrator, never by cluster-init itself). */
export function clusterInitAccess(spec: ClusterSpec): JsonObject[] {
  const role = { name: names.clusterInit, component: names.clusterInit, account: names.clusterInit };
  return [
    serviceAccount(spec, names.clusterInit, names.clusterInit),
    ...roleAndBinding(spec, { ...role, namespaced: true, rules: clusterInitRules(spec) }),
    ...roleAndBinding(spec, { ...role, namespaced: false, rules: clusterInitClusterRules(spec) }),
  ];
}
