// The node agent's DaemonSet: on every node cluster-init labelled, CMK's one-shot node commands run
// as init containers in the order --cmk-cmd-list gives (install copies cmk to the host for
// workloads, init carves the node unless it already has pools, discover advertises it), then `cmk
// agent` runs: the node's one writer of its state, serving allocations on its socket, reconciling,
// and publishing reports when reconcile or nodereport is listed. One pod per node instead of CMK's
// pod per node plus a DaemonSet per node; restricted to the chosen nodes by their label, not by
// pinning pods to node names.
import type { JsonObject } from "../mutations.ts";
import { agentMetricsPort, agentNodeLabel, agentSocketDirectory, type ClusterSpec, labelsOf, type NodeCommand, names, socketGroup } from "./spec.ts";

/** cmk in the image (its installed tree in /opt/bin). */
export const cmk = "/opt/bin/cmk";
/** The kubelet's device-plugin directory, the same path on the host and in the agent's container. */
const kubeletDevicePlugins = "/var/lib/kubelet/device-plugins";
/** Where the host's install directory is mounted in the install container (its own /opt/bin holds the cmk it copies). */
export const hostInstallDir = "/host/opt/bin";
/** The install container's name (each one-shot container bears its command's) and the volume that is the host's install directory: uninstall --cluster reads them back. */
export const installContainer: NodeCommand = "install";
export const installVolume = "cmk-install-dir";

/** The store flags every node command gets: the ConfigMap store in cmk's namespace, or the host's conf dir. */
function storeFlags(spec: ClusterSpec): string[] {
  return spec.confDir === undefined ? [`--namespace=${spec.namespace}`] : [`--conf-dir=${spec.confDir}`, `--namespace=${spec.namespace}`];
}

const nodeNameEnv: JsonObject = { name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } };

function commandContainer(spec: ClusterSpec, command: "init" | "discover" | "install"): JsonObject {
  const base = { name: command, image: spec.image, imagePullPolicy: spec.pullPolicy };
  switch (command) {
    case "install":
      return { ...base, command: [cmk, "install", `--install-dir=${hostInstallDir}`], volumeMounts: [{ name: installVolume, mountPath: hostInstallDir }] };
    case "init":
      // --keep-existing: a restarted agent pod never re-carves a node (cmk reconfigure_setup changes pool sizes).
      return { ...base, command: [cmk, "init", "--keep-existing", ...spec.carving, ...storeFlags(spec)], env: [nodeNameEnv], ...confMounts(spec) };
    case "discover":
      return { ...base, command: [cmk, "discover", ...(spec.noTaint ? ["--no-taint"] : []), ...storeFlags(spec)], env: [nodeNameEnv], ...confMounts(spec) };
  }
}

/** The conf dir's mount, for the containers that read or write the state, when it is the file store. */
function confMounts(spec: ClusterSpec): { volumeMounts?: JsonObject[] } {
  return spec.confDir === undefined ? {} : { volumeMounts: [{ name: "cmk-conf-dir", mountPath: spec.confDir }] };
}

function agentContainer(spec: ClusterSpec): JsonObject {
  const publish = spec.commands.includes("reconcile") || spec.commands.includes("nodereport") ? ["--publish"] : [];
  // The kubelet probes from the host's network namespace, at the pod's IP: the agent listens on
  // every address of its pod (its loopback is not the host's, where a probe with host 127.0.0.1 lands).
  const probe = (path: string): JsonObject => ({ httpGet: { path, port: "metrics" } });
  return {
    name: "agent",
    image: spec.image,
    imagePullPolicy: spec.pullPolicy,
    command: [
      cmk,
      "agent",
      ...storeFlags(spec),
      `--socket=${agentSocketDirectory}/agent.sock`,
      // Members of this group (workload pods: securityContext.supplementalGroups) may connect.
      `--socket-group=${socketGroup}`,
      "--socket-mode=0660",
      "--interval=10",
      `--metrics-port=${agentMetricsPort}`,
      "--metrics-address=0.0.0.0",
      ...publish,
      ...(spec.devicePlugin ? ["--device-plugin", `--host-install-dir=${spec.installDir}`] : []),
    ],
    env: [nodeNameEnv],
    ports: [{ name: "metrics", containerPort: agentMetricsPort }],
    readinessProbe: probe("/readyz"),
    livenessProbe: probe("/healthz"),
    volumeMounts: [
      { name: "agent-socket", mountPath: agentSocketDirectory },
      ...(confMounts(spec).volumeMounts ?? []),
      // Only in device-plugin mode: the directory holds the kubelet's own registration socket.
      ...(spec.devicePlugin ? [{ name: "device-plugins", mountPath: kubeletDevicePlugins }] : []),
    ],
  };
}

function volumes(spec: ClusterSpec): JsonObject[] {
  const hostPath = (name: string, path: string): JsonObject => ({ name, hostPath: { path, type: "DirectoryOrCreate" } });
  return [
    hostPath("agent-socket", agentSocketDirectory),
    ...(spec.commands.includes("install") ? [hostPath(installVolume, spec.installDir)] : []),
    ...(spec.confDir === undefined ? [] : [hostPath("cmk-conf-dir", spec.confDir)]),
    ...(spec.devicePlugin ? [hostPath("device-plugins", kubeletDevicePlugins)] : []),
  ];
}

export function agentDaemonSet(spec: ClusterSpec): JsonObject {
  const oneShot = spec.commands.filter(
    (command): command is Exclude<NodeCommand, "reconcile" | "nodereport"> => command !== "reconcile" && command !== "nodereport",
  );
  const pullSecrets = spec.pullSecret === undefined ? {} : { imagePullSecrets: [{ name: spec.pullSecret }] };
  return {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: { name: names.agent, namespace: spec.namespace, labels: labelsOf(names.agent) },
    spec: {
      selector: { matchLabels: { "app.kubernetes.io/name": names.agent } },
      template: {
        metadata: { labels: labelsOf(names.agent) },
        spec: {
          serviceAccountName: spec.agentAccount,
          // The agent knows a client by the PID the kernel reports (SO_PEERCRED) and checks it in /proc: both must be the host's.
          hostPID: true,
          nodeSelector: { [agentNodeLabel]: "true" },
          tolerations: [{ key: "cmk", operator: "Exists" }],
          ...pullSecrets,
          initContainers: oneShot.map((command) => commandContainer(spec, command)),
          containers: [agentContainer(spec)],
          volumes: volumes(spec),
        },
      },
    },
  };
}

/** What a reconfigure pod needs of the spec: where it runs, as whom, from which image. */
export type PodSpecParts = Pick<ClusterSpec, "namespace" | "image" | "pullPolicy" | "pullSecret" | "agentAccount">;

/**
 * The pod cmk reconfigure_setup starts on a node whose agent does not answer its request: `cmk
 * reconfigure --from-request` in the host's PID namespace (it re-pins the tasks it moves), as the
 * node agent's account (it writes the node's state and the result), never restarted.
 */
export function reconfigurePod(spec: PodSpecParts, node: string, name: string): JsonObject {
  const pullSecrets = spec.pullSecret === undefined ? {} : { imagePullSecrets: [{ name: spec.pullSecret }] };
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: spec.namespace, labels: labelsOf("cmk-reconfigure") },
    spec: {
      nodeName: node,
      restartPolicy: "Never",
      serviceAccountName: spec.agentAccount,
      hostPID: true,
      tolerations: [{ key: "cmk", operator: "Exists" }],
      ...pullSecrets,
      containers: [
        {
          name: "reconfigure",
          image: spec.image,
          imagePullPolicy: spec.pullPolicy,
          command: [cmk, "reconfigure", "--from-request", `--namespace=${spec.namespace}`],
          env: [nodeNameEnv],
        },
      ],
    },
  };
}
