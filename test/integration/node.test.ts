// cmk end to end on a real node: a kubelet, containerd and runc (scripts/node) registered with the
// test control plane, real pods, real cgroups. Why: everything else tests cmk's parts against a
// control plane whose pods never run; only here does a pod the webhook mutated actually start
// through `cmk isolate` in a container, hold an exclusive list through the agent, and give it back
// when the kubelet stops it. cmk is put on the node as an operator would with cmk cluster-init
// (its objects, made by the same code for the same flags, adapted only as test/helpers/node.ts
// says): the agent's DaemonSet installs, inits and discovers through its init containers; the
// webhook runs on the host's loopback as in the webhook tests.
// What a user would notice is checked: the node's advertised cores, label and taint; a pod's CPUs
// inside its container against the list the state records, and its cgroup's cpuset; how soon a
// deleted pod's list is free again; that extra pods wait instead of sharing a list; and that a node
// restart (kubelet and containerd stopped and started, the agent replaced) keeps every running
// pod on its CPUs with nothing booked twice. On a machine where the node cannot run (not root,
// cgroup v2, ...) every test here is skipped with the reason printed.
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { agentNodeLabel, type ClusterSpec } from "../../src/core/cluster/spec.ts";
import { CpuSet } from "../../src/core/cpuset.ts";
import { parseYaml, type YamlValue } from "../../src/formats/yaml.ts";
import type { JsonObject } from "../helpers/admission.ts";
import { collect, freePort, repoRoot, scratchDir, spawnCmk, startServing } from "../helpers/cmk.ts";
import { type ControlPlane, eventually, startControlPlane } from "../helpers/controlplane.ts";
import {
  buildImages,
  clusterInitSpec,
  cmk,
  containerLog,
  type NodeInfo,
  nodeOf,
  nodeScript,
  nodeUnavailable,
  processRuns,
  restartNode,
  runningPod,
  type TestClusterPaths,
  testAgentDaemonSet,
  tokenKubeconfig,
  webhookMutations,
  webhookRegistration,
  workloadReports,
} from "../helpers/node.ts";
import { hostNode } from "../helpers/topology.ts";

const unavailable =
  process.env["CMK_TEST_TOPOLOGY"] !== undefined
    ? `a pretended topology (${process.env["CMK_TEST_TOPOLOGY"]}) is set; a real node runs on this machine's own`
    : nodeUnavailable();
if (unavailable !== undefined) {
  console.log(`# SKIPPED: the real-node tests (test/integration/node.test.ts) cannot run here: ${unavailable}`);
}

const namespace = "e2e";
const cmkToleration = { key: "cmk", operator: "Equal", value: "true", effect: "NoSchedule" };
const cores = hostNode().topology.cores.length;
/** Every core but one (infra keeps it) is an exclusive list. */
const exclusiveCount = cores - 1;

let cp: ControlPlane;
let node: NodeInfo;
let images: { cmk: string; workload: string };
let agentKubeconfig: string;
let testPaths: TestClusterPaths;
let stopWebhook: (() => Promise<void>) | undefined;
const figures: string[] = [];

/** The exclusive lists of the node's state and the PIDs holding each, from its ConfigMap. */
async function exclusiveLists(): Promise<Map<string, string[]>> {
  const response = await cp.request<{ data?: { config?: string } }>("GET", `/api/v1/namespaces/cmk/configmaps/cmk-config-${node.name}`);
  assert.equal(response.status, 200, JSON.stringify(response.body));
  const config = parseYaml(response.body.data?.config ?? "", "config") as Map<YamlValue, YamlValue>;
  const lists = new Map<string, string[]>();
  const exclusive = config.get("exclusive") as Map<YamlValue, Map<YamlValue, YamlValue[]>>;
  for (const socket of exclusive.values()) for (const [list, pids] of socket) lists.set(String(list), pids.map(String));
  return lists;
}

/** A pod of one container "app" running the test workload's image, in the test namespace. */
function testPod(name: string, container: JsonObject, extra: JsonObject = {}): JsonObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace },
    spec: {
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 5,
      containers: [{ name: "app", image: images.workload, imagePullPolicy: "Never", ...container }],
      ...extra,
    },
  };
}

/** A pod whose workload runs under `cmk isolate --pool=exclusive`, asking for `cmkCores`. */
function workloadPod(name: string, cmkCores: number | undefined, extra: JsonObject = {}): JsonObject {
  const resources =
    cmkCores === undefined
      ? {}
      : { requests: { "cmk.intel.com/exclusive-cores": String(cmkCores) }, limits: { "cmk.intel.com/exclusive-cores": String(cmkCores) } };
  return testPod(name, { command: ["/opt/bin/cmk", "isolate", "--pool=exclusive", "--", "/workload"], resources }, extra);
}

async function createPod(pod: JsonObject): Promise<void> {
  const response = await cp.request("POST", `/api/v1/namespaces/${namespace}/pods`, pod);
  assert.equal(response.status, 201, JSON.stringify(response.body));
}

/**
 * Creates a pod right after a kubelet restart in device-plugin mode. The kubelet refuses a pod it
 * admits before it has the plugin's devices again (UnexpectedAdmissionError, phase Failed), as with
 * any device plugin, and a controller would make a new pod: so does this, a few times, and says so.
 */
async function createAdmitted(pod: JsonObject): Promise<void> {
  const name = (pod["metadata"] as { name: string }).name;
  for (let attempt = 1; ; attempt++) {
    await createPod(pod);
    const outcome = await eventually(
      `pod ${namespace}/${name} admitted or refused`,
      async () => {
        const response = await cp.request<{ status?: { phase?: string; reason?: string } }>("GET", `/api/v1/namespaces/${namespace}/pods/${name}`);
        const status = response.body.status;
        if (status?.phase === "Failed" && status.reason === "UnexpectedAdmissionError") return "refused";
        return status?.phase === "Running" ? "running" : undefined;
      },
      60_000,
      100,
    );
    if (outcome === "running") return;
    figures.push(`${name}: refused by the kubelet before it had the plugin's devices again (attempt ${attempt})`);
    assert.ok(attempt < 5, `${name} refused ${attempt} times`);
    await cp.request("DELETE", `/api/v1/namespaces/${namespace}/pods/${name}?gracePeriodSeconds=0`);
    await podGone(name);
  }
}

async function deletePod(name: string, ns = namespace): Promise<void> {
  const response = await cp.request("DELETE", `/api/v1/namespaces/${ns}/pods/${name}`);
  assert.ok(response.status === 200 || response.status === 404, JSON.stringify(response.body));
}

async function podGone(name: string, ns = namespace): Promise<void> {
  await eventually(
    `pod ${ns}/${name} gone`,
    async () => ((await cp.request("GET", `/api/v1/namespaces/${ns}/pods/${name}`)).status === 404 ? true : undefined),
    60_000,
  );
}

/** The workload's own report, once its container has written it. */
async function reportOf(pod: string, container = "app", ns = namespace): Promise<ReturnType<typeof workloadReports>[number]> {
  return eventually(`the workload of ${ns}/${pod} to report`, async () => workloadReports(containerLog(node, ns, pod, container)).at(-1), 30_000, 100);
}

/** The host PID of a container's first process: the one task of the state not yet known. */
async function newTask(known: ReadonlySet<string>): Promise<{ pid: number; list: string }> {
  return eventually(
    "a new task in the node's state",
    async () => {
      for (const [list, pids] of await exclusiveLists()) for (const pid of pids) if (!known.has(pid)) return { pid: Number(pid), list };
      return undefined;
    },
    30_000,
    100,
  );
}

async function heldPids(): Promise<Set<string>> {
  return new Set([...(await exclusiveLists()).values()].flat());
}

/** Checks one running pinned pod: its CPUs in the container are its list, its cpuset allows them. */
async function checkPinned(pod: string, known: ReadonlySet<string>): Promise<{ pid: number; list: string }> {
  await runningPod(cp, namespace, pod);
  const task = await newTask(known);
  const report = await reportOf(pod);
  const list = CpuSet.parse(task.list);
  assert.equal(report.cpus, list.toString(), `${pod}: Cpus_allowed_list in the container is the list the state records (${task.list})`);
  assert.equal(report.env["CMK_CPUS_ASSIGNED"], list.toString());
  assert.equal(report.env["CMK_NUM_CORES"], "1", "the webhook gave the container its count");
  assert.ok(list.isSubsetOf(CpuSet.parse(report.cpuset)), `${pod}: the container's cpuset ${report.cpuset} allows ${task.list}`);
  const status = readFileSync(`/proc/${task.pid}/status`, "utf8");
  assert.match(status, new RegExp(`^Cpus_allowed_list:\\s+${list.toString()}$`, "m"), "the host sees the same process on the same CPUs");
  return task;
}

/** The host's install directory (cluster-init's --install-dir) and the agent's socket directory, test directories both. */
let installDir: string;
let agentDir: string;

describe("a real node", { skip: unavailable === undefined ? false : `the node cannot run here: ${unavailable}` }, () => {
  const scratch = scratchDir("node-e2e");
  installDir = join(scratch, "opt-bin");
  agentDir = join(scratch, "var-lib-cmk");

  before(async () => {
    cp = await startControlPlane({ withNode: true });
    figures.push(`control plane + node up: ${(cp.startupMs / 1000).toFixed(1)} s`);
    node = nodeOf(cp);
    mkdirSync(agentDir, { recursive: true });
    const imagesStarted = performance.now();
    images = await buildImages(node, scratch);
    figures.push(`images built and imported: ${((performance.now() - imagesStarted) / 1000).toFixed(1)} s`);
    testPaths = { server: new URL(cp.server), agentDir, metricsPort: await freePort() };

    // (1) The operator's steps, as cmk cluster-init takes them (test/helpers/node.ts says why it
    // does not run itself): deploy/'s definitions and the node agent's account, the node labelled
    // for the agent's DaemonSet, the DaemonSet, whose init containers install cmk on the host,
    // carve the node and advertise it before the agent starts.
    const applied = await cp.kubectl(["apply", "-f", join(repoRoot, "deploy", "crds.yaml"), "-f", join(repoRoot, "deploy", "node-agent-rbac.yaml")]);
    assert.equal(applied.code, 0, applied.stderr);
    const labelled = await cp.kubectl(["label", "node", node.name, `${agentNodeLabel}=true`]);
    assert.equal(labelled.code, 0, labelled.stderr);
    const rolledOut = performance.now();
    await applyAgent(clusterInitSpec(clusterInitArgs()));
    await agentServing(undefined);
    figures.push(`agent DaemonSet applied -> install, init, discover done and the agent serving: ${((performance.now() - rolledOut) / 1000).toFixed(1)} s`);
    agentKubeconfig = await tokenKubeconfig(cp, scratch, "cmk", "cmk-node-agent");

    // (2) The webhook on the host's loopback, with cluster-init's mutations and registration.
    const spec = clusterInitSpec(clusterInitArgs());
    const home = join(scratch, "webhook");
    mkdirSync(home);
    const { cert, key } = await cp.issueServingCert("cmk-webhook");
    writeFileSync(join(home, "tls.crt"), cert);
    writeFileSync(join(home, "tls.key"), key);
    writeFileSync(join(home, "mutations.yaml"), webhookMutations(spec, agentDir));
    const port = await freePort();
    writeFileSync(
      join(home, "server.yaml"),
      `server:\n  binding-address: 127.0.0.1\n  port: ${port}\n  cert: tls.crt\n  key: tls.key\n  mutations: mutations.yaml\n`,
    );
    const webhook = await startServing(
      ["webhook", `--conf-file=${join(home, "server.yaml")}`, `--cafile=${cp.webhookClient.caFile}`],
      {},
      /serving admission reviews on/,
    );
    stopWebhook = async () => {
      if (webhook.child.exitCode === null) webhook.child.kill("SIGTERM");
      await webhook.exited;
    };
    const registered = await cp.request(
      "POST",
      "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
      webhookRegistration(spec, `https://127.0.0.1:${port}/mutate`, cp.caCert),
    );
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    await cp.createNamespace(namespace);
  });

  after(async () => {
    if (figures.length > 0) console.log(`# real-node figures: ${figures.join("; ")}`);
    await stopWebhook?.();
    await cp?.stop();
  });

  it("(1) cmk put on the node as cluster-init does: the agent's init containers installed cmk, carved the node and advertised it (its pools, exclusive-cores capacity, label and taint); the agent running", async () => {
    const response = await cp.request<{
      metadata: { labels: Record<string, string> };
      spec: { taints?: { key: string; value?: string; effect: string }[] };
      status: { capacity: Record<string, string>; allocatable: Record<string, string> };
    }>("GET", `/api/v1/nodes/${node.name}`);
    const nodeObject = response.body;
    assert.equal(nodeObject.status.capacity["cmk.intel.com/exclusive-cores"], String(exclusiveCount));
    assert.equal(nodeObject.status.allocatable["cmk.intel.com/exclusive-cores"], String(exclusiveCount));
    assert.equal(nodeObject.metadata.labels["cmk.intel.com/cmk-node"], "true");
    assert.ok(nodeObject.spec.taints?.some((taint) => taint.key === "cmk" && taint.value === "true" && taint.effect === "NoSchedule"));
    const lists = await exclusiveLists();
    assert.equal(lists.size, exclusiveCount, "one exclusive list per exclusive core");
    for (const pids of lists.values()) assert.deepEqual(pids, [], "no list is held yet");
    const pods = await agentPods();
    assert.equal(pods.length, 1, "the DaemonSet runs one agent, on the cmk node");
    assert.equal(pods[0]?.spec.nodeName, node.name);
    assert.equal(pods[0]?.spec.hostPID, true);
    assert.equal(pods[0]?.status.phase, "Running");
    assert.deepEqual(
      pods[0]?.status.initContainerStatuses?.map((status) => [status.name, status.state.terminated?.exitCode]),
      [
        ["init", 0],
        ["install", 0],
        ["discover", 0],
      ],
      "install, init and discover ran in the agent's pod and succeeded",
    );
    assert.ok(readdirSync(installDir).includes("cmk"), "the install container put cmk into the host's install directory");
    assert.ok(
      readdirSync(installDir).some((entry) => entry.startsWith(".cmk-v")),
      "with its runtime",
    );
  });

  it("(2) a pod asking for one exclusive core runs pinned to the list the state records, and its deletion frees the list", async () => {
    const created = performance.now();
    await createPod(workloadPod("pinned", 1));
    const task = await checkPinned("pinned", new Set());
    figures.push(`pod created -> running pinned (its task recorded, its workload reporting its CPUs): ${((performance.now() - created) / 1000).toFixed(2)} s`);

    // Container exit -> list free, timed from the host: the process's end, then the state's.
    const deleted = performance.now();
    await deletePod("pinned");
    let exitedAt = 0;
    while (processRuns(task.pid)) {
      if (performance.now() - deleted > 30_000) assert.fail("the workload did not end within 30 s of its pod's deletion");
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    exitedAt = performance.now();
    let freedAt = 0;
    for (;;) {
      const pids = (await exclusiveLists()).get(task.list);
      if (pids !== undefined && pids.length === 0) {
        freedAt = performance.now();
        break;
      }
      if (performance.now() - exitedAt > 30_000) assert.fail(`list ${task.list} still held 30 s after its workload ended`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const exitToFree = Math.max(0, freedAt - exitedAt);
    figures.push(`pod deletion -> container exit: ${((exitedAt - deleted) / 1000).toFixed(2)} s; container exit -> list free: ${exitToFree.toFixed(0)} ms`);
    assert.ok(exitToFree <= 2000, `container exit -> list free took ${exitToFree.toFixed(0)} ms (goal: 1 s with the agent)`);
    await podGone("pinned");
  });

  it("(3) more pods than exclusive lists: the extra one waits Pending, no list is ever held twice", async () => {
    const names = Array.from({ length: exclusiveCount + 1 }, (_, i) => `many-${i}`);
    for (const name of names) await createPod(workloadPod(name, 1));
    const pending = await eventually(
      "all lists held and one pod unschedulable",
      async () => {
        const phases = await Promise.all(
          names.map(async (name) => {
            const pod = await cp.request<{ status?: { phase?: string; conditions?: { type: string; reason?: string; message?: string }[] } }>(
              "GET",
              `/api/v1/namespaces/${namespace}/pods/${name}`,
            );
            return { name, phase: pod.body.status?.phase, scheduled: pod.body.status?.conditions?.find((c) => c.type === "PodScheduled") };
          }),
        );
        const running = phases.filter((pod) => pod.phase === "Running");
        const waiting = phases.filter((pod) => pod.scheduled?.reason === "Unschedulable");
        return running.length === exclusiveCount && waiting.length === 1 ? waiting[0] : undefined;
      },
      90_000,
      250,
    );
    assert.match(pending?.scheduled?.message ?? "", /Insufficient cmk\.intel\.com\/exclusive-cores/);
    // Every running pod on a list of its own, as its container sees it.
    const lists = await exclusiveLists();
    const held = [...lists.entries()].filter(([, pids]) => pids.length > 0);
    assert.equal(held.length, exclusiveCount, "every list held");
    for (const [, pids] of held) assert.equal(pids.length, 1, "by one task each");
    const seen = new Set<string>();
    for (const name of names.filter((name) => name !== pending?.name)) {
      const report = await reportOf(name);
      assert.ok(lists.has(report.cpus) || [...lists.keys()].some((list) => CpuSet.parse(list).toString() === report.cpus), `${name} runs on a list`);
      assert.ok(!seen.has(report.cpus), `${name}'s CPUs ${report.cpus} are no other pod's`);
      seen.add(report.cpus);
    }
    // A freed list goes to the waiting pod.
    const first = names.find((name) => name !== pending?.name) ?? "";
    const known = await heldPids();
    await deletePod(first);
    await checkPinned(pending?.name ?? "", known);
    for (const name of names) await deletePod(name);
    for (const name of names) await podGone(name);
    await eventually("every list free", async () => ((await heldPids()).size === 0 ? true : undefined), 30_000);
  });

  it("(6) a node restart: running pods keep their CPUs, a new agent rebuilds its view, nothing is booked twice", async () => {
    await createPod(workloadPod("survivor", 1));
    const task = await checkPinned("survivor", new Set());
    const restarted = performance.now();
    await restartNode(node, "all");
    figures.push(`kubelet and containerd restart to node Ready: ${((performance.now() - restarted) / 1000).toFixed(1)} s`);
    assert.ok(processRuns(task.pid), "the workload survived the restart");
    assert.match(readFileSync(`/proc/${task.pid}/status`, "utf8"), new RegExp(`^Cpus_allowed_list:\\s+${CpuSet.parse(task.list).toString()}$`, "m"));
    await runningPod(cp, namespace, "survivor");

    // The agent replaced: its DaemonSet starts a new one, which must find the survivor's task.
    const oldAgent = (await agentPodName()) ?? "";
    await deletePod(oldAgent, "cmk");
    await podGone(oldAgent, "cmk");
    await agentServing(oldAgent);
    assert.deepEqual((await exclusiveLists()).get(task.list), [String(task.pid)], "the survivor still holds its list, alone");

    // Another pod: it gets another list, or waits when there is none.
    const known = await heldPids();
    await createPod(workloadPod("newcomer", 1));
    if (exclusiveCount > 1) {
      const other = await checkPinned("newcomer", known);
      assert.notEqual(other.list, task.list);
    } else {
      await eventually(
        "the newcomer unschedulable",
        async () => {
          const pod = await cp.request<{ status?: { conditions?: { type: string; reason?: string }[] } }>(
            "GET",
            `/api/v1/namespaces/${namespace}/pods/newcomer`,
          );
          return pod.body.status?.conditions?.some((c) => c.type === "PodScheduled" && c.reason === "Unschedulable") ? true : undefined;
        },
        30_000,
      );
    }
    // The new agent frees the survivor's list when it ends.
    await deletePod("survivor");
    await eventually(
      "the survivor's list free",
      async () => ((await exclusiveLists()).get(task.list)?.includes(String(task.pid)) ? undefined : true),
      30_000,
      50,
    );
    await deletePod("newcomer");
    await podGone("survivor");
    await podGone("newcomer");
  });

  it("(5) device-plugin mode: the kubelet registers the agent's plugin, counts and allocates cores per container, re-registers after a restart; pods and a static pod run pinned without the webhook", async () => {
    // The webhook goes: in this mode the kubelet gives containers what they need.
    const removed = await cp.request("DELETE", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/cmk-webhook");
    assert.equal(removed.status, 200, JSON.stringify(removed.body));

    // cluster-init --device-plugin's DaemonSet replaces the agent.
    const oldAgent = await agentPodName();
    const rolledOut = performance.now();
    await applyAgent(clusterInitSpec(clusterInitArgs("--device-plugin")));
    const agentPod = await agentServing(oldAgent);
    await eventually(
      "the agent's plugin registered with the kubelet",
      async () => (/registered cmk\.intel\.com\/exclusive-cores/.test(containerLog(node, "cmk", agentPod, "agent")) ? true : undefined),
      60_000,
      100,
    );
    figures.push(`device plugin: agent DaemonSet changed -> its plugin registered: ${((performance.now() - rolledOut) / 1000).toFixed(1)} s`);
    // The new pod's discover advertised the node again; its figure goes, so that only the kubelet's
    // (from ListAndWatch) can bring it back.
    const patched = await cp.request(
      "PATCH",
      `/api/v1/nodes/${node.name}/status`,
      [
        { op: "remove", path: "/status/capacity/cmk.intel.com~1exclusive-cores" },
        { op: "remove", path: "/status/allocatable/cmk.intel.com~1exclusive-cores" },
      ],
      { contentType: "application/json-patch+json" },
    );
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    const removedAt = performance.now();
    await eventually(
      "the kubelet advertising the plugin's devices",
      async () => {
        const response = await cp.request<{ status: { capacity: Record<string, string>; allocatable: Record<string, string> } }>(
          "GET",
          `/api/v1/nodes/${node.name}`,
        );
        const { capacity, allocatable } = response.body.status;
        return capacity["cmk.intel.com/exclusive-cores"] === String(exclusiveCount) && allocatable["cmk.intel.com/exclusive-cores"] === String(exclusiveCount)
          ? true
          : undefined;
      },
      90_000,
      200,
    );
    figures.push(`device plugin: discover's figure removed -> the kubelet's: ${((performance.now() - removedAt) / 1000).toFixed(1)} s`);
    assert.ok(readdirSync(node.deviceDir).includes("cmk-exclusive-cores.sock"), "the plugin serves in the kubelet's directory");
    const checkpoint = readFileSync(join(node.deviceDir, "kubelet_internal_checkpoint"), "utf8");
    assert.match(checkpoint, /cmk\.intel\.com\/exclusive-cores/, "the kubelet recorded the plugin's devices");

    // A pod of its own, no webhook: only the toleration of cmk's taint and the request.
    const plain = (name: string): JsonObject => workloadPod(name, 1, { tolerations: [cmkToleration] });
    await createPod(plain("plugged"));
    const task = await checkPinned("plugged", new Set());
    await deletePod("plugged");
    await eventually("the plugged pod's list free", async () => ((await exclusiveLists()).get(task.list)?.length === 0 ? true : undefined), 30_000, 50);
    await podGone("plugged");

    // A kubelet restart removes the plugin's socket; the plugin serves and registers again.
    const restarted = performance.now();
    await restartNode(node, "kubelet");
    // Pods the kubelet admits before the plugin is back fail (UnexpectedAdmissionError), as with any
    // device plugin: wait for the kubelet to watch the plugin's devices again.
    await eventually(
      "the kubelet watching the plugin again",
      async () => ((containerLog(node, "cmk", (await agentPodName()) ?? "", "agent").match(/the kubelet watches/g) ?? []).length >= 2 ? true : undefined),
      30_000,
      100,
    );
    await createAdmitted(plain("replugged"));
    await checkPinned("replugged", new Set());
    figures.push(`device plugin: kubelet restart to a pod pinned through the re-registered plugin: ${((performance.now() - restarted) / 1000).toFixed(1)} s`);
    const agentLog = containerLog(node, "cmk", (await agentPodName()) ?? "", "agent");
    assert.ok((agentLog.match(/registered cmk\.intel\.com\/exclusive-cores/g) ?? []).length >= 2, `registered twice:\n${agentLog}`);
    await deletePod("replugged");
    await podGone("replugged");
    await eventually("every list free", async () => ((await heldPids()).size === 0 ? true : undefined), 30_000);

    // A static pod: the kubelet reads it from its manifest directory; no admission webhook sees it.
    const manifest = workloadPod("static-pinned", 1);
    writeFileSync(join(node.staticPodPath, "static-pinned.json"), JSON.stringify(manifest));
    const staticName = `static-pinned-${node.name}`;
    await checkPinned(staticName, new Set());
    rmSync(join(node.staticPodPath, "static-pinned.json"));
    await podGone(staticName);
    await eventually("the static pod's list free", async () => ((await heldPids()).size === 0 ? true : undefined), 30_000, 50);
  });

  it("(4) beside the kubelet's static CPU manager: with cmk's CPUs and an infra core reserved, Guaranteed pods never get cmk's CPUs and cmk pods still pin; otherwise node-report flags the Guaranteed pod on cmk's exclusive CPUs", async () => {
    const lists = await exclusiveLists();
    const exclusiveCpus = CpuSet.of([...lists.keys()].flatMap((list) => CpuSet.parse(list).ids));
    const infraCpus = hostNode().topology.online.difference(exclusiveCpus); // shared is empty here
    const store = [`--kubeconfig=${agentKubeconfig}`, "--namespace=cmk", `--node-name=${node.name}`];
    // The node carries cmk's taint (discover): only pods that tolerate it land there.
    const guaranteed = (name: string): JsonObject =>
      testPod(
        name,
        { command: ["/workload"], resources: { requests: { cpu: "1", memory: "32Mi" }, limits: { cpu: "1", memory: "32Mi" } } },
        { tolerations: [cmkToleration] },
      );
    const watchedAgain = async (count: number) =>
      eventually(
        "the kubelet watching the plugin again",
        async () => ((containerLog(node, "cmk", (await agentPodName()) ?? "", "agent").match(/the kubelet watches/g) ?? []).length >= count ? true : undefined),
        30_000,
        100,
      );
    const watches = async () => (containerLog(node, "cmk", (await agentPodName()) ?? "", "agent").match(/the kubelet watches/g) ?? []).length;

    // Where they do not fight: the kubelet keeps cmk's exclusive (and shared) CPUs reserved, so it
    // never hands them to a Guaranteed pod, and one infra core too, so that its shared pool (every
    // other container's cpuset) always has a CPU that is not cmk's. cmk's pods run in that shared
    // pool, which has their lists. Guaranteed pods get the other infra CPUs, or wait when there are none.
    const keptInfraCore = hostNode().topology.cores.find((core) => core.cpus.isSubsetOf(infraCpus));
    assert.ok(keptInfraCore, "an infra core");
    const reserved = exclusiveCpus.union(keptInfraCore.cpus);
    const forGuaranteed = infraCpus.difference(keptInfraCore.cpus);
    let seen = await watches();
    await nodeScript("cpu-manager", node.dir, "static", reserved.toString());
    await watchedAgain(seen + 1);
    await createPod(guaranteed("guaranteed-ok"));
    if (forGuaranteed.isEmpty) {
      await eventually(
        "the Guaranteed pod waiting for CPUs the kubelet may give",
        async () => {
          const pod = await cp.request<{ status?: { conditions?: { type: string; reason?: string; message?: string }[] } }>(
            "GET",
            `/api/v1/namespaces/${namespace}/pods/guaranteed-ok`,
          );
          const scheduled = pod.body.status?.conditions?.find((c) => c.type === "PodScheduled");
          return scheduled?.reason === "Unschedulable" && /Insufficient cpu/.test(scheduled.message ?? "") ? true : undefined;
        },
        30_000,
      );
    } else {
      await runningPod(cp, namespace, "guaranteed-ok");
      const kubeletPinned = await reportOf("guaranteed-ok");
      assert.ok(
        CpuSet.parse(kubeletPinned.cpuset).isSubsetOf(forGuaranteed),
        `the kubelet gave the Guaranteed pod ${kubeletPinned.cpuset}, not within ${forGuaranteed}`,
      );
    }
    await createAdmitted(workloadPod("pinned-beside", 1, { tolerations: [cmkToleration] }));
    await checkPinned("pinned-beside", new Set());
    const calm = await cmk(["node-report", ...store]);
    assert.doesNotMatch(calm.stdout, /is no cmk task/, calm.stdout);
    for (const name of ["guaranteed-ok", "pinned-beside"]) await deletePod(name);
    for (const name of ["guaranteed-ok", "pinned-beside"]) await podGone(name);

    // Where they fight: the kubelet reserves cmk's infra CPUs and pins a Guaranteed pod onto an
    // exclusive one; node-report says so and fails.
    seen = await watches();
    await nodeScript("cpu-manager", node.dir, "static", infraCpus.toString());
    await watchedAgain(seen + 1);
    await createPod(guaranteed("guaranteed-clash"));
    await runningPod(cp, namespace, "guaranteed-clash");
    const clash = await reportOf("guaranteed-clash", "app");
    assert.ok(CpuSet.parse(clash.cpuset).intersection(exclusiveCpus).size > 0, `the kubelet gave ${clash.cpuset}`);
    const flagged = await cmk(["node-report", ...store]);
    assert.equal(flagged.code, 10, flagged.stderr);
    assert.match(flagged.stdout, /is confined by its cpuset cgroup to CPUs [^"]*, exclusive CPUs [^"]* among them, and is no cmk task/);
    await deletePod("guaranteed-clash");
    await podGone("guaranteed-clash");
    seen = await watches();
    await nodeScript("cpu-manager", node.dir, "none");
    await watchedAgain(seen + 1);
  });

  it("(7) cmk uninstall --cluster takes cmk off the node: its pod removes the installed cmk from the host and nothing else there, then every object goes", async () => {
    writeFileSync(join(installDir, "keep-me"), "not cmk's\n");
    const started = performance.now();
    // --force: earlier tests' pods may still be ending; the refusal itself is tested in cluster-init.test.ts.
    const run = await collect(spawnCmk(["uninstall", "--cluster", `--kubeconfig=${cp.kubeconfig}`, "--namespace=cmk", "--force", "--timeout=120"]));
    figures.push(`uninstall --cluster with the node's pod: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, new RegExp(`${node.name}: cmk removed from ${installDir.replaceAll("/", "\\/")}`));
    const left = readdirSync(installDir);
    assert.deepEqual(
      left.filter((entry) => entry === "cmk" || entry.startsWith(".cmk-")),
      [],
      `the launcher and its runtime are gone: ${left.join(" ")}`,
    );
    assert.ok(left.includes("keep-me"), "a file that is not cmk's stays");
    const pods = await cp.request<{ items: unknown[] }>("GET", "/api/v1/namespaces/cmk/pods?labelSelector=app.kubernetes.io%2Fname%3Dcmk-uninstall");
    assert.deepEqual(pods.body.items, [], "uninstall deleted its pods");
    assert.equal((await cp.request("GET", "/apis/apps/v1/namespaces/cmk/daemonsets/cmk-agent")).status, 404);
    const nodeObject = await cp.request<{ metadata: { labels: Record<string, string> } }>("GET", `/api/v1/nodes/${node.name}`);
    assert.equal(nodeObject.body.metadata.labels[agentNodeLabel], undefined, "the node's agent label is gone");
  });
});

interface ContainerStatus {
  name: string;
  state: { terminated?: { exitCode: number; reason?: string }; waiting?: { reason?: string; message?: string } };
  restartCount?: number;
  ready?: boolean;
}

interface AgentPod {
  metadata: { name: string; deletionTimestamp?: string };
  spec: { hostPID?: boolean; nodeName?: string };
  status: { phase?: string; initContainerStatuses?: ContainerStatus[]; containerStatuses?: ContainerStatus[] };
}

/** cmk cluster-init's flags for the test node: its image, not pulled; the test's install directory; every core but one exclusive. */
function clusterInitArgs(...extra: string[]): string[] {
  return [
    `--host-list=${node.name}`,
    `--cmk-img=${images.cmk}`,
    "--cmk-img-pol=Never",
    `--install-dir=${installDir}`,
    `--num-exclusive-cores=${exclusiveCount}`,
    "--num-shared-cores=0",
    ...extra,
  ];
}

/** Applies the agent's DaemonSet for `spec`, as the test cluster needs it. */
async function applyAgent(spec: ClusterSpec): Promise<void> {
  const applied = await cp.kubectl(["apply", "-f", "-"], { input: JSON.stringify(testAgentDaemonSet(spec, testPaths)) });
  assert.equal(applied.code, 0, applied.stderr);
}

/** Waits for an agent pod other than `previous` to run, ready, with its socket in place; its name. On
 * timeout, says where each of its containers got to and what they wrote. */
async function agentServing(previous: string | undefined): Promise<string> {
  try {
    return await eventually(
      "the agent's init containers done and the agent ready, serving on its socket",
      async () => {
        const pod = (await agentPods()).find((candidate) => candidate.metadata.name !== previous && candidate.metadata.deletionTimestamp === undefined);
        // Ready: its readiness probe (the metrics server's /readyz) says a pass succeeded.
        const agent = pod?.status.containerStatuses?.find((status) => status.name === "agent");
        const ready = pod?.status.phase === "Running" && agent?.ready === true && readdirSafe(agentDir).includes("agent.sock");
        return ready ? pod.metadata.name : undefined;
      },
      120_000,
      200,
    );
  } catch (error) {
    const report = (await agentPods()).map((pod) => {
      const statuses = [...(pod.status.initContainerStatuses ?? []), ...(pod.status.containerStatuses ?? [])];
      const containers = statuses.map(
        (status) =>
          `  ${status.name}: ${JSON.stringify(status.state)} restarts ${status.restartCount ?? 0}\n${containerLog(node, "cmk", pod.metadata.name, status.name)
            .split("\n")
            .slice(-15)
            .map((line) => `    ${line}`)
            .join("\n")}`,
      );
      return `${pod.metadata.name} (${pod.status.phase}):\n${containers.join("\n")}`;
    });
    throw new Error(`${(error as Error).message}\n${report.join("\n") || "no agent pod"}`, { cause: error });
  }
}

/** The pods of the agent's DaemonSet. */
async function agentPods(): Promise<AgentPod[]> {
  const pods = await cp.request<{ items: AgentPod[] }>("GET", "/api/v1/namespaces/cmk/pods?labelSelector=app.kubernetes.io%2Fname%3Dcmk-agent");
  return pods.body.items;
}

async function agentPodName(): Promise<string | undefined> {
  return (await agentPods()).find((pod) => pod.status.phase === "Running")?.metadata.name;
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
