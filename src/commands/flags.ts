// Every flag cmk accepts, defined once: its name, help, default and the parser that turns its text
// into a typed value. A command's flag set maps option names to these definitions, and the CLI
// parses argv against it into an object whose type follows from the set, so a renamed or
// mistyped option is a type error, not a silent `undefined` at run time.

import { buildInfo } from "../app/build-info.ts";
import { choiceValue, integerValue, ipAddressValue, nearest, secondsValue, socketIdValue } from "../app/input.ts";
import { defaultAgentSocket } from "../app/settings.ts";
import type { Mode } from "../core/carve.ts";
import { defaultClusterNamespace, defaultInstallDir, defaultNodeCommands, type NodeCommand, names, nodeCommands, pullPolicies } from "../core/cluster/spec.ts";
import { CpuSet } from "../core/cpuset.ts";
import { CmkError, usageError } from "../core/errors.ts";
import { isPoolName, type PoolName, poolNames } from "../core/pools.ts";
import { defaultConfDir } from "../core/state-store.ts";

export interface FlagDefinition<T> {
  /** Without the leading dashes. */
  readonly name: string;
  readonly kind: "value" | "switch";
  readonly valueName?: string;
  /** The text assumed when the flag is absent, shown in help (an optional flag's parser leaves it to the command). */
  readonly defaultText?: string;
  readonly help: string;
  /** The flag's value from its text (the default when absent; undefined when absent without one); throws a usage error. */
  readonly parse: (text: string | undefined) => T;
}

export type FlagSet = { readonly [option: string]: FlagDefinition<unknown> };

/** The typed options a flag set parses into. */
export type OptionsOf<F extends FlagSet> = { readonly [K in keyof F]: F[K] extends FlagDefinition<infer T> ? T : never };

interface ValueFlag<T> {
  readonly valueName: string;
  readonly defaultText?: string;
  readonly help: string;
  readonly parse: (text: string, flag: string) => T;
}

/** A flag with a value and a default: its parser always gets text. */
function valueFlag<T>(name: string, spec: ValueFlag<T> & { readonly defaultText: string }): FlagDefinition<T> {
  return { name, kind: "value", ...spec, parse: (text) => spec.parse(text ?? spec.defaultText, `--${name}`) };
}

/** A flag with a value and no default: absent reads as undefined. */
function optionalFlag<T>(name: string, spec: ValueFlag<T>): FlagDefinition<T | undefined> {
  return { name, kind: "value", ...spec, parse: (text) => (text === undefined ? undefined : spec.parse(text, `--${name}`)) };
}

/** The options a flag set parses into when no flag is given. */
export function defaultsOf<F extends FlagSet>(flags: F): OptionsOf<F> {
  return Object.fromEntries(Object.entries(flags).map(([option, flag]) => [option, flag.parse(undefined)])) as OptionsOf<F>;
}

function switchFlag(name: string, help: string): FlagDefinition<boolean> {
  return { name, kind: "switch", help, parse: (text) => text !== undefined };
}

/** Where the commands and flags that are not available yet are described. */
export const roadmapDoc = "docs/roadmap.md";

/** A path flag: an empty value (an unset shell variable) is refused, never read as the current directory. */
function pathValue(what: "directory" | "file", example: string): (text: string, flag: string) => string {
  return (text, flag) => {
    if (text.trim() === "")
      throw new CmkError("usage", `${flag} is empty; give a ${what}, e.g. ${flag}=${example} (an unset shell variable gives an empty value)`);
    return text;
  };
}

const directoryValue = (example: string) => pathValue("directory", example);

// ---- Where state lives ------------------------------------------------------------------

/** A Kubernetes object name (node, namespace): a DNS subdomain as the API server checks it. */
function objectName(what: string): (text: string, flag: string) => string {
  return (text, flag) => {
    if (text.length > 253 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(text)) {
      throw new CmkError("usage", `${flag}="${text}" is not a ${what} name: lower-case letters, digits, '-' and '.', at most 253 characters`);
    }
    return text;
  };
}

/**
 * Where the node's state lives. --conf-dir names the file store; otherwise --kubeconfig,
 * --namespace, KUBECONFIG with --node-name, or running in a pod name the ConfigMap store
 * (app/stores.ts decides); with none of them, the file store in /etc/cmk.
 */
export const storeFlags = {
  confDir: optionalFlag("conf-dir", {
    valueName: "dir",
    defaultText: defaultConfDir,
    help: "keep the node state in this directory (state.json, layout.json and their lock): the file store",
    parse: directoryValue(defaultConfDir),
  }),
  kubeconfig: optionalFlag("kubeconfig", {
    valueName: "file",
    help: "reach Kubernetes with this kubeconfig (else KUBECONFIG, else the pod's service account); without --conf-dir the state is the ConfigMap cmk-config-<node>",
    parse: pathValue("file", "$HOME/.kube/config"),
  }),
  namespace: optionalFlag("namespace", {
    valueName: "name",
    defaultText: "default",
    help: "namespace of the ConfigMap cmk-config-<node> (CMK 1.5's state; without --conf-dir, giving it chooses that store) and of published reports",
    parse: objectName("namespace"),
  }),
  nodeName: optionalFlag("node-name", {
    valueName: "name",
    defaultText: "$NODE_NAME",
    help: "this node's Kubernetes name (in a pod, set NODE_NAME from spec.nodeName instead)",
    parse: objectName("node"),
  }),
};

// ---- Carving (init, reconfigure) ------------------------------------------------------------

const modes: readonly Mode[] = ["packed", "spread"];

/** Older CMK documentation's names for the modes, still accepted with a warning. */
const modeSynonyms = { vertical: "packed", horizontal: "spread" } as const satisfies Record<string, Mode>;
export type ModeSynonym = keyof typeof modeSynonyms;

/** A mode as given: the mode, and the older name it was written with, so the command can warn. */
export interface ModeChoice {
  readonly mode: Mode;
  readonly givenAs?: ModeSynonym;
}

function isModeSynonym(text: string): text is ModeSynonym {
  return Object.hasOwn(modeSynonyms, text);
}

/** packed or spread, or an older name of one of them; anything else is refused (CMK fell back to packed). */
function modeValue(text: string, flag: string): ModeChoice {
  if (isModeSynonym(text)) return { mode: modeSynonyms[text], givenAs: text };
  const nearSynonym = nearest(text, Object.keys(modeSynonyms));
  if (nearSynonym !== undefined && nearest(text, modes) === undefined && isModeSynonym(nearSynonym)) {
    throw usageError(
      `${flag}="${text}" is not valid: expected one of ${modes.join(", ")} (did you mean ${modeSynonyms[nearSynonym]}, once called ${nearSynonym}?)`,
    );
  }
  return { mode: choiceValue(flag, text, modes) };
}

export const sstModes = ["auto", "bf", "cp", "off"] as const;
export type SstMode = (typeof sstModes)[number];

function coreIdList(text: string, flag: string): readonly number[] | null {
  if (text.trim() === "-1") return null;
  try {
    return CpuSet.parse(text, { what: `${flag} core list` }).ids;
  } catch (error) {
    throw new CmkError("usage", `${flag}="${text}" is not valid: expected core ids such as 0,3-5 (see cmk node-report --format=text), or -1 for none`, {
      cause: error,
    });
  }
}

const socketIdFlag = (help: string): FlagDefinition<number | null> =>
  valueFlag("socket-id", { valueName: "num", defaultText: "-1", help, parse: (text, flag) => socketIdValue(flag, text) });

export const carvingFlags = {
  numExclusiveCores: valueFlag("num-exclusive-cores", {
    valueName: "num",
    defaultText: "4",
    help: "physical cores in the exclusive pool (0 or more)",
    parse: (text, flag) => integerValue(flag, text, 0),
  }),
  numSharedCores: valueFlag("num-shared-cores", {
    valueName: "num",
    defaultText: "1",
    help: "physical cores in the shared pool (0 or more)",
    parse: (text, flag) => integerValue(flag, text, 0),
  }),
  exclusiveMode: valueFlag("exclusive-mode", {
    valueName: "mode",
    defaultText: "packed",
    help: "packed (socket by socket) or spread (round robin over sockets); CMK's older names vertical and horizontal still work, with a warning",
    parse: modeValue,
  }),
  sharedMode: valueFlag("shared-mode", { valueName: "mode", defaultText: "packed", help: "packed or spread, as --exclusive-mode", parse: modeValue }),
  exclNonIsolcpus: valueFlag("excl-non-isolcpus", {
    valueName: "list",
    defaultText: "-1",
    help: "core ids (e.g. 0,3-5), numbered across the whole node as lscpu -p does (see Core ids below), for the exclusive-non-isolcpus pool; -1 for none",
    parse: coreIdList,
  }),
  socketId: socketIdFlag("socket to take the exclusive and shared cores from (infra and exclusive-non-isolcpus use every socket); -1 for any"),
  sst: valueFlag("sst", {
    valueName: "mode",
    defaultText: "auto",
    help: "Intel SST strategy: auto (from sysfs), bf, cp or off",
    parse: (text, flag) => choiceValue(flag, text, sstModes),
  }),
  ...storeFlags,
};

export const initFlags = {
  ...carvingFlags,
  keepExisting: switchFlag(
    "keep-existing",
    "leave a node that already has pools as it is, whatever the counts (the node agent's pod runs init this way, so a restart never re-carves; cmk reconfigure changes pool sizes)",
  ),
};

export const reconfigureFlags = {
  ...carvingFlags,
  fromRequest: switchFlag(
    "from-request",
    "take the new carving from the ConfigMap cmk-reconfigure-<node> that cmk reconfigure_setup wrote (instead of the flags), and write the result there",
  ),
};

// ---- Per command -------------------------------------------------------------------------------

export const describeFlags = {
  allNodes: switchFlag("all-nodes", "every node's pools and holders (with their pods), from the ConfigMaps cmk-config-* of --namespace"),
  output: valueFlag("output", {
    valueName: "format",
    defaultText: "json",
    help: "json or yaml",
    parse: (text, flag) => choiceValue(flag, text, ["json", "yaml"] as const),
  }),
  ...storeFlags,
};

function poolName(text: string, flag: string): PoolName {
  if (isPoolName(text)) return text;
  const suggestion = nearest(text, poolNames);
  throw new CmkError("usage", `${flag}="${text}" is not a pool${suggestion ? `; did you mean ${suggestion}?` : ""} (pools: ${poolNames.join(", ")})`);
}

export const isolateFlags = {
  pool: optionalFlag("pool", { valueName: "pool", help: "exclusive, shared, infra or exclusive-non-isolcpus", parse: poolName }),
  socketId: socketIdFlag(
    "take the lists of an exclusive, exclusive-non-isolcpus or shared pool from this socket; an infra request ignores it, as in CMK; -1 for any",
  ),
  noAffinity: switchFlag("no-affinity", "allocate and export CMK_CPUS_* but do not pin; the command pins itself"),
  ...storeFlags,
};

const intervalFlag = valueFlag("interval", {
  valueName: "seconds",
  defaultText: "0",
  help: "repeat every <seconds> (fractions allowed) until SIGTERM; 0 runs once",
  parse: (text, flag) => secondsValue(flag, text),
});

const publishFlag = switchFlag(
  "publish",
  "also publish each report as the node's custom resource in --namespace (kubectl get cmk-nodereports); needs deploy/crds.yaml applied",
);

/** Where the metrics server listens when --metrics-address is absent: this machine only. */
export const defaultMetricsAddress = "127.0.0.1";

/** The HTTP endpoint of the long-running mode (--interval): metrics and health; off unless --metrics-port is given. */
const metricsFlags = {
  metricsPort: optionalFlag("metrics-port", {
    valueName: "port",
    help: "with --interval, serve Prometheus metrics (/metrics) and health (/healthz, /readyz) over HTTP on this port; 0 picks a free port and logs it",
    parse: (text, flag) => integerValue(flag, text, 0, 65535),
  }),
  // No default of its own (the command applies defaultMetricsAddress), so that giving it without --metrics-port is refused, not ignored.
  metricsAddress: optionalFlag("metrics-address", {
    valueName: "address",
    defaultText: defaultMetricsAddress,
    help: "IP address the metrics server listens on (0.0.0.0 or :: for every interface)",
    parse: (text, flag) => ipAddressValue(flag, text),
  }),
};

export const reconcileFlags = { interval: intervalFlag, ...metricsFlags, publish: publishFlag, ...storeFlags };

export const nodeReportFlags = {
  format: valueFlag("format", {
    valueName: "format",
    defaultText: "json",
    help: "json (CMK's report) or text (a map of the node; colour on a terminal unless NO_COLOR is set)",
    parse: (text, flag) => choiceValue(flag, text, ["json", "text"] as const),
  }),
  interval: intervalFlag,
  ...metricsFlags,
  publish: publishFlag,
  ...storeFlags,
};

export const agentFlags = {
  socket: valueFlag("socket", {
    valueName: "path",
    defaultText: defaultAgentSocket,
    help: "the Unix socket to serve allocations on (clients find it through CMK_AGENT_SOCKET or this default)",
    parse: pathValue("file", defaultAgentSocket),
  }),
  socketMode: valueFlag("socket-mode", {
    valueName: "octal",
    defaultText: "0660",
    help: "permission bits of the socket: who may connect (owner and group by default)",
    parse: (text, flag) => {
      if (!/^0?[0-7]{3}$/.test(text)) throw usageError(`${flag}=${text} is not octal permission bits, e.g. ${flag}=0660`);
      return Number.parseInt(text, 8);
    },
  }),
  socketGroup: optionalFlag("socket-group", {
    valueName: "group",
    help: "the group whose members may connect (name or id); default: the agent's own group",
    parse: (text, flag) => {
      if (text.trim() === "") throw usageError(`${flag} is empty; give a group name or id`);
      return text;
    },
  }),
  interval: valueFlag("interval", {
    valueName: "seconds",
    defaultText: "10",
    help: "seconds between reconcile passes, the safety net for processes whose end no watch saw",
    parse: (text, flag) => secondsValue(flag, text),
  }),
  publish: switchFlag(
    "publish",
    "after each reconcile pass, publish the reconcile report and the node report as the node's custom resources (what reconcile and node-report --publish do)",
  ),
  devicePlugin: switchFlag(
    "device-plugin",
    "also advertise cmk.intel.com/exclusive-cores through the kubelet's device-plugin API (one device per exclusive CPU list) and give each container that gets some CMK_NUM_CORES, the socket and cmk",
  ),
  devicePluginDir: valueFlag("device-plugin-dir", {
    valueName: "dir",
    defaultText: "/var/lib/kubelet/device-plugins",
    help: "with --device-plugin: the kubelet's device-plugin directory (where its kubelet.sock is)",
    parse: directoryValue("/var/lib/kubelet/device-plugins"),
  }),
  hostSocketDir: optionalFlag("host-socket-dir", {
    valueName: "dir",
    help: "with --device-plugin: the host's directory that holds --socket, mounted into containers (default: the directory of --socket, when the agent sees the host's paths)",
    parse: directoryValue("/var/lib/cmk"),
  }),
  hostInstallDir: valueFlag("host-install-dir", {
    valueName: "dir",
    defaultText: "/opt/bin",
    help: "with --device-plugin: the host's directory of the installed cmk (cmk install), mounted into containers at /opt/bin",
    parse: directoryValue("/opt/bin"),
  }),
  ...metricsFlags,
  ...storeFlags,
};

/** CMK 1.5's flags of reaffinitize, accepted and unused (the command has nothing to do). */
export const reaffinitizeFlags = {
  nodeName: { ...storeFlags.nodeName, help: "accepted for CMK compatibility; unused" },
  namespace: { ...storeFlags.namespace, help: "accepted for CMK compatibility; unused" },
};

export const discoverFlags = {
  noTaint: switchFlag("no-taint", "do not taint the node cmk=true:NoSchedule (pods without a toleration may then land on it)"),
  ...storeFlags,
};

export const exportCmk14Flags = {
  to: optionalFlag("to", {
    valueName: "dir",
    help: "where to write CMK 1.4's configuration directory (lock and pools/): a new or empty directory outside --conf-dir",
    parse: directoryValue("/var/tmp/cmk-1.4"),
  }),
  ...storeFlags,
};

/** CMK's default: the CA of the cluster, as a pod with a service-account token has it. */
export const defaultWebhookCaFile = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";

/** A yes or no as CMK's scripts write it: true, True, TRUE or 1; false, False, FALSE or 0. */
function booleanValue(text: string, flag: string): boolean {
  const trimmed = text.trim();
  if (["true", "True", "TRUE", "1"].includes(trimmed)) return true;
  if (["false", "False", "FALSE", "0"].includes(trimmed)) return false;
  throw usageError(`${flag}=${text} is not valid: expected true or false (True, False, 1 and 0 are read too)`);
}

export const webhookFlags = {
  confFile: optionalFlag("conf-file", {
    valueName: "file",
    help: "the server configuration (YAML, CMK's format): server.binding-address, port, cert, key and mutations (required)",
    parse: pathValue("file", "/etc/webhook/server.yaml"),
  }),
  cafile: valueFlag("cafile", {
    valueName: "file",
    defaultText: defaultWebhookCaFile,
    help: "PEM CA that signs the client certificates reviews must come with (the API server's admission kubeconfig); reloaded when it changes",
    parse: pathValue("file", defaultWebhookCaFile),
  }),
  insecure: valueFlag("insecure", {
    valueName: "bool",
    defaultText: "false",
    help: "true: answer reviews from clients without a certificate (the API server presents none unless configured to); false: require one signed by --cafile",
    parse: booleanValue,
  }),
  shutdownDelay: valueFlag("shutdown-delay", {
    valueName: "seconds",
    defaultText: "0",
    help: "after SIGTERM, keep answering reviews this long (readyz says 503) before closing, while the webhook's Service drops the pod",
    parse: (text, flag) => secondsValue(flag, text),
  }),
};

/** CMK's default image was cmk:v<version>; so is this one. */
export const defaultImage = `cmk:v${buildInfo.version}`;

const installDirFlag = valueFlag("install-dir", {
  valueName: "dir",
  defaultText: defaultInstallDir,
  help: "directory of the cmk executable (a host directory that workload containers mount)",
  parse: directoryValue(defaultInstallDir),
});

export const installFlags = { installDir: installDirFlag };

// ---- The cluster (cluster-init, uninstall --cluster, reconfigure_setup) -------------------------

/** A comma-separated list of node names (CMK's --host-list); blanks around names are dropped. */
function nodeList(text: string, flag: string): readonly string[] {
  const nodes = text
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name !== "");
  if (nodes.length === 0) throw usageError(`${flag} is empty; name the nodes, e.g. ${flag}=node-1,node-2 (or give --all-hosts)`);
  for (const node of nodes) objectName("node")(node, flag);
  return [...new Set(nodes)];
}

/** CMK's --cmk-cmd-list: its node commands, init first when listed, each once. */
function commandList(text: string, flag: string): readonly NodeCommand[] {
  const listed = text.split(",").map((item) => item.trim());
  for (const item of listed) {
    if (!(nodeCommands as readonly string[]).includes(item)) {
      const suggestion = nearest(item, nodeCommands);
      throw usageError(`${flag}: "${item}" is not one of CMK's node commands ${nodeCommands.join(", ")}${suggestion ? ` (did you mean ${suggestion}?)` : ""}`);
    }
  }
  if (listed.includes("init") && listed[0] !== "init") throw usageError(`${flag}=${text}: init must be listed first (it carves the node the others use)`);
  if (new Set(listed).size !== listed.length) throw usageError(`${flag}=${text} names a command twice; name each once`);
  return listed as NodeCommand[];
}

/** The nodes to act on: a list, or every schedulable node. */
const nodeSelectionFlags = {
  hostList: optionalFlag("host-list", {
    valueName: "nodes",
    help: "the nodes, comma-separated (or --all-hosts)",
    parse: nodeList,
  }),
  allHosts: switchFlag("all-hosts", "every node whose spec.unschedulable is not true (or --host-list)"),
};

const clusterNamespaceFlag = valueFlag("namespace", {
  valueName: "name",
  defaultText: defaultClusterNamespace,
  help: "cmk's namespace: its agents, webhook, accounts and the node states (cmk-config-<node>); one of its own, never default or kube-*",
  parse: objectName("namespace"),
});

const clusterTimeoutFlag = valueFlag("timeout", {
  valueName: "seconds",
  defaultText: "300",
  help: "how long to wait for the nodes, printing each node's progress; 0 does not wait",
  parse: (text, flag) => secondsValue(flag, text),
});

/** The image and account of cmk's pods, and where cmk is installed on the nodes. */
const imageFlags = {
  cmkImg: valueFlag("cmk-img", {
    valueName: "image",
    defaultText: defaultImage,
    help: "the image of cmk's pods: any image with cmk's installed tree (cmk install) in /opt/bin",
    parse: (text, flag) => {
      if (text.trim() === "" || /\s/.test(text)) throw usageError(`${flag}="${text}" is not an image reference, e.g. ${flag}=registry.example.com/cmk:v2`);
      return text;
    },
  }),
  cmkImgPol: valueFlag("cmk-img-pol", {
    valueName: "policy",
    defaultText: "IfNotPresent",
    help: "image pull policy of cmk's pods: Never, IfNotPresent or Always",
    parse: (text, flag) => choiceValue(flag, text, pullPolicies),
  }),
  installDir: installDirFlag,
  saname: valueFlag("saname", {
    valueName: "name",
    defaultText: names.defaultAgentAccount,
    help: "the node agent's service account, which cluster-init makes with its least-privilege roles",
    parse: objectName("service account"),
  }),
};

/** The carving of new nodes: init's flags. */
const clusterCarvingFlags = {
  numExclusiveCores: carvingFlags.numExclusiveCores,
  numSharedCores: carvingFlags.numSharedCores,
  exclusiveMode: carvingFlags.exclusiveMode,
  sharedMode: carvingFlags.sharedMode,
  exclNonIsolcpus: carvingFlags.exclNonIsolcpus,
};

export const clusterInitFlags = {
  ...nodeSelectionFlags,
  cmkCmdList: valueFlag("cmk-cmd-list", {
    valueName: "list",
    defaultText: defaultNodeCommands.join(","),
    help: "CMK's node commands to run on each node: init, discover and install before the agent starts; reconcile or nodereport make it publish reports",
    parse: commandList,
  }),
  ...imageFlags,
  pullSecret: optionalFlag("pull-secret", { valueName: "name", help: "a Secret of the namespace to pull the image with", parse: objectName("secret") }),
  confDir: optionalFlag("conf-dir", {
    valueName: "dir",
    help: "keep each node's state in this host directory (the file store) instead of the ConfigMap cmk-config-<node>",
    parse: directoryValue(defaultConfDir),
  }),
  ...clusterCarvingFlags,
  noTaint: switchFlag("no-taint", "discover does not taint the nodes cmk=true:NoSchedule"),
  devicePlugin: switchFlag(
    "device-plugin",
    "the agents also advertise cmk.intel.com/exclusive-cores through the kubelet's device-plugin API, so that pods (static pods too) get what they need without the webhook",
  ),
  namespace: clusterNamespaceFlag,
  cafile: optionalFlag("cafile", {
    valueName: "file",
    help: "PEM file here: the CA that signs the client certificate the API server presents to webhooks; default: the cluster CA (kube-root-ca.crt)",
    parse: pathValue("file", defaultWebhookCaFile),
  }),
  insecure: valueFlag("insecure", {
    valueName: "bool",
    defaultText: "false",
    help: "true: the webhook answers the API server without a client certificate (when it presents none); false: it requires one signed by --cafile's CA",
    parse: booleanValue,
  }),
  dryRun: switchFlag("dry-run", "print every object as YAML (kubectl apply -f - takes it) and change nothing; the cluster is not contacted"),
  timeout: clusterTimeoutFlag,
  kubeconfig: storeFlags.kubeconfig,
};

export const uninstallFlags = {
  installDir: installDirFlag,
  confDir: { ...storeFlags.confDir, help: "accepted for CMK compatibility; left untouched" },
  cluster: switchFlag(
    "cluster",
    "remove what cmk cluster-init made in --namespace instead: agents, webhook, accounts, definitions, node labels, taints, resources, states, and the cmk the agents installed on the nodes",
  ),
  namespace: {
    ...clusterNamespaceFlag,
    help: `with --cluster: cmk's namespace (default ${defaultClusterNamespace}); else accepted for CMK compatibility and unused`,
  },
  force: switchFlag("force", "with --cluster: remove node states whose tasks still hold cores (their workloads lose the agent)"),
  keepInstalled: switchFlag(
    "keep-installed",
    "with --cluster: leave the cmk the agents installed in each node's install directory (no uninstall pod runs on the nodes)",
  ),
  timeout: {
    ...clusterTimeoutFlag,
    help: "with --cluster: how long to wait for the uninstall pod on each node, printing each node's progress; 0 starts them and does not wait",
  },
  kubeconfig: storeFlags.kubeconfig,
};

export const reconfigureSetupFlags = {
  hostList: optionalFlag("host-list", {
    valueName: "nodes",
    help: "the nodes, comma-separated; default every schedulable node labelled cmk.intel.com/cmk-node=true, as CMK chose",
    parse: nodeList,
  }),
  ...clusterCarvingFlags,
  ...imageFlags,
  pullSecret: optionalFlag("pull-secret", {
    valueName: "name",
    help: "a Secret of the namespace to pull the reconfigure pods' image with",
    parse: objectName("secret"),
  }),
  namespace: clusterNamespaceFlag,
  agentWait: valueFlag("agent-wait", {
    valueName: "seconds",
    defaultText: "30",
    help: "how long a node's agent has to answer (it looks each reconcile pass) before a reconfigure pod is started on the node",
    parse: (text, flag) => secondsValue(flag, text),
  }),
  timeout: clusterTimeoutFlag,
  kubeconfig: storeFlags.kubeconfig,
};
