// Everything cmk puts on a cluster, in one list: what `cmk cluster-init` applies (in this order),
// and the same objects grouped into the files under deploy/ for those who apply them with kubectl
// (without the webhook's Secret and caBundle, which they bring themselves). Each object comes with
// the comment its file shows above it. Pure: the spec and the webhook's file texts in, objects out.
import type { JsonObject } from "../mutations.ts";
import { agentDaemonSet } from "./agent.ts";
import { reportDefinitions } from "./crds.ts";
import { clusterInitAccess, nodeAgentAccess } from "./rbac.ts";
import { type ClusterSpec, labelsOf, names, partOfLabel, partOfValue } from "./spec.ts";
import { mutationsComment, mutationsDocument, type WebhookFiles, webhookObjects } from "./webhook.ts";

export interface CommentedObject {
  readonly comment?: string;
  readonly object: JsonObject;
}

export function namespaceObject(spec: ClusterSpec): JsonObject {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name: spec.namespace, labels: { [partOfLabel]: partOfValue } } };
}

/** What cluster-init applies, in order: definitions and accounts first, the webhook's registration last. The namespace is made apart (it must exist first). */
export function clusterObjects(spec: ClusterSpec, files: WebhookFiles): JsonObject[] {
  return [...reportDefinitions(), ...nodeAgentAccess(spec), ...webhookObjects(spec, files), agentDaemonSet(spec)];
}

export interface DeployFile {
  readonly name: string;
  readonly header: string;
  readonly objects: readonly CommentedObject[];
}

const kindComments: Readonly<Record<string, string>> = {
  CustomResourceDefinition: "",
  MutatingWebhookConfiguration: `Only pods that ask for cmk cores (or carry cmk.intel.com/mutate) reach the webhook (matchConditions),
never those of the cluster's own namespaces or cmk's, so an outage of the webhook stops no other pod.
failurePolicy Fail: a pod that asks for cores and starts without the socket or CMK_NUM_CORES would
run unpinned or fail; refusing it while the webhook is down is the safe side (CMK used Ignore).
caBundle: the CA that signed Secret cmk-webhook-tls, base64 (cmk cluster-init fills it in).`,
  DaemonSet: `cmk agent on every node labelled cmk.intel.com/agent=true (cmk cluster-init labels the nodes it
is given; by hand: kubectl label node <node> cmk.intel.com/agent=true). Its init containers run
CMK's one-shot node commands (install, init, discover); the agent is then the node's one writer of
its CPU state, serving allocations on /var/lib/cmk/agent.sock to the node's workloads.
The image is yours to build: any image with cmk's installed tree (cmk install) in /opt/bin.
Device-plugin mode (README, "Device plugin or Node-status patch"): cmk cluster-init --device-plugin
(or --dry-run, to see the objects) adds --device-plugin to the agent and mounts the kubelet's
/var/lib/kubelet/device-plugins; the kubelet then gives every container that asks for cores
CMK_NUM_CORES, the socket and /opt/bin, with no webhook.`,
};

function commented(objects: readonly JsonObject[]): CommentedObject[] {
  return objects.map((object) => {
    const comment = kindComments[String(object["kind"])];
    return comment === undefined || comment === "" ? { object } : { comment, object };
  });
}

function clusterInitJob(spec: ClusterSpec): JsonObject {
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: names.clusterInit, namespace: spec.namespace, labels: labelsOf(names.clusterInit) },
    spec: {
      backoffLimit: 0,
      template: {
        metadata: { labels: labelsOf(names.clusterInit) },
        spec: {
          serviceAccountName: names.clusterInit,
          restartPolicy: "Never",
          containers: [
            {
              name: "cluster-init",
              image: spec.image,
              imagePullPolicy: spec.pullPolicy,
              command: ["/opt/bin/cmk", "cluster-init", "--all-hosts", `--namespace=${spec.namespace}`, `--cmk-img=${spec.image}`],
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                runAsNonRoot: true,
                runAsUser: 65534,
                capabilities: { drop: ["ALL"] },
              },
            },
          ],
        },
      },
    },
  };
}

/** The files under deploy/, for `kubectl apply -f`: the static form of what cluster-init applies. */
export function deployFiles(spec: ClusterSpec, files: WebhookFiles): DeployFile[] {
  const webhook = webhookObjects(spec, files);
  return [
    {
      name: "crds.yaml",
      header: `The custom resources of cmk's published reports (cmk agent --publish, node-report and reconcile
--publish): one object per node, named after the node, in cmk's namespace. CMK's group, kinds and
short names, as apiextensions.k8s.io/v1 definitions with a schema and a status subresource.
Apply once per cluster, as a cluster administrator:  kubectl apply -f deploy/crds.yaml`,
      objects: commented(reportDefinitions()),
    },
    {
      name: "node-agent-rbac.yaml",
      header: `Namespace ${spec.namespace} and what cmk needs on a node, and nothing more: the service account of the node
commands (init, isolate, reconcile --publish, node-report --publish, discover, agent) when they keep
the state in ConfigMaps. In namespace ${spec.namespace}: read, create and replace ConfigMaps (cmk-config-<node>)
and the reports of deploy/crds.yaml. Cluster-wide: read Nodes and patch them and their status
(discover's resource, label and taint). No list, watch or delete anywhere; no Secrets, Pods or other
namespaces. Workload pods never run as this account: they get the node agent's socket instead.
Apply as a cluster administrator:  kubectl apply -f deploy/crds.yaml -f deploy/node-agent-rbac.yaml`,
      objects: commented([namespaceObject(spec), ...nodeAgentAccess(spec)]),
    },
    {
      name: "agent-daemonset.yaml",
      header: `The node agent. Needs deploy/node-agent-rbac.yaml; apply:  kubectl apply -f deploy/agent-daemonset.yaml`,
      objects: commented([agentDaemonSet(spec)]),
    },
    {
      name: "webhook.yaml",
      header: `cmk webhook: the mutating admission webhook that gives pods asking for cmk cores what
deploy/workload-pod-example.yaml spells out by hand, and denies pods whose cmk request cannot be
right. It needs no Kubernetes API access at all: its service account has no role and no token.
Needs deploy/node-agent-rbac.yaml (namespace ${spec.namespace}) applied first, and:
  - Secret ${names.webhookTls} (type kubernetes.io/tls: tls.crt, tls.key), a serving certificate for
    ${names.webhook}.${spec.namespace}.svc (cert-manager, or kubectl -n ${spec.namespace} create secret tls ...); it is
    reloaded when renewed, no restart needed (cmk cluster-init makes one and fills in the caBundle);
  - caBundle in the MutatingWebhookConfiguration: the CA of that certificate, base64;
  - the API server presenting a client certificate to webhooks, signed by the CA the webhook's
    --cafile names (here the cluster CA, kube-root-ca.crt): an AdmissionConfiguration (README,
    cmk webhook). Without one every pod that asks for cmk cores is refused; --insecure=true
    answers without a client certificate.
Apply:  kubectl apply -f deploy/webhook.yaml`,
      objects: commented(webhook),
    },
    { name: "webhook-mutations.yaml", header: mutationsComment, objects: [{ object: mutationsDocument(spec) }] },
    {
      name: "cluster-init-rbac.yaml",
      header: `The account cmk cluster-init runs as in a pod (deploy's Job below), and what it may do: create,
change and delete the objects it makes, named; list the node states and agent pods of namespace
${spec.namespace}; label Nodes. No Secret but its own, no other namespace. An administrator applies this
(cluster-init never grants itself anything):
  kubectl apply -f deploy/node-agent-rbac.yaml -f deploy/cluster-init-rbac.yaml
then runs cluster-init from a machine with a kubeconfig, or as the Job:
  kubectl apply -f deploy/cluster-init-job.yaml`,
      objects: commented(clusterInitAccess(spec)),
    },
    {
      name: "cluster-init-job.yaml",
      header: `cmk cluster-init as a Job in the cluster, as CMK's cmk-cluster-init-pod was: every schedulable node.
Needs deploy/cluster-init-rbac.yaml. Change the flags to choose nodes (--host-list) and pool sizes.`,
      objects: commented([clusterInitJob(spec)]),
    },
  ];
}
