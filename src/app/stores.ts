// Which store holds the node's state, and how cmk reaches Kubernetes, decided once from the flags
// and settings. The rule (README, "Where the state lives"): --conf-dir names the file store; else
// --kubeconfig, --namespace, KUBECONFIG with --node-name, or running in a pod name the ConfigMap
// store cmk-config-<node>; else the file store in /etc/cmk. The Kubernetes adapter is imported
// only when chosen, so the file store's commands never load TLS or HTTP.
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { procfsHost } from "../adapters/file-store/power-failure.ts";
import { FileStateStore } from "../adapters/file-store/store.ts";
import type { KubeClient } from "../adapters/kubernetes/client.ts";
import { configMapLocation, configMapName } from "../adapters/kubernetes/names.ts";
import type { Retrying } from "../adapters/kubernetes/retry.ts";
import { CmkError, usageError } from "../core/errors.ts";
import { defaultConfDir, type StateStore } from "../core/state-store.ts";
import type { Context } from "./context.ts";

/** The store flags every state command takes (commands/flags.ts storeFlags). */
export interface StoreOptions {
  readonly confDir: string | undefined;
  readonly kubeconfig: string | undefined;
  readonly namespace: string | undefined;
  readonly nodeName: string | undefined;
}

export const defaultNamespace = "default";

export type StoreChoice =
  | { readonly kind: "file"; readonly confDir: string }
  | { readonly kind: "configmap"; readonly namespace: string; readonly nodeName: string };

/** The store the flags and settings name; a usage error when they name the ConfigMap store without a node. */
export function chooseStore(options: StoreOptions, context: Context): StoreChoice {
  // With --conf-dir, --namespace only says where published reports go.
  if (options.confDir !== undefined) return { kind: "file", confDir: options.confDir };
  const k8s = context.settings.kubernetes;
  const wantsConfigMap =
    options.kubeconfig !== undefined ||
    options.namespace !== undefined ||
    (k8s.kubeconfigPaths.length > 0 && options.nodeName !== undefined) ||
    runsInPod(context);
  if (!wantsConfigMap) return { kind: "file", confDir: defaultConfDir };
  return { kind: "configmap", namespace: options.namespace ?? defaultNamespace, nodeName: nodeNameOf(options, context) };
}

/**
 * Where the flags put the state, as the store there names itself in `location`, or undefined when
 * no store flag is given (then a running agent's store is taken). Sent to `cmk agent`, which
 * serves one store only.
 */
export function storeLocationNamed(options: StoreOptions, context: Context): string | undefined {
  const given = options.confDir ?? options.kubeconfig ?? options.namespace ?? options.nodeName;
  if (given === undefined) return undefined;
  const choice = chooseStore(options, context);
  return choice.kind === "file" ? resolve(choice.confDir) : configMapLocation(choice.namespace, configMapName(choice.nodeName));
}

/** The node this runs on: --node-name, else NODE_NAME; never guessed from pods (CMK 1.5 listed every pod of the cluster). */
export function nodeNameOf(options: { readonly nodeName: string | undefined }, context: Context): string {
  const name = options.nodeName ?? context.settings.kubernetes.nodeName;
  if (name === undefined) {
    throw usageError("cmk needs this node's Kubernetes name: give --node-name=<node>, or set NODE_NAME (in a pod: env NODE_NAME from fieldRef spec.nodeName)");
  }
  return name;
}

/** How each opened store was chosen, so that "run cmk init" can repeat the same flags. */
const initFlags = new WeakMap<StateStore, string>();

export async function openStore(options: StoreOptions, context: Context): Promise<StateStore> {
  const choice = chooseStore(options, context);
  if (choice.kind === "file") {
    const store = new FileStateStore(
      choice.confDir,
      context.settings.lockTimeoutSeconds,
      context.log.warning,
      procfsHost(context.settings.procFs, defaultConfDir),
    );
    initFlags.set(store, `--conf-dir=${store.location}`);
    return store;
  }
  const client = await kubeClient(options, context);
  const { ConfigMapStateStore } = await import("../adapters/kubernetes/configmap-store.ts");
  const store = new ConfigMapStateStore({
    client,
    namespace: choice.namespace,
    nodeName: choice.nodeName,
    lockTimeoutSeconds: context.settings.lockTimeoutSeconds,
    now: context.now,
    observer: context.storeObserver,
  });
  const kubeconfig = options.kubeconfig === undefined ? "" : ` --kubeconfig=${options.kubeconfig}`;
  initFlags.set(store, `--namespace=${choice.namespace} --node-name=${choice.nodeName}${kubeconfig}`);
  return store;
}

/** The client for the API server: --kubeconfig, else KUBECONFIG, else the pod's service account. */
export async function kubeClient(options: { readonly kubeconfig: string | undefined }, context: Context): Promise<KubeClient> {
  const [{ KubeClient }, { inClusterAccess, kubeconfigAccess }] = await Promise.all([
    import("../adapters/kubernetes/client.ts"),
    import("../adapters/kubernetes/kubeconfig.ts"),
  ]);
  const k8s = context.settings.kubernetes;
  let access: ReturnType<typeof inClusterAccess>;
  if (options.kubeconfig !== undefined) access = kubeconfigAccess([options.kubeconfig]);
  else if (k8s.kubeconfigPaths.length > 0) access = kubeconfigAccess(k8s.kubeconfigPaths);
  else if (runsInPod(context)) access = inClusterAccess(k8s);
  else throw usageError("no way to reach Kubernetes: give --kubeconfig=<file>, set KUBECONFIG, or run cmk in a pod with a service account");
  context.log.debug(`Kubernetes API ${access.server} from ${access.source}`);
  return new KubeClient(access);
}

/** A batch of API calls retried within one CMK_LOCK_TIMEOUT from now, reporting to the context's store observer. */
export async function apiCalls(client: KubeClient, context: Context): Promise<Retrying> {
  const { Retrying } = await import("../adapters/kubernetes/retry.ts");
  return new Retrying(client, context.settings.lockTimeoutSeconds * 1000, context.now, context.storeObserver);
}

/** Whether this runs in a pod with a service-account token (KUBERNETES_SERVICE_HOST is set in every container). */
function runsInPod(context: Context): boolean {
  const k8s = context.settings.kubernetes;
  return k8s.serviceHost !== undefined && existsSync(`${k8s.serviceAccountDir}/token`);
}

/** The error of every command that needs pools when the node has none yet. */
export function notInitialisedError(store: StateStore): CmkError {
  const flags = initFlags.get(store);
  return new CmkError("not-initialised", `no cmk state in ${store.location}${flags === undefined ? "" : `; run cmk init ${flags} first`}`, {
    location: store.location,
  });
}
