// cmk reconfigure_setup against a real control plane, run as cluster-init's account: a node's real
// `cmk agent` (the ConfigMap store, run here as the node agent's account, as its pod would) answers
// the request on its reconcile pass while workloads hold lists through it, keeping one task and
// moving another; a layout the running tasks do not fit is refused and changes nothing; where no
// agent answers, a host-PID pod is started on the node, and `cmk reconfigure --from-request` (what
// that pod runs) answers in its place. Nodes are carved from a fixed fixture, so the counts do not
// depend on this machine; workloads run with --no-affinity for the same reason.
import assert from "node:assert/strict";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { type RunningAgent, startAgent } from "../helpers/agent.ts";
import { clusterAccounts } from "../helpers/cluster.ts";
import { collect, fixtureEnv, runCmk, scratchDir, spawnCmk, waitFor } from "../helpers/cmk.ts";
import { useControlPlane } from "../helpers/controlplane.ts";

const cp = useControlPlane();
const scratch = scratchDir("reconfigure-setup");
const sysfs = { CMK_DEV_LSCPU_SYSFS: fixtureEnv("server-4s256", join(scratch, "server-4s256"))["CMK_DEV_LSCPU_SYSFS"] as string };

/** The task PIDs cmk describe shows on the node's lists. */
function taskCount(node: string): number {
  const described = runCmk(["describe", `--kubeconfig=${cp().kubeconfig}`, "--namespace=cmk", `--node-name=${node}`]);
  return (described.stdout.match(/"tasks": \[\n\s+\d+/g) ?? []).length;
}

describe("cmk reconfigure_setup", () => {
  let initAs = "";
  let agentAs = "";
  const flags = (node: string): string[] => [`--kubeconfig=${agentAs}`, "--namespace=cmk", `--node-name=${node}`];

  before(async () => {
    const accounts = await clusterAccounts(cp(), scratch, ["rs-1", "rs-2"]);
    initAs = accounts.clusterInit.kubeconfig;
    agentAs = accounts.nodeAgent.kubeconfig;
    for (const node of ["rs-1", "rs-2"]) {
      const init = runCmk(["init", ...flags(node), "--num-exclusive-cores=4", "--num-shared-cores=1"], sysfs);
      assert.equal(init.status, 0, init.stderr);
    }
  });

  describe("through the node's agent", () => {
    let agent: RunningAgent;
    const socket = join(scratch, "agent.sock");
    const workloads: ReturnType<typeof spawnCmk>[] = [];

    before(async () => {
      agent = await startAgent(socket, [...flags("rs-1"), "--interval=0.5"], sysfs);
      for (const pool of ["exclusive", "shared"]) {
        workloads.push(spawnCmk(["isolate", `--pool=${pool}`, "--no-affinity", "--", "sleep", "120"], { CMK_AGENT_SOCKET: socket }));
      }
      await waitFor("two tasks through the agent", () => (taskCount("rs-1") === 2 ? true : undefined));
    });

    it("keeps the exclusive task on its list and moves the shared one, reporting both", async () => {
      const run = await collect(
        spawnCmk(["reconfigure_setup", `--kubeconfig=${initAs}`, "--host-list=rs-1", "--num-exclusive-cores=2", "--num-shared-cores=2", "--timeout=60"]),
      );
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stderr, /INFO:cmk:asked 1 node\(s\) to reconfigure \(request [\w-]+\): rs-1\n/);
      assert.match(run.stderr, /INFO:cmk:rs-1: reconfigured: 1 task\(s\) kept, 1 moved \(task \d+ shared [\d,-]+ -> [\d,-]+\)\n/);
      assert.match(agent.stderr(), /reconfigure request [\w-]+: done/);
      assert.equal(taskCount("rs-1"), 2);
    });

    it("refuses a layout the running tasks do not fit, changing nothing (exit 7)", async () => {
      const before = runCmk(["describe", `--kubeconfig=${cp().kubeconfig}`, "--namespace=cmk", "--node-name=rs-1"]).stdout;
      const run = await collect(spawnCmk(["reconfigure_setup", `--kubeconfig=${initAs}`, "--host-list=rs-1", "--num-exclusive-cores=0", "--timeout=60"]));
      assert.equal(run.status, 7, run.stderr);
      assert.match(run.stderr, /INFO:cmk:rs-1: refused, nothing changed: the new layout has 0 exclusive CPU lists but running tasks \(\d+\) hold 1/);
      assert.equal(runCmk(["describe", `--kubeconfig=${cp().kubeconfig}`, "--namespace=cmk", "--node-name=rs-1"]).stdout, before);
    });

    it("stops the workloads and the agent", async () => {
      for (const workload of workloads) workload.kill("SIGTERM");
      await Promise.all(workloads.map((workload) => new Promise((resolve) => (workload.exitCode === null ? workload.once("exit", resolve) : resolve(null)))));
      const stopped = await agent.stop();
      assert.equal(stopped.status, 0, stopped.stderr);
    });
  });

  describe("where no agent answers", () => {
    it("starts a host-PID pod on the node, and names the node when its time is up (exit 12)", async () => {
      const run = await collect(spawnCmk(["reconfigure_setup", `--kubeconfig=${initAs}`, "--host-list=rs-2", "--agent-wait=0.5", "--timeout=3"]));
      assert.equal(run.status, 12, run.stderr);
      assert.match(run.stderr, /INFO:cmk:rs-2: no agent answered within 0\.5 s; started pod cmk\/cmk-reconfigure-rs-2 to run cmk reconfigure --from-request\n/);
      assert.match(
        run.stderr,
        /^ERROR:cmk:1 of 1 node\(s\) did not finish within 3 s: rs-2: no agent answered within 0\.5 s; reconfigure pod cmk-reconfigure-rs-2 Pending/m,
      );
      const pod = await cp().request<{ spec: { nodeName: string; hostPID: boolean; serviceAccountName: string; containers: { command: string[] }[] } }>(
        "GET",
        "/api/v1/namespaces/cmk/pods/cmk-reconfigure-rs-2",
      );
      assert.equal(pod.status, 200);
      assert.equal(pod.body.spec.nodeName, "rs-2");
      assert.equal(pod.body.spec.hostPID, true);
      assert.equal(pod.body.spec.serviceAccountName, "cmk-node-agent");
      assert.deepEqual(pod.body.spec.containers[0]?.command, ["/opt/bin/cmk", "reconfigure", "--from-request", "--namespace=cmk"]);
    });

    it("finishes once what that pod runs, cmk reconfigure --from-request, answers", async () => {
      const waiting = collect(
        spawnCmk(["reconfigure_setup", `--kubeconfig=${initAs}`, "--host-list=rs-2", "--num-exclusive-cores=3", "--agent-wait=0.5", "--timeout=60"]),
      );
      await waitFor("the reconfigure pod", async () =>
        (await cp().request("GET", "/api/v1/namespaces/cmk/pods/cmk-reconfigure-rs-2")).status === 200 ? true : undefined,
      );
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const answered = await collect(spawnCmk(["reconfigure", "--from-request", ...flags("rs-2")], sysfs));
      assert.equal(answered.status, 0, answered.stderr);
      const run = await waiting;
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stderr, /INFO:cmk:rs-2: reconfigured: 0 task\(s\) kept, 0 moved\n/);
      const described = runCmk(["describe", `--kubeconfig=${cp().kubeconfig}`, "--namespace=cmk", "--node-name=rs-2"]);
      assert.equal(Object.keys((JSON.parse(described.stdout) as { pools: { exclusive: { cpuLists: object } } }).pools.exclusive.cpuLists).length, 3);
    });
  });
});
