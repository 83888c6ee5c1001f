// A real Kubernetes node for the tests: the kubelet and containerd that `scripts/controlplane up
// --with-node` starts (scripts/node), the images the tests run on it, and what a test reads off it
// (a container's log, a process's CPUs, the node's state as cmk keeps it). Why a helper of its own:
// every end-to-end test on the node needs the same few steps — images from local files (there is
// no registry), cmk's objects made as `cmk cluster-init` makes them, adapted only where the test
// cluster differs, and the webhook — and the same way of saying why the node cannot run on a
// machine, so that such a machine skips these tests aloud.
//
// cmk's objects come from the code cluster-init applies (src/core/cluster/), for the spec a
// cluster-init command line means (`clusterInitSpec`: its flags parsed and checked as the command
// does): the test's image with imagePullPolicy Never (no registry; the image is imported into the
// node's containerd), its install directory (--install-dir), its carving, --device-plugin. Those
// are flags; what follows is not, and is changed on the objects, nothing else (`testAgentDaemonSet`,
// `webhookMutations`):
// - the agent's pod runs on the host network and every container in it is told the API server's
//   loopback address through KUBERNETES_SERVICE_HOST/PORT: the test cluster has no kube-proxy, so
//   the `kubernetes` Service's address leads nowhere, and the API server listens on 127.0.0.1 only,
//   which a pod's own network namespace cannot reach;
// - so the agent's metrics port is a free one (on the host network its pod's 9100 is the
//   machine's, which may be taken), and it listens on 127.0.0.1 with the probes sent there (the
//   pod's IP is then the node's address, which the tests send no traffic to);
// - the host path of the agent's socket directory (/var/lib/cmk) is a test directory, in the
//   DaemonSet and in the webhook's mutations, and in device-plugin mode the agent is told it
//   (--host-socket-dir: its Allocate answers name host paths); with --install-dir for /opt/bin, a
//   test never writes into the machine's own directories.
// Why not run `cmk cluster-init` itself: none of these can be said with its flags (a real cluster
// has a kube-proxy, and its pods reach the API server), the agents it started would not reach the
// API server, so it would wait for the nodes in vain; and its webhook is a Deployment behind a
// Service, which the API server reaches through cluster DNS and kube-proxy this cluster lacks (the
// tests run the webhook on the host's loopback and register it by URL). The operator's steps are
// otherwise cluster-init's: deploy/'s definitions and accounts, the node labelled
// cmk.intel.com/agent=true, the DaemonSet, whose init containers install, init and discover.

import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { clusterManifests } from "../../src/app/manifests.ts";
import { parseArgs } from "../../src/cli/args.ts";
import { clusterSpec } from "../../src/commands/cluster-spec.ts";
import { clusterInitFlags } from "../../src/commands/flags.ts";
import { agentDaemonSet } from "../../src/core/cluster/agent.ts";
import { agentMetricsPort, agentSocketDirectory, type ClusterSpec } from "../../src/core/cluster/spec.ts";
import { mutationsDocument } from "../../src/core/cluster/webhook.ts";
import type { JsonObject } from "../../src/core/mutations.ts";
import { manifestText } from "../../src/formats/manifests.ts";
import { cmkBin, cmkEnv, repoRoot } from "./cmk.ts";
import type { CommandResult, ControlPlane } from "./controlplane.ts";
import { eventually, parseEnvFile } from "./controlplane.ts";
import { kubeconfigText } from "./kubeconfig.ts";

const NODE_SCRIPT = join(repoRoot, "scripts", "node");

export interface NodeInfo {
  readonly name: string;
  /** scripts/node's directory of this node (everything it made is recorded there). */
  readonly dir: string;
  readonly bin: string;
  readonly containerdSocket: string;
  readonly staticPodPath: string;
  readonly podLogs: string;
  readonly cgroupRoot: string;
  readonly deviceDir: string;
}

/** Why a node cannot run on this machine (not root, no cgroup v1, ...), or undefined when it can.
 * Synchronous: call it at the top of a test file, before anything serves. */
export function nodeUnavailable(): string | undefined {
  const result = spawnSync(NODE_SCRIPT, ["check"], { encoding: "utf8" });
  if (result.status === 0) return undefined;
  return (result.stdout + result.stderr).trim() || `scripts/node check exited with ${result.status}`;
}

/** The node of a control plane started with `withNode: true`. */
export function nodeOf(cp: ControlPlane): NodeInfo {
  const env = parseEnvFile(readFileSync(join(cp.dir, "node", "node.env"), "utf8"));
  const get = (key: string): string => {
    const value = env.get(key);
    if (value === undefined) throw new Error(`node.env lacks ${key}`);
    return value;
  };
  return {
    name: get("CMK_NODE_NAME"),
    dir: get("CMK_NODE_DIR"),
    bin: get("CMK_NODE_BIN"),
    containerdSocket: get("CMK_NODE_CONTAINERD_SOCKET"),
    staticPodPath: get("CMK_NODE_STATIC_POD_PATH"),
    podLogs: get("CMK_NODE_POD_LOGS"),
    cgroupRoot: get("CMK_NODE_CGROUP_ROOT"),
    deviceDir: get("CMK_NODE_DEVICE_PLUGIN_DIR"),
  };
}

/** Runs a program without blocking the event loop (tests here serve HTTPS meanwhile). */
export function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", (err) => reject(new Error(`cannot run ${command}`, { cause: err })));
    child.on("close", (code, signal) => resolve({ code: code ?? (signal === null ? 1 : 128), stdout, stderr }));
  });
}

async function mustRun(command: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<string> {
  const result = await run(command, args, env);
  if (result.code !== 0) throw new Error(`${command} ${args.join(" ")} exited with ${result.code}: ${result.stderr.trim()}`);
  return result.stdout;
}

/** bin/cmk, run asynchronously with a clean environment. */
export function cmk(args: readonly string[], env: Record<string, string> = {}): Promise<CommandResult> {
  return run(cmkBin, args, cmkEnv(env));
}

/** scripts/node <args>; throws on failure. */
export function nodeScript(...args: string[]): Promise<string> {
  return mustRun(NODE_SCRIPT, args);
}

/** Stops and starts the node's daemons, keeping their state (the pods keep running in their shims). */
export async function restartNode(node: NodeInfo, what: "kubelet" | "containerd" | "all"): Promise<void> {
  await nodeScript("stop", node.dir, what);
  await nodeScript("start", node.dir, what);
}

export interface NodeImages {
  /** The installed cmk (the payload of `cmk install`) at /opt/bin with the libraries it needs. */
  readonly cmk: string;
  /** The static test workload at /workload, with glibc for the host's /opt/bin/cmk mounted into it. */
  readonly workload: string;
}

/** Builds the two images from local files (cmk installed into a directory of `work` first: the
 * host directory workloads mount is the agent's install container's to fill) and imports them into
 * the node's containerd. */
export async function buildImages(node: NodeInfo, work: string): Promise<NodeImages> {
  const images = { cmk: "cmk.test/cmk:e2e", workload: "cmk.test/workload:1" };
  const installDir = join(work, "cmk-installed");
  await mustRun(cmkBin, ["install", `--install-dir=${installDir}`], cmkEnv());
  const runtime = readdirSync(installDir).find((entry) => entry.startsWith(".cmk-v"));
  if (runtime === undefined) throw new Error(`cmk install left no runtime directory in ${installDir}`);
  const needs = [join(installDir, "cmk"), join(installDir, runtime, "node"), join(installDir, runtime, "cmk_native.node")];

  const cmkRoot = join(work, "cmk-rootfs");
  mkdirSync(join(cmkRoot, "opt"), { recursive: true });
  mkdirSync(join(cmkRoot, "tmp"), { recursive: true });
  await mustRun("cp", ["-a", installDir, join(cmkRoot, "opt", "bin")]);
  await nodeScript("rootfs-libs", cmkRoot, ...needs);
  await nodeScript("image", join(work, "cmk.tar"), images.cmk, cmkRoot, "/opt/bin/cmk");

  const workloadRoot = join(work, "workload-rootfs");
  mkdirSync(join(workloadRoot, "opt", "bin"), { recursive: true });
  mkdirSync(join(workloadRoot, "tmp"), { recursive: true });
  await mustRun("cp", [join(node.bin, "workload"), join(workloadRoot, "workload")]);
  await nodeScript("rootfs-libs", workloadRoot, ...needs);
  await nodeScript("image", join(work, "workload.tar"), images.workload, workloadRoot, "/workload");

  await nodeScript("import", node.dir, join(work, "cmk.tar"), join(work, "workload.tar"));
  return images;
}

/** The lines a container wrote, from the kubelet's log files (the API server's `logs` would need
 * the kubelet reachable at the node's address; the tests send no traffic there). */
export function containerLog(node: NodeInfo, namespace: string, pod: string, container: string): string {
  const podDir = readdirSync(node.podLogs).find((entry) => entry.startsWith(`${namespace}_${pod}_`));
  if (podDir === undefined) return "";
  const dir = join(node.podLogs, podDir, container);
  let text = "";
  try {
    for (const file of readdirSync(dir).sort()) text += readFileSync(join(dir, file), "utf8");
  } catch {
    return "";
  }
  // CRI log format: <time> <stream> <tag> <line>
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => line.split(" ").slice(3).join(" "))
    .join("\n");
}

/** What the test workload says of itself: its CPUs, its cgroup's cpuset and cmk's variables. */
export interface WorkloadReport {
  readonly pid: number;
  readonly cpus: string;
  readonly cpuset: string;
  readonly env: Readonly<Record<string, string>>;
}

export function workloadReports(log: string): WorkloadReport[] {
  const reports: WorkloadReport[] = [];
  for (const line of log.split("\n")) {
    if (!line.startsWith("cmk-workload ")) continue;
    const fields = Object.fromEntries(
      line
        .slice("cmk-workload ".length)
        .split(" ")
        .map((field) => [field.slice(0, field.indexOf("=")), field.slice(field.indexOf("=") + 1)]),
    );
    const { pid, cpus, cpuset, ...env } = fields;
    reports.push({ pid: Number(pid), cpus: cpus ?? "", cpuset: cpuset ?? "", env });
  }
  return reports;
}

/** A kubeconfig file for namespace/serviceAccount, with a token minted for it. */
export async function tokenKubeconfig(cp: ControlPlane, dir: string, namespace: string, serviceAccount: string): Promise<string> {
  const token = await cp.createToken(namespace, serviceAccount, { expirationSeconds: 3600 });
  const file = join(dir, `${serviceAccount}.kubeconfig`);
  writeFileSync(file, kubeconfigText({ server: cp.server, ca: cp.caCert }, `    token: ${token}\n`), { mode: 0o600 });
  return file;
}

/** The spec `cmk cluster-init <args>` applies: its flags parsed and checked as the command does. */
export function clusterInitSpec(args: readonly string[]): ClusterSpec {
  return clusterSpec(parseArgs("cluster-init", args, clusterInitFlags).options);
}

/** Where the test cluster differs from a real one (see the top of this file). */
export interface TestClusterPaths {
  /** The API server, on the host's loopback. */
  readonly server: URL;
  /** The host directory of the agent's socket, instead of /var/lib/cmk. */
  readonly agentDir: string;
  /** The agent's metrics port on the host network, instead of 9100. */
  readonly metricsPort: number;
}

interface Container {
  name: string;
  command: string[];
  env?: JsonObject[];
  ports?: { name: string; containerPort: number }[];
  readinessProbe?: { httpGet: { path: string; port: string | number; host?: string } };
  livenessProbe?: { httpGet: { path: string; port: string | number; host?: string } };
}

interface DaemonSetObject {
  spec: {
    template: {
      spec: {
        hostNetwork?: boolean;
        initContainers: Container[];
        containers: Container[];
        volumes: { name: string; hostPath?: { path: string } }[];
      };
    };
  };
}

/** The agent's DaemonSet that `cmk cluster-init` makes for `spec`, with the test cluster's adaptations (and only those; see the top of this file). */
export function testAgentDaemonSet(spec: ClusterSpec, paths: TestClusterPaths): JsonObject {
  const made = structuredClone(agentDaemonSet(spec));
  const daemonSet = made as unknown as DaemonSetObject;
  const pod = daemonSet.spec.template.spec;
  const fail = (what: string): never => {
    throw new Error(`the agent's DaemonSet (src/core/cluster/agent.ts) no longer has ${what}; adapt testAgentDaemonSet in test/helpers/node.ts`);
  };

  pod.hostNetwork = true;
  const apiServer: JsonObject[] = [
    { name: "KUBERNETES_SERVICE_HOST", value: paths.server.hostname },
    { name: "KUBERNETES_SERVICE_PORT", value: paths.server.port },
  ];
  for (const container of [...pod.initContainers, ...pod.containers]) container.env = [...apiServer, ...(container.env ?? [])];

  const agent = pod.containers.find((container) => container.name === "agent") ?? fail("a container named agent");
  const replaceArgument = (from: string, to: string): void => {
    const index = agent.command.indexOf(from);
    if (index < 0) fail(`the agent's argument ${from}`);
    agent.command[index] = to;
  };
  replaceArgument(`--metrics-port=${agentMetricsPort}`, `--metrics-port=${paths.metricsPort}`);
  replaceArgument("--metrics-address=0.0.0.0", "--metrics-address=127.0.0.1");
  const port = agent.ports?.find((entry) => entry.name === "metrics") ?? fail("the agent's port named metrics");
  port.containerPort = paths.metricsPort;
  for (const probe of [agent.readinessProbe, agent.livenessProbe]) {
    if (probe === undefined) fail("the agent's readiness and liveness probes");
    else probe.httpGet = { ...probe.httpGet, port: paths.metricsPort, host: "127.0.0.1" };
  }

  const socketVolume = pod.volumes.find((volume) => volume.hostPath?.path === agentSocketDirectory) ?? fail(`a host path ${agentSocketDirectory}`);
  if (socketVolume.hostPath !== undefined) socketVolume.hostPath.path = paths.agentDir;
  if (spec.devicePlugin) agent.command.push(`--host-socket-dir=${paths.agentDir}`);
  return made;
}

/** The webhook's mutations file that cluster-init makes for `spec` (deploy/webhook-mutations.yaml
 * for the default one), with the agent's socket directory at the test's host path. */
export function webhookMutations(spec: ClusterSpec, agentDir: string): string {
  const document = structuredClone(mutationsDocument(spec)) as unknown as {
    mutations: { perPod: { spec: { volumes: { hostPath?: { path: string } }[] } } };
  };
  const volume = document.mutations.perPod.spec.volumes.find((entry) => entry.hostPath?.path === agentSocketDirectory);
  if (volume?.hostPath === undefined) throw new Error(`the webhook's mutations (src/core/cluster/webhook.ts) no longer mount ${agentSocketDirectory}`);
  volume.hostPath.path = agentDir;
  return manifestText([{ object: document as unknown as JsonObject }]);
}

/** The webhook's registration that cluster-init makes for `spec`, calling `url` instead of its Service. */
export function webhookRegistration(spec: ClusterSpec, url: string, caCert: string): JsonObject {
  const made = clusterManifests(spec).find((object) => object["kind"] === "MutatingWebhookConfiguration");
  if (made === undefined) throw new Error("cluster-init makes no MutatingWebhookConfiguration any more");
  const registration = structuredClone(made) as { webhooks: JsonObject[] } & JsonObject;
  registration.webhooks = registration.webhooks.map((hook) => ({ ...hook, clientConfig: { url, caBundle: Buffer.from(caCert).toString("base64") } }));
  return registration;
}

interface PodStatus {
  metadata: { name: string; uid: string };
  status?: { phase?: string; conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

/** Waits until the pod is Running (and returns it), failing at once if it ends. */
export async function runningPod(cp: ControlPlane, namespace: string, name: string, timeoutMs = 60_000): Promise<PodStatus> {
  return eventually(
    `pod ${namespace}/${name} Running`,
    async () => {
      const response = await cp.request<PodStatus>("GET", `/api/v1/namespaces/${namespace}/pods/${name}`);
      const phase = response.body.status?.phase;
      if (phase === "Failed" || phase === "Succeeded") throw new Error(`pod ${namespace}/${name} ended: ${JSON.stringify(response.body.status)}`);
      return phase === "Running" ? response.body : undefined;
    },
    timeoutMs,
    100,
  );
}

/** Whether a process runs (a zombie does not count). */
export function processRuns(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}
