// The admission webhook on a cluster: its account (no role, no token: it answers the API server
// and reads nothing), its configuration (CMK's server.yaml and mutations file), the Deployment,
// Service and disruption budget, and its registration. The registration is what CMK got wrong:
// admissionregistration.k8s.io/v1, failurePolicy Fail (a pod asking for cores that starts
// unmutated runs unpinned), sideEffects None, a short timeout, and only pods that ask for cmk
// cores, outside the cluster's own namespaces and cmk's, are sent to it.
import type { JsonObject } from "../mutations.ts";
import { serviceAccount } from "./rbac.ts";
import { agentSocketDirectory, type ClusterSpec, labelsOf, names, socketGroup, webhookPort } from "./spec.ts";

/** The files of the webhook's ConfigMap, as text (formats/manifests.ts writes them). */
export interface WebhookFiles {
  readonly serverYaml: string;
  readonly mutationsYaml: string;
}

export const mutationsComment = `What \`cmk webhook\` injects into a pod that asks for cmk cores (a container's request or limit of
cmk.intel.com/exclusive-cores or exclusive-non-isolcpus-cores, or the annotation
cmk.intel.com/mutate: "true"): what deploy/workload-pod-example.yaml spells out by hand. The pod
gets the node agent's socket directory and the cmk executable, both read-only, the group that may
connect to the socket, and the toleration of cmk's taint; each container gets CMK_AGENT_SOCKET,
and the webhook adds CMK_NUM_CORES from its request. Nothing else: no service account (the pod
keeps its own, and its own token or none), no toleration of other taints, no host /proc.
CMK's format (mutations.perPod, merged into the pod; mutations.perContainer, into every container
and init container). The webhook adds only what a pod lacks: volumes, env, image pull secrets by
name, mounts by mount path, tolerations by what they tolerate, so a pod is never given one twice.
The group ${socketGroup} is the agent's --socket-group (deploy/agent-daemonset.yaml).`;

/** CMK's mutations file: what a pod asking for cmk cores gets. */
export function mutationsDocument(spec: Pick<ClusterSpec, "installDir">): JsonObject {
  return {
    mutations: {
      perPod: {
        metadata: { annotations: { "cmk.intel.com/resources-injected": "true" } },
        spec: {
          securityContext: { supplementalGroups: [socketGroup] },
          tolerations: [{ key: "cmk", operator: "Equal", value: "true", effect: "NoSchedule" }],
          volumes: [
            { name: "cmk-agent", hostPath: { path: agentSocketDirectory, type: "Directory" } },
            { name: "cmk-bin", hostPath: { path: spec.installDir, type: "Directory" } },
          ],
        },
      },
      perContainer: {
        env: [{ name: "CMK_AGENT_SOCKET", value: `${agentSocketDirectory}/agent.sock` }],
        volumeMounts: [
          { name: "cmk-agent", mountPath: agentSocketDirectory, readOnly: true },
          { name: "cmk-bin", mountPath: "/opt/bin", readOnly: true },
        ],
      },
    },
  };
}

const configDir = "/etc/webhook/config";
const tlsDir = "/etc/webhook/tls";
const clientCaDir = "/etc/webhook/client-ca";

/** CMK's server configuration (cmk webhook --conf-file). */
export function serverConfigDocument(): JsonObject {
  return {
    server: { "binding-address": "0.0.0.0", port: webhookPort, cert: `${tlsDir}/tls.crt`, key: `${tlsDir}/tls.key`, mutations: `${configDir}/mutations.yaml` },
  };
}

function metadata(spec: ClusterSpec, name: string): JsonObject {
  return { name, namespace: spec.namespace, labels: labelsOf(names.webhook) };
}

function configMap(spec: ClusterSpec, files: WebhookFiles): JsonObject {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: metadata(spec, names.webhook),
    data: { "server.yaml": files.serverYaml, "mutations.yaml": files.mutationsYaml },
  };
}

/** The CA of the API server's client certificate, when given: else the cluster CA every namespace has. */
function clientCaObjects(spec: ClusterSpec): JsonObject[] {
  if (spec.clientCa === undefined) return [];
  return [{ apiVersion: "v1", kind: "ConfigMap", metadata: metadata(spec, names.webhookClientCa), data: { "ca.crt": spec.clientCa } }];
}

function tlsSecret(spec: ClusterSpec): JsonObject[] {
  if (spec.tls === undefined) return [];
  const base64 = (text: string): string => Buffer.from(text).toString("base64");
  return [
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: metadata(spec, names.webhookTls),
      type: "kubernetes.io/tls",
      data: { "tls.crt": base64(spec.tls.cert), "tls.key": base64(spec.tls.key), "ca.crt": base64(spec.tls.caCert), "ca.key": base64(spec.tls.caKey) },
    },
  ];
}

const selector = { matchLabels: { "app.kubernetes.io/name": names.webhook } };

function container(spec: ClusterSpec): JsonObject {
  const probe = (path: string, period: number): JsonObject => ({ httpGet: { path, port: "https", scheme: "HTTPS" }, periodSeconds: period });
  return {
    name: "webhook",
    image: spec.image,
    imagePullPolicy: spec.pullPolicy,
    command: [
      "/opt/bin/cmk",
      "webhook",
      `--conf-file=${configDir}/server.yaml`,
      `--cafile=${clientCaDir}/ca.crt`,
      `--insecure=${spec.insecure}`,
      // Keeps answering while the Service drops this pod after SIGTERM.
      "--shutdown-delay=5",
    ],
    ports: [{ name: "https", containerPort: webhookPort }],
    // Probes need no client certificate: only /mutate asks for one.
    readinessProbe: probe("/readyz", 5),
    livenessProbe: probe("/healthz", 10),
    resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "256Mi" } },
    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
    volumeMounts: [
      { name: "config", mountPath: configDir, readOnly: true },
      { name: "tls", mountPath: tlsDir, readOnly: true },
      { name: "client-ca", mountPath: clientCaDir, readOnly: true },
    ],
  };
}

function deployment(spec: ClusterSpec): JsonObject {
  const pullSecrets = spec.pullSecret === undefined ? {} : { imagePullSecrets: [{ name: spec.pullSecret }] };
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: metadata(spec, names.webhook),
    spec: {
      // Two, on different nodes when there are: with failurePolicy Fail, no cmk pod starts while none answers.
      replicas: 2,
      selector,
      template: {
        metadata: { labels: labelsOf(names.webhook) },
        spec: {
          serviceAccountName: names.webhook,
          automountServiceAccountToken: false,
          securityContext: { runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534, seccompProfile: { type: "RuntimeDefault" } },
          affinity: {
            podAntiAffinity: {
              preferredDuringSchedulingIgnoredDuringExecution: [
                { weight: 100, podAffinityTerm: { topologyKey: "kubernetes.io/hostname", labelSelector: selector } },
              ],
            },
          },
          terminationGracePeriodSeconds: 30,
          ...pullSecrets,
          containers: [container(spec)],
          volumes: [
            { name: "config", configMap: { name: names.webhook } },
            // The serving pair only: the CA's key stays in the Secret, for cluster-init's renewals.
            {
              name: "tls",
              secret: {
                secretName: names.webhookTls,
                items: [
                  { key: "tls.crt", path: "tls.crt" },
                  { key: "tls.key", path: "tls.key" },
                ],
              },
            },
            { name: "client-ca", configMap: { name: spec.clientCa === undefined ? "kube-root-ca.crt" : names.webhookClientCa } },
          ],
        },
      },
    },
  };
}

function disruptionBudget(spec: ClusterSpec): JsonObject {
  return { apiVersion: "policy/v1", kind: "PodDisruptionBudget", metadata: metadata(spec, names.webhook), spec: { minAvailable: 1, selector } };
}

function service(spec: ClusterSpec): JsonObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: metadata(spec, names.webhook),
    spec: { selector: selector.matchLabels, ports: [{ name: "https", port: 443, targetPort: "https" }] },
  };
}

const cmkResources = "['cmk.intel.com/exclusive-cores', 'cmk.intel.com/exclusive-non-isolcpus-cores']";
const asksForCores = (list: string): string =>
  `${list}.exists(c, has(c.resources) && ((has(c.resources.requests) && c.resources.requests.exists(r, r in ${cmkResources})) || (has(c.resources.limits) && c.resources.limits.exists(r, r in ${cmkResources}))))`;

/** Namespaces whose pods never reach the webhook: the cluster's own, and cmk's. */
export function excludedNamespaces(spec: Pick<ClusterSpec, "namespace">): string[] {
  return ["kube-system", "kube-public", "kube-node-lease", spec.namespace];
}

function registration(spec: ClusterSpec): JsonObject {
  const clientConfig: JsonObject = { service: { name: names.webhook, namespace: spec.namespace, path: "/mutate", port: 443 } };
  if (spec.tls !== undefined) clientConfig["caBundle"] = Buffer.from(spec.tls.caCert).toString("base64");
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "MutatingWebhookConfiguration",
    metadata: { name: names.webhook, labels: labelsOf(names.webhook) },
    webhooks: [
      {
        name: "cmk.intel.com",
        admissionReviewVersions: ["v1"],
        sideEffects: "None",
        failurePolicy: "Fail",
        timeoutSeconds: 5,
        // Called again when a later webhook changed the pod; the patch adds only what is missing.
        reinvocationPolicy: "IfNeeded",
        matchPolicy: "Equivalent",
        clientConfig,
        rules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["pods"], scope: "Namespaced" }],
        namespaceSelector: { matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "NotIn", values: excludedNamespaces(spec) }] },
        matchConditions: [
          {
            name: "asks-for-cmk-cores",
            expression: [
              "(has(object.metadata.annotations) && 'cmk.intel.com/mutate' in object.metadata.annotations && object.metadata.annotations['cmk.intel.com/mutate'] in ['true', 'True', '1'])",
              asksForCores("object.spec.containers"),
              `(has(object.spec.initContainers) && ${asksForCores("object.spec.initContainers")})`,
            ].join("\n|| "),
          },
        ],
      },
    ],
  };
}

/** The webhook's objects in the order they are applied: its registration last, once what it calls exists. */
export function webhookObjects(spec: ClusterSpec, files: WebhookFiles): JsonObject[] {
  return [
    serviceAccount(spec, names.webhook, names.webhook, false),
    configMap(spec, files),
    ...clientCaObjects(spec),
    ...tlsSecret(spec),
    deployment(spec),
    disruptionBudget(spec),
    service(spec),
    registration(spec),
  ];
}
