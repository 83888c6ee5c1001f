// A real Kubernetes node for the tests: the kubelet and containerd that `scripts/controlplane up
// --with-node` starts (scripts/node), the images the tests run on it, and what a test reads off it
// (a container's log, a process's CPUs, the node's state as cmk keeps it). Why a helper of its own:
// every end-to-end test on the node needs the same few steps — images from local files (there is
// no registry), cmk placed on the node the way an operator does it (deploy/, adapted only where
// the test cluster differs), and the agent's socket and the webhook — and the same way of saying
// why the node cannot run on a machine, so that such a machine skips these tests aloud.
//
// The adaptations of deploy/ for this cluster, and why (nothing else is changed):
// - images: cmk.test/cmk:e2e, imported from an archive, with imagePullPolicy: Never (no registry);
// - the agent runs on the host network, told the API server's loopback address through
//   KUBERNETES_SERVICE_HOST/PORT (the test cluster has no kube-proxy, so the `kubernetes` Service
//   address leads nowhere), and its metrics port is a free one (9100 may be taken on the host);
// - the host paths /var/lib/cmk (the agent's socket) and /opt/bin (the installed cmk) are test
//   directories, so that a test never writes into the machine's own.

import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
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

/** Installs cmk into `installDir` (the host directory workloads mount), builds the two images from
 * local files and imports them into the node's containerd. */
export async function buildImages(node: NodeInfo, work: string, installDir: string): Promise<NodeImages> {
  const images = { cmk: "cmk.test/cmk:e2e", workload: "cmk.test/workload:1" };
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

/** deploy/agent-daemonset.yaml as this test cluster needs it (see the top of this file). */
export function agentDaemonSet(options: { image: string; agentDir: string; server: URL; metricsPort: number; extraArgs?: readonly string[] }): string {
  const original = readFileSync(join(repoRoot, "deploy", "agent-daemonset.yaml"), "utf8");
  const replace = (text: string, from: string, to: string): string => {
    if (!text.includes(from)) throw new Error(`deploy/agent-daemonset.yaml no longer has ${JSON.stringify(from)}`);
    return text.replaceAll(from, to);
  };
  let text = original;
  text = replace(text, "image: registry.example.com/cmk:2.0.0-alpha.1", `image: ${options.image}\n        imagePullPolicy: Never`);
  text = replace(text, "      hostPID: true\n", "      hostPID: true\n      hostNetwork: true\n");
  text = replace(
    text,
    "        env:\n",
    `        env:\n        - name: KUBERNETES_SERVICE_HOST\n          value: "${options.server.hostname}"\n        - name: KUBERNETES_SERVICE_PORT\n          value: "${options.server.port}"\n`,
  );
  text = replace(text, "path: /var/lib/cmk\n", `path: ${options.agentDir}\n`);
  text = replace(text, "9100", String(options.metricsPort));
  for (const arg of options.extraArgs ?? []) text = replace(text, "        - --interval=10\n", `        - --interval=10\n        - ${arg}\n`);
  return text;
}

/** deploy/webhook-mutations.yaml with the test's host directories. */
export function webhookMutations(options: { agentDir: string; installDir: string }): string {
  const original = readFileSync(join(repoRoot, "deploy", "webhook-mutations.yaml"), "utf8");
  for (const path of ["path: /var/lib/cmk\n", "path: /opt/bin\n"]) {
    if (!original.includes(path)) throw new Error(`deploy/webhook-mutations.yaml no longer has ${JSON.stringify(path)}`);
  }
  return original.replace("path: /var/lib/cmk\n", `path: ${options.agentDir}\n`).replace("path: /opt/bin\n", `path: ${options.installDir}\n`);
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
