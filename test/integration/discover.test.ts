// cmk discover against a real API server and scheduler: nodes advertise their exclusive CPU lists,
// carry the cmk label and taint, a second run changes nothing, and the scheduler places pods that
// ask for exclusive cores only where they fit and are tolerated.
import assert from "node:assert/strict";
import { join } from "node:path";
import { it } from "node:test";
import { fixtureEnv, runCmk, scratchDir } from "../helpers/cmk.ts";
import { eventually, type KubeObject, useControlPlane } from "../helpers/controlplane.ts";

const cp = useControlPlane();
const scratch = scratchDir("discover");
const sysfs = { CMK_DEV_LSCPU_SYSFS: fixtureEnv("server-4s256", join(scratch, "server-4s256"))["CMK_DEV_LSCPU_SYSFS"] as string };
const EXCLUSIVE = "cmk.intel.com/exclusive-cores";
const NON_ISOLCPUS = "cmk.intel.com/exclusive-non-isolcpus-cores";

interface NodeObject extends KubeObject {
  spec: { taints?: { key: string; value?: string; effect: string }[] };
  status: { capacity: Record<string, string>; allocatable: Record<string, string> };
}

interface Pod extends KubeObject {
  spec: { nodeName?: string };
  status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

function cmk(node: string, args: readonly string[]) {
  return runCmk([...args, `--kubeconfig=${cp().kubeconfig}`, `--node-name=${node}`], sysfs);
}

async function getNode(name: string): Promise<NodeObject> {
  const response = await cp().request<NodeObject>("GET", `/api/v1/nodes/${name}`);
  assert.equal(response.status, 200);
  return response.body;
}

it("advertises the exclusive lists, labels and taints the node, keeps other taints, and a second run changes nothing", async () => {
  await cp().registerNode("worker-a", { capacity: {}, taints: [{ key: "example.com/gpu", value: "yes", effect: "NoSchedule" }] });
  const init = cmk("worker-a", ["init", "--num-exclusive-cores=3", "--num-shared-cores=1", "--excl-non-isolcpus=20,21"]);
  assert.equal(init.status, 0, init.stderr);
  const first = cmk("worker-a", ["discover"]);
  assert.equal(first.status, 0, first.stderr);
  const node = await getNode("worker-a");
  assert.equal(node.status.capacity[EXCLUSIVE], "3");
  assert.equal(node.status.allocatable[EXCLUSIVE], "3");
  assert.equal(node.status.capacity[NON_ISOLCPUS], "2");
  assert.equal((node.metadata["labels"] as Record<string, string>)["cmk.intel.com/cmk-node"], "true");
  assert.deepEqual(node.spec.taints, [
    { key: "example.com/gpu", value: "yes", effect: "NoSchedule" },
    { key: "cmk", value: "true", effect: "NoSchedule" },
  ]);
  // Idempotent: nothing is sent, so the object's version stays.
  const second = cmk("worker-a", ["discover"]);
  assert.equal(second.status, 0, second.stderr);
  assert.match(second.stderr, /nothing to change/);
  assert.equal((await getNode("worker-a")).metadata.resourceVersion, node.metadata.resourceVersion);
});

it("--no-taint leaves the taints alone; a node the cluster lacks is a clear error", async () => {
  await cp().registerNode("worker-b", { capacity: {} });
  assert.equal(cmk("worker-b", ["init", "--num-exclusive-cores=2", "--num-shared-cores=1"]).status, 0);
  const run = cmk("worker-b", ["discover", "--no-taint"]);
  assert.equal(run.status, 0, run.stderr);
  const node = await getNode("worker-b");
  assert.equal(node.status.capacity[EXCLUSIVE], "2");
  assert.equal(node.status.capacity[NON_ISOLCPUS], undefined);
  assert.equal(node.spec.taints, undefined);

  assert.equal(cmk("worker-missing", ["init", "--num-exclusive-cores=1", "--num-shared-cores=1"]).status, 0);
  const missing = cmk("worker-missing", ["discover"]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /the cluster has no node worker-missing; check --node-name/);
});

it("the scheduler places exclusive-core pods only on tolerated nodes with room, and says why it cannot place the rest", async () => {
  for (const [name, cores] of [
    ["sched-4", 4],
    ["sched-2", 2],
  ] as const) {
    await cp().registerNode(name, { capacity: {} });
    assert.equal(cmk(name, ["init", `--num-exclusive-cores=${cores}`, "--num-shared-cores=1"]).status, 0);
    assert.equal(cmk(name, ["discover"]).status, 0);
  }
  const ns = "discover-scheduling";
  await cp().createNamespace(ns);
  const pod = (name: string, cores: number, tolerate: boolean): unknown => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name },
    spec: {
      containers: [{ name: "app", image: "registry.invalid/app:1", resources: { limits: { [EXCLUSIVE]: String(cores) } } }],
      tolerations: tolerate ? [{ key: "cmk", operator: "Equal", value: "true", effect: "NoSchedule" }] : [],
      // Only the nodes this test made: other tests' nodes advertise cores too.
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: ["sched-4", "sched-2"] }] }],
          },
        },
      },
    },
  });
  const podsPath = `/api/v1/namespaces/${ns}/pods`;
  for (const [name, cores, tolerate] of [
    ["three", 3, true],
    ["untolerated", 1, false],
    ["too-many", 5, true],
  ] as const) {
    const created = await cp().request("POST", podsPath, pod(name, cores, tolerate));
    assert.equal(created.status, 201, JSON.stringify(created.body));
  }
  const placed = await eventually("pod three to be bound", async () => (await cp().request<Pod>("GET", `${podsPath}/three`)).body.spec.nodeName);
  assert.equal(placed, "sched-4");
  for (const [name, why] of [
    ["untolerated", /had untolerated taint/],
    ["too-many", new RegExp(`Insufficient ${EXCLUSIVE.replace(".", "\\.")}`)],
  ] as const) {
    const message = await eventually(`pod ${name} to be marked unschedulable`, async () => {
      const response = await cp().request<Pod>("GET", `${podsPath}/${name}`);
      assert.equal(response.body.spec.nodeName, undefined, `${name} was placed`);
      return response.body.status?.conditions?.find((c) => c.type === "PodScheduled" && c.reason === "Unschedulable")?.message;
    });
    assert.match(message, why, `${name}: ${message}`);
  }
});
