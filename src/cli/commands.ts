// The subcommands, their flags and help. Each implementation is loaded only when it runs, so
// `cmk isolate` never pays for code it does not use.
import type { FlagSpec, ParsedArgs } from "./args.ts";
import type { Context } from "./context.ts";

export interface CommandModule {
  run(args: ParsedArgs, context: Context): Promise<number>;
}

export interface CommandSpec {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  readonly flags: readonly FlagSpec[];
  readonly takesCommand?: boolean;
  readonly environment?: readonly string[];
  readonly load: () => Promise<CommandModule>;
}

const confDir: FlagSpec = { name: "conf-dir", kind: "value", valueName: "dir", defaultValue: "/etc/cmk", help: "directory holding the node state (state.json, layout.json and their lock)" };
const namespace: FlagSpec = { name: "namespace", kind: "value", valueName: "name", help: "namespace of the node's ConfigMap when state is kept in Kubernetes (CMK 1.5 compatibility)" };
const numExclusive: FlagSpec = { name: "num-exclusive-cores", kind: "value", valueName: "num", defaultValue: "4", help: "physical cores in the exclusive pool (0 or more)" };
const numShared: FlagSpec = { name: "num-shared-cores", kind: "value", valueName: "num", defaultValue: "1", help: "physical cores in the shared pool (0 or more)" };
const exclusiveMode: FlagSpec = { name: "exclusive-mode", kind: "value", valueName: "mode", defaultValue: "packed", help: "packed (socket by socket) or spread (round robin over sockets)" };
const sharedMode: FlagSpec = { name: "shared-mode", kind: "value", valueName: "mode", defaultValue: "packed", help: "packed or spread, as --exclusive-mode" };
const exclNonIsolcpus: FlagSpec = { name: "excl-non-isolcpus", kind: "value", valueName: "list", defaultValue: "-1", help: "physical core ids (e.g. 0,3-5) for the exclusive-non-isolcpus pool; -1 for none" };
const socketId: FlagSpec = { name: "socket-id", kind: "value", valueName: "num", defaultValue: "-1", help: "socket to take CPUs from; -1 for any" };
const sst: FlagSpec = { name: "sst", kind: "value", valueName: "mode", defaultValue: "auto", help: "Intel SST strategy: auto (from sysfs), bf, cp or off" };

const installDir: FlagSpec = { name: "install-dir", kind: "value", valueName: "dir", defaultValue: "/opt/bin", help: "directory of the cmk executable (a host directory that workload containers mount)" };
const interval: FlagSpec = { name: "interval", kind: "value", valueName: "seconds", defaultValue: "0", help: "repeat every <seconds> (fractions allowed) until SIGTERM; 0 runs once" };

const commonEnvironment = [
  "CMK_PROC_FS       host procfs as mounted here (default /proc)",
  "CMK_LOCK_TIMEOUT  seconds to wait for the state lock (default 30)",
  "CMK_LOG_LEVEL     DEBUG, INFO (default), WARNING, ERROR or CRITICAL",
];

export const commands: readonly CommandSpec[] = [
  {
    name: "init",
    summary: "carve the node's CPUs into pools and store them",
    usage: "cmk init [--num-exclusive-cores=<num>] [--num-shared-cores=<num>] [--exclusive-mode=<mode>] [--shared-mode=<mode>] [--excl-non-isolcpus=<list>] [--socket-id=<num>] [--sst=<mode>] [--conf-dir=<dir>]",
    flags: [numExclusive, numShared, exclusiveMode, sharedMode, exclNonIsolcpus, socketId, sst, confDir, namespace],
    environment: [...commonEnvironment, "CMK_DEV_LSCPU_SYSFS  system root to read sys/devices/system from (testing)"],
    load: () => import("../commands/init.ts"),
  },
  {
    name: "reconfigure",
    summary: "change pool sizes on a node with running tasks, re-pinning them",
    usage: "cmk reconfigure [--num-exclusive-cores=<num>] [--num-shared-cores=<num>] [--exclusive-mode=<mode>] [--shared-mode=<mode>] [--excl-non-isolcpus=<list>] [--socket-id=<num>] [--sst=<mode>] [--conf-dir=<dir>]",
    flags: [numExclusive, numShared, exclusiveMode, sharedMode, exclNonIsolcpus, socketId, sst, confDir, namespace],
    environment: [...commonEnvironment, "CMK_DEV_LSCPU_SYSFS  system root to read sys/devices/system from (testing)"],
    load: () => import("../commands/reconfigure.ts"),
  },
  {
    name: "describe",
    summary: "print the node's pools and tasks",
    usage: "cmk describe [--output=json|yaml] [--conf-dir=<dir>]",
    flags: [{ name: "output", kind: "value", valueName: "format", defaultValue: "json", help: "json or yaml" }, confDir, namespace],
    environment: commonEnvironment,
    load: () => import("../commands/describe.ts"),
  },
  {
    name: "isolate",
    summary: "run a command pinned to CPU lists of a pool",
    usage: "cmk isolate --pool=<pool> [--socket-id=<num>] [--no-affinity] [--conf-dir=<dir>] -- <command> [<args>...]\n       cmk isolate --pool=<pool> [flags] <command> [-- <args>...]",
    flags: [
      { name: "pool", kind: "value", valueName: "pool", help: "exclusive, shared, infra or exclusive-non-isolcpus" },
      { ...socketId, help: "take CPU lists from this socket; -1 for any" },
      { name: "no-affinity", kind: "switch", help: "allocate and export CMK_CPUS_* but do not pin; the command pins itself" },
      confDir,
      namespace,
    ],
    takesCommand: true,
    environment: [...commonEnvironment, "CMK_NUM_CORES     CPU lists to take from an exclusive pool (whole number >= 1, default 1)"],
    load: () => import("../commands/isolate.ts"),
  },
  {
    name: "reconcile",
    summary: "free CPU lists of dead tasks; report tasks running off their CPUs",
    usage: "cmk reconcile [--interval=<seconds>] [--conf-dir=<dir>]",
    flags: [interval, confDir, namespace],
    environment: commonEnvironment,
    load: () => import("../commands/reconcile.ts"),
  },
  {
    name: "node-report",
    summary: "report topology, pools and consistency checks (JSON, or a terminal map)",
    usage: "cmk node-report [--format=json|text] [--interval=<seconds>] [--conf-dir=<dir>]",
    flags: [
      { name: "format", kind: "value", valueName: "format", defaultValue: "json", help: "json (CMK's report) or text (a map of the node; colour on a terminal unless NO_COLOR is set)" },
      interval,
      confDir,
      namespace,
    ],
    environment: [...commonEnvironment, "NO_COLOR          any value turns colour off in --format=text", "CMK_COLOR         always: colour even when not writing to a terminal"],
    load: () => import("../commands/node-report.ts"),
  },
  {
    name: "install",
    summary: "place a self-contained cmk executable (runtime included) in --install-dir",
    usage: "cmk install [--install-dir=<dir>]",
    flags: [installDir],
    load: () => import("../commands/install.ts"),
  },
  {
    name: "uninstall",
    summary: "remove the cmk executable that install placed (not the conf dir or cluster objects)",
    usage: "cmk uninstall [--install-dir=<dir>] [--conf-dir=<dir>] [--namespace=<name>]",
    flags: [
      installDir,
      { ...confDir, help: "accepted for CMK compatibility; left untouched" },
      { ...namespace, help: "accepted for CMK compatibility; no Kubernetes object is removed" },
    ],
    load: () => import("../commands/uninstall.ts"),
  },
];
