// What uninstall --cluster runs on each node to take off the cmk that the agents' install
// container put in the host's install directory. What was installed, from which image and where,
// is read back from the agent DaemonSet before it is deleted (cluster-init records it nowhere
// else, and a DaemonSet carrying cmk's label is proof the directory is cmk's); then a one-shot pod
// per node (nodeName set, never restarted, that image, the host directory mounted where the
// install container had it) runs the node-local `cmk uninstall`, which removes only the launcher
// and runtime directories it recognises. The pod needs no API access, so it gets no token. Pure:
// objects in, objects and lines out; creating, watching and deleting the pods is the command's.
import type { JsonObject } from "../mutations.ts";
import { cmk, hostInstallDir, installContainer, installVolume } from "./agent.ts";
import { type NodeProgress, type PodFacts, podSummary } from "./progress.ts";
import { labelsOf, type PullPolicy, partOfLabel, partOfValue } from "./spec.ts";

/** The cmk the agents installed: where on each host, and the image (with its pull settings) that did it. */
export interface InstalledCmk {
  readonly installDir: string;
  readonly image: string;
  readonly pullPolicy: PullPolicy | undefined;
  readonly pullSecrets: readonly JsonObject[];
}

export const uninstallComponent = "cmk-uninstall";

/** The pod's name on a node (as reconfigure's: one per node, found again by name). */
export const uninstallPodName = (node: string): string => `${uninstallComponent}-${node}`;

interface DaemonSetView {
  readonly metadata?: { readonly labels?: Readonly<Record<string, string>> };
  readonly spec?: {
    readonly template?: {
      readonly spec?: {
        readonly initContainers?: readonly { readonly name?: string; readonly image?: string; readonly imagePullPolicy?: PullPolicy }[];
        readonly volumes?: readonly { readonly name?: string; readonly hostPath?: { readonly path?: string } }[];
        readonly imagePullSecrets?: readonly JsonObject[];
      };
    };
  };
}

/** What the agent DaemonSet installs on its nodes; undefined when it is not cmk's or runs no install container (--cmk-cmd-list without install). */
export function installedBy(daemonSet: DaemonSetView): InstalledCmk | undefined {
  if (daemonSet.metadata?.labels?.[partOfLabel] !== partOfValue) return undefined;
  const pod = daemonSet.spec?.template?.spec;
  const container = pod?.initContainers?.find((entry) => entry.name === installContainer);
  const installDir = pod?.volumes?.find((entry) => entry.name === installVolume)?.hostPath?.path;
  if (container?.image === undefined || installDir === undefined) return undefined;
  return { installDir, image: container.image, pullPolicy: container.imagePullPolicy, pullSecrets: pod?.imagePullSecrets ?? [] };
}

/** The one-shot pod that runs `cmk uninstall` on `node` against the host's install directory. */
export function uninstallPod(installed: InstalledCmk, namespace: string, node: string): JsonObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: uninstallPodName(node), namespace, labels: labelsOf(uninstallComponent) },
    spec: {
      nodeName: node,
      restartPolicy: "Never",
      automountServiceAccountToken: false,
      tolerations: [{ key: "cmk", operator: "Exists" }],
      ...(installed.pullSecrets.length === 0 ? {} : { imagePullSecrets: [...installed.pullSecrets] }),
      containers: [
        {
          name: "uninstall",
          image: installed.image,
          ...(installed.pullPolicy === undefined ? {} : { imagePullPolicy: installed.pullPolicy }),
          command: [cmk, "uninstall", `--install-dir=${hostInstallDir}`],
          volumeMounts: [{ name: installVolume, mountPath: hostInstallDir }],
        },
      ],
      // Directory, not DirectoryOrCreate: nothing is made on a host whose directory is gone.
      volumes: [{ name: installVolume, hostPath: { path: installed.installDir, type: "Directory" } }],
    },
  };
}

export interface UninstallProgress extends NodeProgress {
  /** The pod ended without removing cmk: waiting longer changes nothing. */
  readonly failed: boolean;
}

/** One node's line: done once its pod succeeded; failed once it failed; else what the pod is doing. */
export function uninstallProgress(node: string, installDir: string, pod: PodFacts | undefined): UninstallProgress {
  if (pod?.phase === "Succeeded") return { node, done: true, failed: false, line: `${node}: cmk removed from ${installDir}` };
  const doing = pod === undefined ? `its pod ${uninstallPodName(node)} is gone` : podSummary(pod, "pod");
  if (pod?.phase === "Failed") return { node, done: true, failed: true, line: `${node}: cmk not removed from ${installDir}: ${doing}` };
  return { node, done: false, failed: false, line: `${node}: removing cmk from ${installDir}; ${doing}` };
}
