// cmk cluster-init and cmk uninstall --cluster against a real control plane, run as the service
// account deploy/cluster-init-rbac.yaml makes (a token minted for it): bad input changes nothing;
// --dry-run's objects and deploy/'s files are accepted by the API server's server-side dry run; a
// first run applies everything and names the nodes that did not finish (no kubelet runs the agent
// pods); a second changes no object's resourceVersion; it finishes when the nodes' states and
// advertisements appear (written by cmk init and cmk discover as the node agent's account, what
// the agent pod would run); objects that are not cmk's are refused or left; each account is
// allowed what it needs and denied a sample of the rest.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { clusterAccounts, identityOf } from "../helpers/cluster.ts";
import { collect, fixtureEnv, repoRoot, runCmk, scratchDir, spawnCmk, waitFor } from "../helpers/cmk.ts";
import { type ControlPlane, type KubeObject, useControlPlane } from "../helpers/controlplane.ts";
import { kubeconfigText } from "../helpers/kubeconfig.ts";

const cp = useControlPlane();
const scratch = scratchDir("cluster-init");
// Nodes carved from a fixed four-socket fixture, so the counts do not depend on this machine.
const sysfs = { CMK_DEV_LSCPU_SYSFS: fixtureEnv("server-4s256", join(scratch, "server-4s256"))["CMK_DEV_LSCPU_SYSFS"] as string };
const nodes = ["ci-1", "ci-2", "ci-3"];

/** A pod the API server would take, for requests that must be refused. */
const somePod = { apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, spec: { containers: [{ name: "c", image: "i" }] } };

/** A kubeconfig holding only a token minted for cmk/account. */
const tokenKubeconfig = (account: string) => identityOf(cp(), scratch, account);

async function status(path: string, token?: string, method = "GET", body?: unknown, contentType?: string): Promise<number> {
  const options = { ...(token === undefined ? {} : { token }), ...(contentType === undefined ? {} : { contentType }) };
  return (await cp().request(method, path, body, options)).status;
}

/** Adds a label to the object at `path` with a merge patch, as the token's owner. */
const label = (path: string, token: string): Promise<number> =>
  status(path, token, "PATCH", { metadata: { labels: { x: "y" } } }, "application/merge-patch+json");

const policyKey = "ValidatingAdmissionPolicy cmk-node-agent-own-node";

interface Container {
  name: string;
  image: string;
  imagePullPolicy?: string;
  command?: string[];
  volumeMounts?: unknown[];
}

interface DaemonSet {
  spec: { template: { spec: { initContainers: Container[]; volumes: { name: string; hostPath?: { path: string } }[] } } };
}

interface UninstallPod {
  metadata: { name: string };
  spec: { nodeName: string; restartPolicy: string; automountServiceAccountToken?: boolean; containers: Container[]; volumes: unknown[] };
}

/** uninstall --cluster's pods on the nodes, as the API server has them. */
async function uninstallPods(): Promise<UninstallPod[]> {
  const list = await cp().request<{ items: UninstallPod[] }>("GET", "/api/v1/namespaces/cmk/pods?labelSelector=app.kubernetes.io%2Fname%3Dcmk-uninstall");
  return list.body.items;
}

/** The node agent's policy as written (labels, spec), without what the server and its controllers keep. */
async function policyContent(): Promise<unknown> {
  const read = await cp().request<{ metadata: { labels: unknown }; spec: unknown }>(
    "GET",
    "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/cmk-node-agent-own-node",
  );
  return { labels: read.body.metadata.labels, spec: read.body.spec };
}

/** The versions once the controllers are done with the objects (two reads a second apart agree): a policy's type check, a Deployment's status. */
async function settledVersions(control: ControlPlane): Promise<Record<string, string>> {
  let previous = await versions(control);
  for (let tries = 0; tries < 20; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const now = await versions(control);
    if (JSON.stringify(now) === JSON.stringify(previous)) return now;
    previous = now;
  }
  throw new Error("the objects kept changing");
}

/** The resourceVersion of every object cluster-init makes, by kind and name. */
async function versions(control: ControlPlane): Promise<Record<string, string>> {
  const namespaced = await control.kubectl([
    "-n",
    "cmk",
    "get",
    "serviceaccounts,roles,rolebindings,configmaps,secrets,services,deployments,daemonsets,poddisruptionbudgets",
    "-l",
    "app.kubernetes.io/part-of=cmk",
    "-o",
    "json",
  ]);
  const cluster = await control.kubectl([
    "get",
    "clusterroles,clusterrolebindings,mutatingwebhookconfigurations,customresourcedefinitions,validatingadmissionpolicies,validatingadmissionpolicybindings",
    "-l",
    "app.kubernetes.io/part-of=cmk",
    "-o",
    "json",
  ]);
  // Not cluster-init's own account: an administrator applies it, and uninstall leaves it.
  const items = [namespaced, cluster]
    .flatMap((result) => (JSON.parse(result.stdout) as { items: KubeObject[] }).items)
    .filter((item) => item.metadata.name !== "cmk-cluster-init");
  return Object.fromEntries(items.map((item) => [`${item.kind} ${item.metadata.name}`, item.metadata.resourceVersion ?? ""]));
}

let initAs = "";
let agentAs = "";

/** Nodes, and deploy/'s accounts as an administrator applies them; run first inside each suite (a file-level hook would race the suites). */
async function setUp(): Promise<void> {
  if (initAs !== "") return;
  const accounts = await clusterAccounts(cp(), scratch, nodes);
  initAs = accounts.clusterInit.kubeconfig;
  agentAs = accounts.nodeAgent.kubeconfig;
}

function clusterInit(args: readonly string[]) {
  return runCmk(["cluster-init", `--kubeconfig=${initAs}`, ...args]);
}

describe("cmk cluster-init", () => {
  before(setUp);

  it("refuses bad input with one line and exit 2, before changing anything", async () => {
    const cases: [string[], RegExp][] = [
      [[], /choose the nodes: --host-list=<node>,<node>\.\.\. or --all-hosts/],
      [["--host-list=ci-1,nowhere"], /--host-list names a node the cluster does not have: nowhere/],
      [["--host-list=ci-1", "--all-hosts"], /not both/],
      [["--all-hosts", "--namespace=default"], /cmk needs a namespace of its own/],
      [["--all-hosts", "--cmk-cmd-list=discover,init"], /init must be listed first/],
      [["--all-hosts", "--cmk-cmd-list=init,reboot"], /"reboot" is not one of CMK's node commands/],
      [["--all-hosts", "--cmk-img-pol=Sometimes"], /expected one of Never, IfNotPresent, Always/],
      [["--all-hosts", "--num-exclusive-cores=-1"], /expected a whole number 0 or more/],
      [["--all-hosts", `--cafile=${join(scratch, "missing.pem")}`], /--cafile=.* cannot be read/],
    ];
    for (const [args, message] of cases) {
      const run = clusterInit(args);
      assert.equal(run.status, 2, `${args.join(" ")}: ${run.stderr}`);
      assert.match(run.stderr, message);
      assert.equal(run.stderr.trim().split("\n").length, 1, run.stderr);
    }
    assert.equal(await status("/apis/apps/v1/namespaces/cmk/daemonsets/cmk-agent"), 404);
    assert.equal(await status("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/cmk-nodereports.intel.com"), 404);
    assert.equal((await cp().kubectl(["get", "nodes", "-l", "cmk.intel.com/agent=true", "-o", "name"])).stdout, "");
  });

  it("--dry-run prints every object without contacting a cluster, and the API server accepts them (server-side dry run)", async () => {
    const run = runCmk(["cluster-init", "--dry-run", "--host-list=ci-1", "--num-exclusive-cores=2"]);
    assert.equal(run.status, 0, run.stderr);
    const kinds = [...run.stdout.matchAll(/^kind: (\w+)$/gm)].map((match) => match[1]);
    assert.deepEqual(kinds.slice(0, 4), ["Namespace", "CustomResourceDefinition", "CustomResourceDefinition", "ServiceAccount"]);
    assert.ok(kinds.includes("Secret") && kinds.includes("DaemonSet") && kinds.includes("MutatingWebhookConfiguration"));
    assert.match(run.stdout, /It would also label ci-1 cmk\.intel\.com\/agent=true/);
    const accepted = await cp().kubectl(["apply", "--dry-run=server", "-f", "-"], { input: run.stdout });
    assert.equal(accepted.code, 0, accepted.stderr);
    assert.equal(await status("/apis/apps/v1/namespaces/cmk/daemonsets/cmk-agent"), 404);
  });

  it("deploy/'s files are objects the API server accepts (server-side dry run)", async () => {
    const files = ["crds.yaml", "node-agent-rbac.yaml", "agent-daemonset.yaml", "webhook.yaml", "cluster-init-rbac.yaml", "cluster-init-job.yaml"];
    const accepted = await cp().kubectl(["apply", "--dry-run=server", ...files.flatMap((file) => ["-f", join(repoRoot, "deploy", file)])]);
    assert.equal(accepted.code, 0, accepted.stderr);
  });

  it("as its own account: applies everything, labels the chosen nodes, and names the nodes that did not finish when its time is up", async () => {
    const run = clusterInit(["--host-list=ci-1,ci-2", "--timeout=2", "--num-exclusive-cores=3", "--num-shared-cores=1"]);
    assert.equal(run.status, 12, run.stderr);
    // The node agent's account, roles and policy came from deploy/ (kubectl): the same content.
    assert.match(run.stderr, /applied 17 objects: 10 created, 0 changed, 7 unchanged/);
    assert.match(run.stderr, /INFO:cmk:node ci-1: labelled cmk\.intel\.com\/agent=true/);
    assert.match(
      run.stderr,
      /^ERROR:cmk:2 of 2 node\(s\) did not finish within 2 s: ci-1: not initialised yet; (no node agent pod on it yet|agent pod cmk-agent-\w+ Pending); ci-2: /m,
    );
    const labelled = await cp().kubectl(["get", "nodes", "-l", "cmk.intel.com/agent=true", "-o", "name"]);
    assert.equal(labelled.stdout, "node/ci-1\nnode/ci-2\n");
    const secret = await cp().request<{ type: string; data: Record<string, string> }>("GET", "/api/v1/namespaces/cmk/secrets/cmk-webhook-tls");
    const registration = await cp().request<{ webhooks: { clientConfig: { caBundle: string } }[] }>(
      "GET",
      "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/cmk-webhook",
    );
    assert.equal(registration.body.webhooks[0]?.clientConfig.caBundle, secret.body.data["ca.crt"]);
  });

  it("a second run changes nothing: every object keeps its resourceVersion (the policy its content)", async () => {
    const earlier = await settledVersions(cp());
    const policy = await policyContent();
    const run = clusterInit(["--host-list=ci-1,ci-2", "--timeout=0", "--num-exclusive-cores=3", "--num-shared-cores=1"]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, /applied 17 objects: 0 created, 0 changed, 17 unchanged/);
    // The API server may rewrite the policy's field ownership after its status writer (the type checker) applied
    // again, which moves its resourceVersion with no change of content: compare that one by content.
    const { [policyKey]: _before, ...others } = earlier;
    const { [policyKey]: _after, ...now } = await versions(cp());
    assert.deepEqual(now, others);
    assert.deepEqual(await policyContent(), policy);
    assert.equal(Object.keys(earlier).length, 17);
  });

  it("finishes once each node is initialised and advertised, printing each node's progress", async () => {
    const waiting = spawnCmk([
      "cluster-init",
      `--kubeconfig=${initAs}`,
      "--host-list=ci-1,ci-2",
      "--timeout=60",
      "--num-exclusive-cores=3",
      "--num-shared-cores=1",
    ]);
    const done = collect(waiting);
    // What the agent pod's init containers would run on each node, as the node agent's account.
    for (const node of ["ci-1", "ci-2"]) {
      const flags = [`--kubeconfig=${agentAs}`, "--namespace=cmk", `--node-name=${node}`];
      for (const args of [["init", "--keep-existing", "--num-exclusive-cores=3", "--num-shared-cores=1"], ["discover"]]) {
        const step = await collect(spawnCmk([...args, ...flags], sysfs));
        assert.equal(step.status, 0, step.stderr);
      }
    }
    const result = await done;
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stderr, /INFO:cmk:ci-1: initialised, 3 exclusive lists, advertised\n/);
    assert.match(result.stderr, /INFO:cmk:ci-2: initialised, 3 exclusive lists, advertised\n/);
    assert.match(result.stderr, /INFO:cmk:all 2 node\(s\) initialised\n$/);
  });

  it("refuses a second cmk in another namespace, naming the first, and writes nothing", async () => {
    await cp().createNamespace("cmk-other");
    const run = runCmk(["cluster-init", `--kubeconfig=${cp().kubeconfig}`, "--host-list=ci-3", "--namespace=cmk-other", "--timeout=0"]);
    assert.equal(run.status, 7, run.stderr);
    assert.match(run.stderr, /cmk is already set up in namespace cmk \(clusterrolebinding cmk-node-agent names it\)/);
    assert.equal(await status("/api/v1/namespaces/cmk-other/serviceaccounts/cmk-node-agent"), 404);
  });
});

describe("each account may do what it needs and nothing else", () => {
  before(setUp);

  it("cluster-init's: no Secret but its own, no pods elsewhere, no other objects by other names", async () => {
    const { token } = await tokenKubeconfig("cmk-cluster-init");
    await cp().kubectl(["-n", "cmk", "create", "secret", "generic", "someone-elses", "--from-literal=k=v"]);
    const apply = (path: string, object: unknown): Promise<number> =>
      status(`${path}?fieldManager=cmk`, token, "PATCH", object, "application/apply-patch+yaml");
    const denied: [string, Promise<number>][] = [
      ["list secrets", status("/api/v1/namespaces/cmk/secrets", token)],
      ["read another secret", status("/api/v1/namespaces/cmk/secrets/someone-elses", token)],
      ["create another secret", apply("/api/v1/namespaces/cmk/secrets/mine-now", { apiVersion: "v1", kind: "Secret", metadata: { name: "mine-now" } })],
      ["create a pod outside cmk's namespace", status("/api/v1/namespaces/default/pods", token, "POST", somePod)],
      // Its pods on the nodes (reconfigure's, uninstall's) are created, watched and deleted: never entered or read.
      ["exec in a pod of cmk's namespace", status("/api/v1/namespaces/cmk/pods/cmk-uninstall-ci-1/exec?command=sh&stdout=true", token, "POST")],
      ["read a pod's log", status("/api/v1/namespaces/cmk/pods/cmk-uninstall-ci-1/log", token)],
      [
        "create a DaemonSet by another name (CMK's uninstall DaemonSet)",
        apply("/apis/apps/v1/namespaces/cmk/daemonsets/cmk-uninstall-all-daemonset", {
          apiVersion: "apps/v1",
          kind: "DaemonSet",
          metadata: { name: "cmk-uninstall-all-daemonset" },
        }),
      ],
      ["read configmaps of kube-system", status("/api/v1/namespaces/kube-system/configmaps", token)],
      ["delete a node", status("/api/v1/nodes/ci-3", token, "DELETE")],
      [
        "update another webhook configuration",
        apply("/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/other", {
          apiVersion: "admissionregistration.k8s.io/v1",
          kind: "MutatingWebhookConfiguration",
          metadata: { name: "other" },
        }),
      ],
      [
        "bind cluster-admin",
        apply("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/mine", {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "ClusterRoleBinding",
          metadata: { name: "mine" },
        }),
      ],
    ];
    for (const [what, response] of denied) assert.equal(await response, 403, what);
  });

  it("the node agent's: no pods, no Secrets, not the webhook's configuration", async () => {
    const { token } = await tokenKubeconfig("cmk-node-agent");
    assert.equal(await status("/api/v1/namespaces/cmk/configmaps/cmk-config-ci-1", token), 200);
    for (const [what, response] of [
      ["create a pod", status("/api/v1/namespaces/cmk/pods", token, "POST", somePod)],
      ["read a secret", status("/api/v1/namespaces/cmk/secrets/cmk-webhook-tls", token)],
      ["update the webhook configuration", label("/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/cmk-webhook", token)],
      ["change the agent's DaemonSet", label("/apis/apps/v1/namespaces/cmk/daemonsets/cmk-agent", token)],
    ] as const) {
      assert.equal(await response, 403, what);
    }
  });

  it("the node agent's, from a token bound to its pod: its own node only (the ValidatingAdmissionPolicy of node-agent-rbac.yaml)", async () => {
    // The pod the kubelet would give the token to: bound to ci-1, as the DaemonSet's pod there.
    const pod = await cp().request<{ metadata: { uid: string } }>("POST", "/api/v1/namespaces/cmk/pods", {
      ...somePod,
      metadata: { name: "agent-on-ci-1" },
      spec: { ...somePod.spec, nodeName: "ci-1", serviceAccountName: "cmk-node-agent" },
    });
    assert.equal(pod.status, 201, JSON.stringify(pod.body));
    const minted = await cp().request<{ status: { token: string } }>("POST", "/api/v1/namespaces/cmk/serviceaccounts/cmk-node-agent/token", {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec: { expirationSeconds: 3600, boundObjectRef: { apiVersion: "v1", kind: "Pod", name: "agent-on-ci-1", uid: pod.body.metadata.uid } },
    });
    assert.equal(minted.status, 201, JSON.stringify(minted.body));
    const kubeconfig = join(scratch, "bound-agent.kubeconfig");
    writeFileSync(kubeconfig, kubeconfigText({ server: cp().server, ca: cp().caCert }, `    token: ${minted.body.status.token}\n`));
    const own = runCmk(["discover", `--kubeconfig=${kubeconfig}`, "--namespace=cmk", "--node-name=ci-1"]);
    assert.equal(own.status, 0, own.stderr);
    assert.equal(await label("/api/v1/nodes/ci-2", minted.body.status.token), 403);
    const other = runCmk(
      ["init", `--kubeconfig=${kubeconfig}`, "--namespace=cmk", "--node-name=ci-3", "--num-exclusive-cores=1", "--num-shared-cores=0"],
      sysfs,
    );
    assert.equal(other.status, 11, other.stderr);
    assert.match(other.stderr, /a node agent changes only its own node \(ci-1\), not configmaps cmk-config-ci-3/);
    assert.equal((await cp().request("DELETE", "/api/v1/namespaces/cmk/pods/agent-on-ci-1?gracePeriodSeconds=0")).status, 200);
  });

  it("the webhook's: nothing at all (it reads nothing; it answers the API server)", async () => {
    const { token } = await tokenKubeconfig("cmk-webhook");
    for (const [what, response] of [
      ["read pods", status("/api/v1/namespaces/cmk/pods", token)],
      ["read configmaps", status("/api/v1/namespaces/cmk/configmaps/cmk-webhook", token)],
      ["read its own secret", status("/api/v1/namespaces/cmk/secrets/cmk-webhook-tls", token)],
      ["list nodes", status("/api/v1/nodes", token)],
      ["patch a node", label("/api/v1/nodes/ci-1", token)],
      ["update its configuration", label("/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/cmk-webhook", token)],
    ] as const) {
      assert.equal(await response, 403, what);
    }
  });

  it("a workload's: it gets no account of cmk's, and its namespace's default one can write nothing of cmk's", async () => {
    await cp().createNamespace("workloads");
    const token = await cp().createToken("workloads", "default");
    assert.equal(
      await status("/api/v1/namespaces/cmk/configmaps/cmk-config-ci-1", token, "PUT", {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "cmk-config-ci-1" },
      }),
      403,
    );
    assert.equal(await status("/api/v1/nodes/ci-1/status", token, "PATCH", { status: {} }, "application/merge-patch+json"), 403);
  });
});

describe("cmk uninstall --cluster", () => {
  before(setUp);

  it("removes nothing while a node's state records tasks, naming them", async () => {
    const flags = [`--kubeconfig=${agentAs}`, "--namespace=cmk", "--node-name=ci-1"];
    const holder = spawnCmk(["isolate", ...flags, "--pool=exclusive", "--no-affinity", "--", "sleep", "30"], sysfs);
    const held = collect(holder);
    try {
      await waitFor("the task recorded", () => (/"tasks": \[\n\s+\d+/.test(runCmk(["describe", ...flags]).stdout) ? true : undefined));
      const run = runCmk(["uninstall", "--cluster", `--kubeconfig=${initAs}`]);
      assert.equal(run.status, 7, run.stderr);
      assert.match(run.stderr, /^ERROR:cmk:workloads hold cores, so nothing was removed: ci-1 holds 1 task\(s\); stop them .* or give --force\n$/);
      assert.equal(await status("/apis/apps/v1/namespaces/cmk/daemonsets/cmk-agent"), 200);
    } finally {
      holder.kill("SIGTERM");
      await held;
    }
  });

  it("removes what cluster-init made and cmk's marks on the nodes, leaves what is not cmk's, and a second run has nothing to do", async () => {
    await cp().kubectl(["-n", "cmk", "create", "configmap", "cmk-webhook-client-ca", "--from-literal=ca.crt=not cmk's"]);
    const agents = await cp().request<DaemonSet>("GET", "/apis/apps/v1/namespaces/cmk/daemonsets/cmk-agent");
    const install = agents.body.spec.template.spec.initContainers.find((container) => container.name === "install");
    assert.ok(install !== undefined);
    const installDir = agents.body.spec.template.spec.volumes.find((volume) => volume.name === "cmk-install-dir")?.hostPath?.path;
    assert.equal(installDir, "/opt/bin");
    // No kubelet runs the uninstall pods: they stay Pending until --timeout, and are looked at meanwhile.
    const waiting = spawnCmk(["uninstall", "--cluster", `--kubeconfig=${initAs}`, "--timeout=4"]);
    const done = collect(waiting);
    const pods = await waitFor("an uninstall pod on each labelled node", async () => {
      const items = await uninstallPods();
      return items.length === 2 ? items : undefined;
    });
    const run = await done;
    assert.deepEqual(pods.map((pod) => pod.spec.nodeName).sort(), ["ci-1", "ci-2"]);
    for (const pod of pods) {
      assert.equal(pod.metadata.name, `cmk-uninstall-${pod.spec.nodeName}`);
      assert.equal(pod.spec.restartPolicy, "Never");
      assert.equal(pod.spec.automountServiceAccountToken, false);
      assert.deepEqual(
        pod.spec.containers.map((container) => [container.image, container.imagePullPolicy, container.command, container.volumeMounts]),
        [
          [
            install.image,
            install.imagePullPolicy,
            ["/opt/bin/cmk", "uninstall", "--install-dir=/host/opt/bin"],
            [{ name: "cmk-install-dir", mountPath: "/host/opt/bin" }],
          ],
        ],
      );
      assert.deepEqual(pod.spec.volumes, [{ name: "cmk-install-dir", hostPath: { path: "/opt/bin", type: "Directory" } }]);
    }
    assert.equal(run.status, 12, run.stderr);
    assert.match(run.stderr, /INFO:cmk:ci-1: started pod cmk\/cmk-uninstall-ci-1 to remove cmk from \/opt\/bin\n/);
    assert.match(
      run.stderr,
      /^ERROR:cmk:2 of 2 node\(s\) did not finish within 4 s: ci-1: removing cmk from \/opt\/bin; pod cmk-uninstall-ci-1 Pending; ci-2: removing cmk from \/opt\/bin; pod cmk-uninstall-ci-2 Pending; everything else was removed; on each node named, run cmk uninstall --install-dir=\/opt\/bin there\n$/m,
    );
    // Everything else went all the same, and so did its own pods.
    assert.deepEqual(await uninstallPods(), []);
    assert.match(run.stderr, /WARNING:cmk:left, not cmk's: configmap cmk\/cmk-webhook-client-ca/);
    assert.match(run.stderr, /node ci-1: removed label cmk\.intel\.com\/agent, label cmk\.intel\.com\/cmk-node, taint cmk, cmk\.intel\.com\/exclusive-cores/);
    assert.deepEqual(await versions(cp()), {});
    assert.equal(await status("/api/v1/namespaces/cmk/configmaps/cmk-config-ci-1"), 404);
    assert.equal(await status("/api/v1/namespaces/cmk/configmaps/cmk-webhook-client-ca"), 200);
    const node = await cp().request<{
      metadata: { labels: Record<string, string> };
      spec: { taints?: unknown[] };
      status: { capacity: Record<string, string> };
    }>("GET", "/api/v1/nodes/ci-1");
    assert.equal(node.body.metadata.labels["cmk.intel.com/agent"], undefined);
    assert.deepEqual(node.body.spec.taints ?? [], []);
    assert.equal(node.body.status.capacity["cmk.intel.com/exclusive-cores"], undefined);
    const again = runCmk(["uninstall", "--cluster", `--kubeconfig=${cp().kubeconfig}`]);
    assert.equal(again.status, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /removed|started/);
  });

  it("cluster-init then refuses the object that is not cmk's, before writing anything", async () => {
    const ca = join(scratch, "client-ca.pem");
    writeFileSync(ca, cp().caCert);
    const run = runCmk(["cluster-init", `--kubeconfig=${cp().kubeconfig}`, "--host-list=ci-3", `--cafile=${ca}`, "--timeout=0"]);
    assert.equal(run.status, 7, run.stderr);
    assert.match(run.stderr, /configmap cmk\/cmk-webhook-client-ca exists and is not cmk's \(it lacks the label app\.kubernetes\.io\/part-of=cmk\)/);
    assert.equal(await status("/apis/apps/v1/namespaces/cmk/daemonsets/cmk-agent"), 404);
  });

  it("--timeout=0 starts the pods and leaves them; a later run, even with --keep-installed, removes them", async () => {
    await cp().kubectl(["-n", "cmk", "delete", "configmap", "cmk-webhook-client-ca"]);
    const init = clusterInit(["--host-list=ci-3", "--timeout=0"]);
    assert.equal(init.status, 0, init.stderr);
    const run = await collect(spawnCmk(["uninstall", "--cluster", "--timeout=0", `--kubeconfig=${initAs}`]));
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, /INFO:cmk:not waiting \(--timeout=0\)/);
    assert.deepEqual(
      (await uninstallPods()).map((pod) => pod.metadata.name),
      ["cmk-uninstall-ci-3"],
    );
    const again = await collect(spawnCmk(["uninstall", "--cluster", "--keep-installed", `--kubeconfig=${initAs}`]));
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /INFO:cmk:pod cmk\/cmk-uninstall-ci-3: removed\n/);
    assert.deepEqual(await uninstallPods(), []);
  });

  it("--keep-installed starts no pod on the nodes and leaves their cmk, removing the rest", async () => {
    const init = clusterInit(["--host-list=ci-3", "--timeout=0"]);
    assert.equal(init.status, 0, init.stderr);
    // Had it started a pod, the default --timeout (300 s) would have been waited for it: it has no kubelet.
    const started = Date.now();
    const run = await collect(spawnCmk(["uninstall", "--cluster", "--keep-installed", `--kubeconfig=${initAs}`]));
    assert.equal(run.status, 0, run.stderr);
    assert.ok(Date.now() - started < 60_000);
    assert.doesNotMatch(run.stderr, /cmk-uninstall|started/);
    assert.match(run.stderr, /INFO:cmk:the cmk the agents installed on the nodes is left in place \(--keep-installed\)/);
    assert.match(run.stderr, /daemonset cmk\/cmk-agent: removed/);
    assert.deepEqual(await uninstallPods(), []);
    assert.deepEqual(await versions(cp()), {});
  });

  it("--keep-installed goes with --cluster", () => {
    const run = runCmk(["uninstall", "--keep-installed", `--install-dir=${join(scratch, "nowhere")}`]);
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /^ERROR:cmk:--keep-installed goes with --cluster/);
  });
});
