// Where each kind of object cmk makes lives in the API: its group, version, plural and whether it
// is namespaced. The REST path of an object follows from its kind, namespace and name, so the
// client side of cluster-init and uninstall never spells a path by hand.
import { CmkError } from "../errors.ts";
import type { JsonObject } from "../mutations.ts";

interface Resource {
  readonly apiVersion: string;
  readonly plural: string;
  readonly namespaced: boolean;
}

const resources: Readonly<Record<string, Resource>> = {
  Namespace: { apiVersion: "v1", plural: "namespaces", namespaced: false },
  Node: { apiVersion: "v1", plural: "nodes", namespaced: false },
  ServiceAccount: { apiVersion: "v1", plural: "serviceaccounts", namespaced: true },
  ConfigMap: { apiVersion: "v1", plural: "configmaps", namespaced: true },
  Secret: { apiVersion: "v1", plural: "secrets", namespaced: true },
  Service: { apiVersion: "v1", plural: "services", namespaced: true },
  Pod: { apiVersion: "v1", plural: "pods", namespaced: true },
  Deployment: { apiVersion: "apps/v1", plural: "deployments", namespaced: true },
  DaemonSet: { apiVersion: "apps/v1", plural: "daemonsets", namespaced: true },
  Job: { apiVersion: "batch/v1", plural: "jobs", namespaced: true },
  PodDisruptionBudget: { apiVersion: "policy/v1", plural: "poddisruptionbudgets", namespaced: true },
  Role: { apiVersion: "rbac.authorization.k8s.io/v1", plural: "roles", namespaced: true },
  RoleBinding: { apiVersion: "rbac.authorization.k8s.io/v1", plural: "rolebindings", namespaced: true },
  ClusterRole: { apiVersion: "rbac.authorization.k8s.io/v1", plural: "clusterroles", namespaced: false },
  ClusterRoleBinding: { apiVersion: "rbac.authorization.k8s.io/v1", plural: "clusterrolebindings", namespaced: false },
  CustomResourceDefinition: { apiVersion: "apiextensions.k8s.io/v1", plural: "customresourcedefinitions", namespaced: false },
  MutatingWebhookConfiguration: { apiVersion: "admissionregistration.k8s.io/v1", plural: "mutatingwebhookconfigurations", namespaced: false },
  ValidatingAdmissionPolicy: { apiVersion: "admissionregistration.k8s.io/v1", plural: "validatingadmissionpolicies", namespaced: false },
  ValidatingAdmissionPolicyBinding: { apiVersion: "admissionregistration.k8s.io/v1", plural: "validatingadmissionpolicybindings", namespaced: false },
};

/** An object as cmk refers to it: enough to find it. */
export interface ObjectRef {
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
}

export function refOf(object: JsonObject): ObjectRef {
  const metadata = object["metadata"] as { name: string; namespace?: string };
  const ref = { kind: String(object["kind"]), name: metadata.name };
  return metadata.namespace === undefined ? ref : { ...ref, namespace: metadata.namespace };
}

function resourceOf(kind: string): Resource {
  const resource = resources[kind];
  if (resource === undefined) throw new CmkError("failure", `cmk does not know where the API keeps a ${kind}`);
  return resource;
}

/** The path of the collection the object lives in (its namespace's, for a namespaced kind). */
export function collectionPath(kind: string, namespace?: string): string {
  const resource = resourceOf(kind);
  const root = resource.apiVersion.includes("/") ? `/apis/${resource.apiVersion}` : `/api/${resource.apiVersion}`;
  return resource.namespaced && namespace !== undefined
    ? `${root}/namespaces/${encodeURIComponent(namespace)}/${resource.plural}`
    : `${root}/${resource.plural}`;
}

export function objectPath(ref: ObjectRef): string {
  return `${collectionPath(ref.kind, ref.namespace)}/${encodeURIComponent(ref.name)}`;
}

/** How messages name an object: "daemonset cmk/cmk-agent". */
export function describeRef(ref: ObjectRef): string {
  return `${ref.kind.toLowerCase()} ${ref.namespace === undefined ? "" : `${ref.namespace}/`}${ref.name}`;
}
