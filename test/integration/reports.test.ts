// Published reports (node-report and reconcile --publish) against a real API server: the CRDs of
// deploy/crds.yaml, one object per node created and then updated in place only when its content
// changes, printer columns that make `kubectl get` useful, and a clear error when the cluster
// lacks the definitions.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { it } from "node:test";
import { startAgent } from "../helpers/agent.ts";
import { collect, repoRoot, runCmk, scratchDir, spawnCmk } from "../helpers/cmk.ts";
import { eventually, type KubeObject, useControlPlane } from "../helpers/controlplane.ts";

const cp = useControlPlane();
const scratch = scratchDir("reports");
const crds = join(repoRoot, "deploy", "crds.yaml");

interface Report extends KubeObject {
  spec: { report: Record<string, unknown> };
  status?: Record<string, unknown>;
}

const storeFlags = (node: string): string[] => [`--kubeconfig=${cp().kubeconfig}`, `--node-name=${node}`];

async function report(plural: string, node: string): Promise<Report | null> {
  const response = await cp().request<Report>("GET", `/apis/intel.com/v1/namespaces/default/${plural}/${node}`);
  return response.status === 404 ? null : response.body;
}

/** A report once both of its writes have landed: the object is created first, its status after. */
function published(plural: string, node: string): Promise<Report> {
  return eventually(`the ${plural} of ${node} with its status`, async () => {
    const found = await report(plural, node);
    return found?.status === undefined ? undefined : found;
  });
}

it("without the report definitions, --publish says what to apply and exits 11", () => {
  assert.equal(runCmk(["init", "--num-exclusive-cores=1", "--num-shared-cores=0", ...storeFlags("no-crds")]).status, 0);
  const run = runCmk(["reconcile", "--publish", ...storeFlags("no-crds")]);
  assert.equal(run.status, 11, run.stderr);
  assert.match(run.stderr, /does not serve cmk-reconcilereports\.intel\.com: have an administrator apply .*kubectl apply -f deploy\/crds\.yaml/);
});

it("the definitions of deploy/crds.yaml are accepted as apiextensions.k8s.io/v1 and become established", async () => {
  const applied = await cp().kubectl(["apply", "-f", crds]);
  assert.equal(applied.code, 0, applied.stderr);
  for (const name of ["cmk-nodereports.intel.com", "cmk-reconcilereports.intel.com"]) {
    await eventually(`${name} established`, async () => {
      const crd = await cp().request<{ status?: { conditions?: { type: string; status: string }[] } }>(
        "GET",
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`,
      );
      return crd.body.status?.conditions?.some((c) => c.type === "Established" && c.status === "True") === true ? true : undefined;
    });
  }
});

it("node-report --publish creates the node's report, leaves it alone while nothing changes, and updates it in place", async () => {
  const node = "rep-node";
  assert.equal(runCmk(["init", "--num-exclusive-cores=1", "--num-shared-cores=0", ...storeFlags(node)]).status, 0);
  const first = runCmk(["node-report", "--publish", ...storeFlags(node)]);
  assert.ok(first.status === 0 || first.status === 10, first.stderr);
  const created = await report("cmk-nodereports", node);
  assert.ok(created !== null, "no report object");
  assert.deepEqual(Object.keys(created.spec.report).sort(), ["checks", "description", "topology"]);
  assert.equal(created.status?.["node"], node);
  assert.equal(created.status?.["exclusiveFree"], 1);
  assert.equal(created.status?.["exclusiveHeld"], 0);
  assert.equal(created.status?.["pools"], "exclusive,infra,shared");

  runCmk(["node-report", "--publish", ...storeFlags(node)]);
  assert.equal((await report("cmk-nodereports", node))?.metadata.resourceVersion, created.metadata.resourceVersion, "rewritten without a change");

  // An isolate holds the exclusive list while the report runs: same object, new content.
  const marker = join(scratch, "release");
  const holder = spawnCmk([
    "isolate",
    "--pool=exclusive",
    ...storeFlags(node),
    "--",
    "sh",
    "-c",
    `echo started; while [ ! -e ${marker} ]; do sleep 0.05; done`,
  ]);
  const held = collect(holder);
  await new Promise<void>((resolve) => holder.stdout?.once("data", () => resolve()));
  try {
    runCmk(["node-report", "--publish", ...storeFlags(node)]);
  } finally {
    writeFileSync(marker, "");
  }
  assert.equal((await held).status, 0);
  const updated = await report("cmk-nodereports", node);
  assert.equal(updated?.metadata["uid"], created.metadata["uid"], "deleted and recreated");
  assert.equal(updated?.status?.["exclusiveHeld"], 1);
  assert.equal(updated?.status?.["exclusiveFree"], 0);

  const table = await cp().kubectl(["get", "cmk-nodereports", node]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^NAME\s+NODE\s+POOLS\s+EXCLUSIVE-FREE\s+EXCLUSIVE-HELD\s+PROBLEMS\s+UPDATED/);
  assert.match(table.stdout, new RegExp(`\\n${node}\\s+${node}\\s+exclusive,infra,shared\\s+0\\s+1\\s+\\d+\\s+\\S+`));
  assert.equal((await cp().kubectl(["get", "cmk-nr", node, "-o", "name"])).stdout.trim(), `cmk-nodereport.intel.com/${node}`);
});

it("reconcile --publish reports what it freed; in a loop it writes only when the report changes", async () => {
  const node = "rep-reconcile";
  assert.equal(runCmk(["init", "--num-exclusive-cores=1", "--num-shared-cores=0", ...storeFlags(node)]).status, 0);
  const loop = spawnCmk(["reconcile", "--publish", "--interval=0.1", ...storeFlags(node)]);
  const done = collect(loop);
  const first = await published("cmk-reconcilereports", node);
  assert.equal(first.status?.["reclaimed"], 0);
  assert.deepEqual(first.spec.report, { mismatchedCpuMasks: [], reclaimedCpuLists: [] });
  // About ten passes, none of which changes the report.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  assert.equal((await report("cmk-reconcilereports", node))?.metadata.resourceVersion, first.metadata.resourceVersion);
  loop.kill("SIGTERM");
  assert.equal((await done).status, 0);
});

it("cmk agent --publish, on the ConfigMap store, publishes both reports of its node: one process does the work of three", async () => {
  const node = "rep-agent";
  assert.equal(runCmk(["init", "--num-exclusive-cores=1", "--num-shared-cores=0", ...storeFlags(node)]).status, 0);
  const agent = await startAgent(join(scratch, "agent.sock"), ["--publish", "--interval=0.2", ...storeFlags(node)]);
  const nodeReport = await published("cmk-nodereports", node);
  const reconcileReport = await published("cmk-reconcilereports", node);
  assert.equal(nodeReport.status?.["exclusiveFree"], 1);
  assert.deepEqual(reconcileReport.spec.report, { mismatchedCpuMasks: [], reclaimedCpuLists: [] });
  // isolate on the same node goes through the agent, which writes the ConfigMap.
  const run = runCmk(["isolate", "--pool=infra", ...storeFlags(node), "--", "true"], { CMK_AGENT_SOCKET: agent.socket });
  assert.equal(run.status, 0, run.stderr);
  assert.equal((await agent.stop()).status, 0);
});
