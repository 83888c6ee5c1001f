// The settings every command and server shares, read once from the environment: where the host's
// procfs and sysfs are, how long to wait for the state lock, and how to reach Kubernetes. Commands get them typed, never by
// looking up a variable name, and each default is written here only. (The log level is read by the
// process before anything else, so that even a bad setting here is reported through the logger.)
import { secondsValue } from "./input.ts";

export interface Settings {
  /** The host's procfs as mounted here (CMK_PROC_FS): its processes, by host PID. */
  readonly procFs: string;
  /** A system root whose sys/devices/system is read instead of the real one (CMK_DEV_LSCPU_SYSFS). */
  readonly sysRoot: string;
  /**
   * Where the kernel's command line and meminfo are read: the host's procfs, or the proc/ of a
   * fake system root, which describes a machine whose processes are still the real ones.
   */
  readonly kernelFs: string;
  /** Seconds to wait for the state lock (CMK_LOCK_TIMEOUT); the ConfigMap store's bound on retries. */
  readonly lockTimeoutSeconds: number;
  readonly kubernetes: KubernetesSettings;
  /** Where `cmk agent` serves allocations (CMK_AGENT_SOCKET): isolate asks it when it is there. */
  readonly agentSocket: string;
}

export const defaultAgentSocket = "/var/lib/cmk/agent.sock";

/** How cmk finds the API server and itself in the cluster, when no flag says. */
export interface KubernetesSettings {
  /** KUBECONFIG's files, in order (empty when unset). */
  readonly kubeconfigPaths: readonly string[];
  /** NODE_NAME: the node this runs on (in a pod, from the downward API's spec.nodeName). */
  readonly nodeName: string | undefined;
  /** KUBERNETES_SERVICE_HOST and _PORT: set by the kubelet in every container. */
  readonly serviceHost: string | undefined;
  readonly servicePort: string | undefined;
  /** Where a pod's service account is mounted (CMK_DEV_SERVICE_ACCOUNT_DIR, for tests, moves it). */
  readonly serviceAccountDir: string;
  /** The pod a task runs in (POD_NAMESPACE, POD_NAME, POD_UID from the downward API), recorded with it. */
  readonly pod: { readonly namespace: string; readonly name: string; readonly uid: string } | undefined;
}

export const defaultLockTimeoutSeconds = 30;

/** The environment variables behind the settings, as `--help` lists them. */
export const settingsHelp = [
  "CMK_PROC_FS       host procfs as mounted here (default /proc)",
  `CMK_LOCK_TIMEOUT  seconds to wait for the state lock (default ${defaultLockTimeoutSeconds})`,
  "CMK_LOG_LEVEL     DEBUG, INFO (default), WARNING, ERROR or CRITICAL",
  `CMK_AGENT_SOCKET  where cmk agent serves allocations (default ${defaultAgentSocket})`,
  "KUBECONFIG        kubeconfig files (colon-separated) when --kubeconfig is not given",
  "NODE_NAME         this node's name when --node-name is not given",
] as const;

export const sysRootHelp = "CMK_DEV_LSCPU_SYSFS  a fake system root (testing): its sys/devices/system and proc/cmdline describe the machine";

function variable(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === "" ? undefined : value;
}

/** Reads the settings; a malformed variable is a usage error naming it. */
export function settingsFromEnvironment(env: NodeJS.ProcessEnv): Settings {
  const lockTimeout = variable(env, "CMK_LOCK_TIMEOUT");
  const procFs = variable(env, "CMK_PROC_FS") ?? "/proc";
  const fakeRoot = variable(env, "CMK_DEV_LSCPU_SYSFS");
  return {
    procFs,
    sysRoot: fakeRoot ?? "/",
    kernelFs: fakeRoot === undefined ? procFs : `${fakeRoot.replace(/\/+$/, "")}/proc`,
    lockTimeoutSeconds: lockTimeout === undefined ? defaultLockTimeoutSeconds : secondsValue("CMK_LOCK_TIMEOUT", lockTimeout),
    kubernetes: kubernetesSettings(env),
    agentSocket: variable(env, "CMK_AGENT_SOCKET") ?? defaultAgentSocket,
  };
}

function kubernetesSettings(env: NodeJS.ProcessEnv): KubernetesSettings {
  const podNamespace = variable(env, "POD_NAMESPACE");
  const podName = variable(env, "POD_NAME");
  const podUid = variable(env, "POD_UID");
  return {
    kubeconfigPaths: (variable(env, "KUBECONFIG") ?? "").split(":").filter((path) => path !== ""),
    nodeName: variable(env, "NODE_NAME"),
    serviceHost: variable(env, "KUBERNETES_SERVICE_HOST"),
    servicePort: variable(env, "KUBERNETES_SERVICE_PORT"),
    serviceAccountDir: variable(env, "CMK_DEV_SERVICE_ACCOUNT_DIR") ?? "/var/run/secrets/kubernetes.io/serviceaccount",
    pod: podNamespace !== undefined && podName !== undefined && podUid !== undefined ? { namespace: podNamespace, name: podName, uid: podUid } : undefined,
  };
}
