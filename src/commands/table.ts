// The command table: each subcommand's name, summary, usage, typed flags and environment, and a
// loader for its implementation, which is imported only when it runs, so `cmk isolate` never
// pays for code it does not use. The table's types tie each module's `run` to its flag set.

import type { Context } from "../app/context.ts";
import { settingsHelp, sysRootHelp } from "../app/settings.ts";
import type { ErrorKind } from "../core/errors.ts";
import {
  agentFlags,
  clusterInitFlags,
  describeFlags,
  discoverFlags,
  exportCmk14Flags,
  type FlagSet,
  initFlags,
  installFlags,
  isolateFlags,
  nodeReportFlags,
  type OptionsOf,
  reaffinitizeFlags,
  reconcileFlags,
  reconfigureFlags,
  reconfigureSetupFlags,
  roadmapDoc,
  uninstallFlags,
  webhookFlags,
} from "./flags.ts";

/**
 * How a command ended: a number is the exit status it chose (isolate passes on its program's);
 * an error kind means its work was done and reported, but part of it failed in that way.
 */
export type CommandResult = number | ErrorKind;

export interface CommandModule<O> {
  /** `program` is the program and arguments of a command that runs one (isolate), verbatim. */
  run(options: O, context: Context, program: readonly string[]): Promise<CommandResult>;
}

export interface CommandSpec<F extends FlagSet> {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  readonly flags: F;
  /** The command runs a program given after its flags. */
  readonly takesProgram?: boolean;
  readonly environment?: readonly string[];
  /** The kinds of failure the command can end with, for its help. */
  readonly failures: readonly ErrorKind[];
  /** Exit statuses of its own beyond those (isolate passes on its program's). */
  readonly otherStatuses?: readonly string[];
  /** Paragraphs that explain what the flags' one-line help cannot, each a titled block of lines. */
  readonly notes?: readonly { readonly title: string; readonly lines: readonly string[] }[];
  readonly load: () => Promise<CommandModule<OptionsOf<F>>>;
}

/** A table entry with its flag set's type erased; `define` checked the module against it. */
export type Command = CommandSpec<FlagSet>;

function define<F extends FlagSet>(spec: CommandSpec<F>): Command {
  return spec as unknown as Command;
}

/** Failures of every command that reads or changes the node's state. */
const stateFailures: readonly ErrorKind[] = ["failure", "usage", "invalid-state", "lock-timeout", "api"];
/** How --excl-non-isolcpus names cores, for the help of the commands that carve. */
const coreIdNotes = [
  {
    title: "Core ids",
    lines: [
      "--excl-non-isolcpus names physical cores by CMK's core ids: the Core column of lscpu -p.",
      "Cores are numbered 0, 1, 2, ... across the whole node, in the order of their lowest online",
      "CPU, so an id names one core on one socket (the kernel's topology/core_id repeats on every",
      "socket and is not what is meant). Example: on two sockets of four cores where CPUs n and",
      "n+8 share a core, core 4 is CPUs 4,12 on socket 1, and --excl-non-isolcpus=0,4 takes CPUs",
      "0,8 and 4,12. cmk node-report --format=text shows each core's id (c4[...]); init logs the",
      "CPUs each id took. Ids follow which CPUs are online: see docs/core-ids.md.",
    ],
  },
] as const;

/** How reconcile and node-report run with --interval, and what --metrics-port serves meanwhile. */
const loopNotes = [
  {
    title: "With --interval",
    lines: [
      "Passes run every <seconds> until SIGTERM or SIGINT, which end the loop after the pass in",
      "progress. A pass that fails (reconcile: the state cannot be read or locked) is logged as an",
      "ERROR and counted, and the loop goes on. The last pass decides the exit status, as if it",
      "had run alone.",
      "--metrics-port=<port> serves over HTTP on --metrics-address, during the loop only:",
      "  /metrics  Prometheus text format: pools, tasks, passes, failures, durations (cmk_*)",
      "  /healthz  200 while the loop runs",
      "  /readyz   200 once a pass succeeded and while the last one did; else 503 and why",
      "A port already in use ends the command before the first pass (exit 1).",
    ],
  },
] as const;

const carvingUsage =
  "[--num-exclusive-cores=<num>] [--num-shared-cores=<num>] [--exclusive-mode=<mode>] [--shared-mode=<mode>] [--excl-non-isolcpus=<list>] [--socket-id=<num>] [--sst=<mode>] [--conf-dir=<dir>]";

export const commands: readonly Command[] = [
  define({
    name: "init",
    summary: "carve the node's CPUs into pools and store them",
    usage: `cmk init ${carvingUsage} [--keep-existing]`,
    flags: initFlags,
    environment: [...settingsHelp, sysRootHelp],
    failures: [...stateFailures, "does-not-fit", "conflict"],
    notes: coreIdNotes,
    load: () => import("./init.ts"),
  }),
  define({
    name: "reconfigure",
    summary: "change pool sizes on a node with running tasks, re-pinning them",
    usage: `cmk reconfigure ${carvingUsage}\n       cmk reconfigure --from-request --namespace=<ns> [--node-name=<node>]`,
    flags: reconfigureFlags,
    environment: [...settingsHelp, sysRootHelp],
    failures: [...stateFailures, "does-not-fit", "conflict", "not-initialised", "affinity"],
    notes: coreIdNotes,
    load: () => import("./reconfigure.ts"),
  }),
  define({
    name: "describe",
    summary: "print the node's pools and tasks",
    usage:
      "cmk describe [--output=json|yaml] [--conf-dir=<dir> | --namespace=<ns> --node-name=<node>]\n       cmk describe --all-nodes [--namespace=<ns>] [--kubeconfig=<file>] [--output=json|yaml]",
    flags: describeFlags,
    environment: settingsHelp,
    failures: ["failure", "usage", "invalid-state", "not-initialised", "api"],
    load: () => import("./describe.ts"),
  }),
  define({
    name: "isolate",
    summary: "run a command pinned to CPU lists of a pool",
    usage:
      "cmk isolate --pool=<pool> [--socket-id=<num>] [--no-affinity] [--conf-dir=<dir>] -- <command> [<args>...]\n       cmk isolate --pool=<pool> [flags] <command> [-- <args>...]",
    flags: isolateFlags,
    takesProgram: true,
    environment: [...settingsHelp, "CMK_NUM_CORES     CPU lists to take from an exclusive pool (whole number >= 1, default 1)"],
    failures: [...stateFailures, "does-not-fit", "pool-exhausted", "affinity", "not-initialised"],
    otherStatuses: ["once the command runs, its own status: 128+N when signal N ended it, 127 command not found, 126 command not runnable"],
    load: () => import("./isolate.ts"),
  }),
  define({
    name: "reconcile",
    summary: "free CPU lists of dead tasks; report tasks running off their CPUs",
    usage: "cmk reconcile [--interval=<seconds> [--metrics-port=<port>] [--metrics-address=<address>]] [--conf-dir=<dir>]",
    flags: reconcileFlags,
    environment: settingsHelp,
    notes: loopNotes,
    failures: [...stateFailures, "not-initialised"],
    load: () => import("./reconcile.ts"),
  }),
  define({
    name: "node-report",
    summary: "report topology, pools and consistency checks (JSON, or a terminal map)",
    usage: "cmk node-report [--format=json|text] [--interval=<seconds> [--metrics-port=<port>] [--metrics-address=<address>]] [--conf-dir=<dir>]",
    flags: nodeReportFlags,
    notes: loopNotes,
    environment: [
      ...settingsHelp,
      "NO_COLOR          any value turns colour off in --format=text",
      "CMK_COLOR         always: colour even when not writing to a terminal",
    ],
    failures: ["failure", "usage", "check-failed", "api"],
    load: () => import("./node-report.ts"),
  }),
  define({
    name: "agent",
    summary: "serve allocations on a Unix socket as the node's one writer of its state; reconcile in a loop",
    usage: "cmk agent [--socket=<path>] [--socket-mode=0660] [--socket-group=<group>] [--interval=10] [--metrics-port=<port>] [store flags]",
    flags: agentFlags,
    environment: settingsHelp,
    notes: [
      {
        title: "The socket",
        lines: [
          "cmk isolate finds the agent through CMK_AGENT_SOCKET or /var/lib/cmk/agent.sock, and then",
          "asks it for CPU lists instead of changing the state itself; the connection is the lease.",
          "Only processes that may open the socket (--socket-mode, --socket-group) can allocate, and only",
          "for themselves: the agent knows them by SO_PEERCRED. Protocol: docs/agent-protocol.md.",
        ],
      },
    ],
    failures: ["failure", "usage", "invalid-state", "lock-timeout", "not-initialised", "api"],
    load: () => import("./agent.ts"),
  }),
  define({
    name: "discover",
    summary: "advertise the node's exclusive CPU lists to the Kubernetes scheduler; label and taint the node",
    usage: "cmk discover [--no-taint] [--node-name=<node>] [--kubeconfig=<file>] [--conf-dir=<dir> | --namespace=<ns>]",
    flags: discoverFlags,
    environment: settingsHelp,
    notes: [
      {
        title: "What it changes",
        lines: [
          "Node status capacity and allocatable: cmk.intel.com/exclusive-cores = the exclusive pool's CPU",
          "lists (and cmk.intel.com/exclusive-non-isolcpus-cores when that pool exists); label",
          "cmk.intel.com/cmk-node=true; taint cmk=true:NoSchedule unless --no-taint. Only what differs is",
          "sent; nothing is removed. The state is read from the store the flags name, never written.",
        ],
      },
    ],
    failures: ["failure", "usage", "invalid-state", "not-initialised", "lock-timeout", "api"],
    load: () => import("./discover.ts"),
  }),
  define({
    name: "webhook",
    summary: "the admission webhook: gives pods asking for cmk cores the agent's socket, cmk and CMK_NUM_CORES",
    usage: "cmk webhook --conf-file=<file> [--cafile=<file>] [--insecure=false|true] [--shutdown-delay=<seconds>]",
    flags: webhookFlags,
    notes: [
      {
        title: "What it answers",
        lines: [
          "POST /mutate: AdmissionReviews (admission.k8s.io/v1) of Pods. A pod whose containers or init containers",
          "request or limit cmk.intel.com/exclusive-cores (or exclusive-non-isolcpus-cores), or that is annotated",
          'cmk.intel.com/mutate: "true", gets the mutations file (server.mutations, CMK\'s format; reloaded when it',
          "changes) and CMK_NUM_CORES per container from its request, as a JSON patch that adds only what the pod",
          "lacks. Denied: a request that differs from its limit, a count that is not a positive whole number, a",
          "CMK_NUM_CORES of the pod's own that says another count. GET /healthz and /readyz answer probes.",
          "The certificate, key and --cafile are reloaded when they change. The webhook needs no API access.",
        ],
      },
    ],
    failures: ["failure", "usage"],
    load: () => import("./webhook.ts"),
  }),
  define({
    name: "reaffinitize",
    summary: "nothing to do: cmk reconfigure re-pins moved tasks itself (kept for CMK 1.5's scripts)",
    usage: "cmk reaffinitize [--node-name=<node>] [--namespace=<ns>]",
    flags: reaffinitizeFlags,
    failures: ["usage"],
    load: () => import("./reaffinitize.ts"),
  }),
  define({
    name: "export-cmk14",
    summary: "write the node's pools and tasks as CMK 1.4's configuration directory (for a rollback)",
    usage: "cmk export-cmk14 --to=<dir> [--conf-dir=<dir>]",
    flags: exportCmk14Flags,
    environment: settingsHelp,
    notes: [
      {
        title: "Rolling back to CMK 1.4",
        lines: [
          "cmk's first write moves a CMK 1.4 tree (<conf-dir>/pools) aside, and CMK 1.4 cannot read",
          "state.json. This writes the current pools and task PIDs as a CMK 1.4 tree: <dir>/lock and",
          "<dir>/pools/<pool>/<socket>/<cpu-list>/tasks. Stop cmk's writers (isolate, reconcile,",
          "reconfigure) first, then run CMK 1.4 with --conf-dir=<dir>, or move <dir> to its conf dir.",
          "A non-empty <dir> is never touched; the tree appears under its name only when complete.",
        ],
      },
    ],
    failures: ["failure", "usage", "invalid-state", "not-initialised", "api"],
    load: () => import("./export-cmk14.ts"),
  }),
  define({
    name: "install",
    summary: "place a self-contained cmk executable (runtime included) in --install-dir",
    usage: "cmk install [--install-dir=<dir>]",
    flags: installFlags,
    failures: ["failure", "usage"],
    load: () => import("./install.ts"),
  }),
  define({
    name: "cluster-init",
    summary: "put cmk on chosen nodes of a cluster: node agents, the webhook, accounts, definitions; wait for the nodes",
    usage:
      "cmk cluster-init (--host-list=<nodes> | --all-hosts) [--cmk-cmd-list=<list>] [--cmk-img=<image>] [--cmk-img-pol=<policy>] [--install-dir=<dir>] [--conf-dir=<dir>] [--num-exclusive-cores=<num>] [--num-shared-cores=<num>] [--exclusive-mode=<mode>] [--shared-mode=<mode>] [--excl-non-isolcpus=<list>] [--pull-secret=<name>] [--saname=<name>] [--namespace=<name>] [--no-taint] [--cafile=<file>] [--insecure=<bool>] [--timeout=<seconds>] [--dry-run] [--kubeconfig=<file>]",
    flags: clusterInitFlags,
    notes: [
      {
        title: "What it does",
        lines: [
          "Checks the flags, that the nodes exist and that no object it writes is someone else's, before any write. Then it",
          "server-side applies (field manager cmk) the report definitions, the node agent's account and roles, the webhook",
          "(account without rights, configuration, a CA and serving certificate of its own kept across runs, Deployment,",
          "Service, registration) and the agent's DaemonSet; labels the nodes cmk.intel.com/agent=true, which the",
          "DaemonSet selects; and waits for each node to be initialised, printing its progress. A second run changes",
          "nothing. Pool sizes of nodes that have pools are kept: cmk reconfigure_setup changes them.",
        ],
      },
    ],
    failures: ["failure", "usage", "conflict", "api", "unfinished"],
    load: () => import("./cluster-init.ts"),
  }),
  define({
    name: "reconfigure_setup",
    summary: "change pool sizes on a cluster's nodes while workloads run, through each node's agent; report what was kept, moved or refused",
    usage:
      "cmk reconfigure_setup [--host-list=<nodes>] [--num-exclusive-cores=<num>] [--num-shared-cores=<num>] [--exclusive-mode=<mode>] [--shared-mode=<mode>] [--excl-non-isolcpus=<list>] [--cmk-img=<image>] [--cmk-img-pol=<policy>] [--install-dir=<dir>] [--saname=<name>] [--namespace=<name>] [--agent-wait=<seconds>] [--timeout=<seconds>] [--kubeconfig=<file>]",
    flags: reconfigureSetupFlags,
    notes: [
      {
        title: "How",
        lines: [
          "Writes each node a request, ConfigMap cmk-reconfigure-<node> in --namespace, with the new carving. The node's",
          "agent answers on its next reconcile pass as cmk reconfigure would: each running task keeps its lists when the",
          "new layout has them, else moves and is re-pinned; tasks that do not fit refuse the node, changing nothing.",
          "Where no agent answers within --agent-wait, a pod on the node (host PID namespace, the --saname account) runs",
          "cmk reconfigure --from-request. Each node's result is printed: tasks kept, moved (from and to), or why refused.",
          "Exit 7 when a node refused, 6 when a moved task could not be re-pinned, 12 when nodes did not answer in time.",
        ],
      },
    ],
    failures: ["failure", "usage", "affinity", "conflict", "api", "unfinished"],
    load: () => import("./reconfigure-setup.ts"),
  }),
  define({
    name: "uninstall",
    summary: "remove the cmk executable that install placed; with --cluster, what cluster-init put on the cluster",
    usage:
      "cmk uninstall [--install-dir=<dir>] [--conf-dir=<dir>]\n       cmk uninstall --cluster [--namespace=<name>] [--force] [--keep-installed] [--timeout=<seconds>] [--kubeconfig=<file>]",
    flags: uninstallFlags,
    notes: [
      {
        title: "With --cluster",
        lines: [
          "Removes what cmk cluster-init made in --namespace, and only that: objects by cluster-init's names that carry",
          "the label app.kubernetes.io/part-of=cmk (others of those names are left, and named), the nodes' states and",
          "reports there, cmk's labels, taint and advertised cores on the nodes it labelled, and the report definitions",
          "once no namespace holds reports. Absent objects count as removed. While a node's state records tasks,",
          "nothing is removed (exit 7) unless --force. The namespace is left.",
          "The cmk the agents installed goes too (unless --keep-installed): once the agent DaemonSet is deleted, a",
          "one-shot pod per node it ran on (its image, the host's install directory mounted) runs cmk uninstall there.",
          "Nodes whose pod does not succeed within --timeout are named (exit 12): run cmk uninstall on them.",
        ],
      },
    ],
    failures: ["failure", "usage", "conflict", "api", "unfinished"],
    load: () => import("./uninstall.ts"),
  }),
];

/** CMK's commands that this version does not have yet: named so that asking for one says so. */
export const plannedCommands: readonly { readonly name: string; readonly summary: string }[] = [];

export { roadmapDoc };
