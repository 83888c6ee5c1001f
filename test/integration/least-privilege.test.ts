// The node agent's identity of deploy/node-agent-rbac.yaml, proven with a token minted for its
// service account: every node command works with it against the ConfigMap store, and a sample of
// everything else is denied.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { repoRoot, runCmk, scratchDir } from "../helpers/cmk.ts";
import { eventually, useControlPlane } from "../helpers/controlplane.ts";
import { kubeconfigText } from "../helpers/kubeconfig.ts";

const cp = useControlPlane();
const scratch = scratchDir("least-privilege");

describe("the node agent's service account", () => {
  let token = "";
  let kubeconfig = "";
  const node = "lp-node";

  before(async () => {
    const applied = await cp().kubectl(["apply", "-f", join(repoRoot, "deploy", "crds.yaml"), "-f", join(repoRoot, "deploy", "node-agent-rbac.yaml")]);
    assert.equal(applied.code, 0, applied.stderr);
    await cp().kubectl(["wait", "--for=condition=Established", "crd/cmk-nodereports.intel.com", "crd/cmk-reconcilereports.intel.com"]);
    await cp().registerNode(node, { capacity: {} });
    await cp().registerNode("lp-other", { capacity: {} });
    token = await cp().createToken("cmk", "cmk-node-agent");
    kubeconfig = join(scratch, "agent.kubeconfig");
    writeFileSync(kubeconfig, kubeconfigText({ server: cp().server, ca: cp().caCert }, `    token: ${token}\n`));
  });

  it("can do what init, isolate, reconcile --publish, node-report --publish and discover need", () => {
    const flags = [`--kubeconfig=${kubeconfig}`, "--namespace=cmk", `--node-name=${node}`];
    const withFlags = (args: readonly string[]): string[] => {
      const end = args.indexOf("--");
      return end < 0 ? [...args, ...flags] : [...args.slice(0, end), ...flags, ...args.slice(end)];
    };
    for (const args of [
      ["init", "--num-exclusive-cores=1", "--num-shared-cores=0"],
      ["isolate", "--pool=infra", "--", "true"],
      ["reconcile", "--publish"],
      ["node-report", "--publish"],
      ["discover"],
      ["describe"],
    ]) {
      const run = runCmk(withFlags(args));
      assert.ok(run.status === 0 || (args[0] === "node-report" && run.status === 10), `${args.join(" ")}: ${run.status} ${run.stderr}`);
      assert.doesNotMatch(run.stderr, /HTTP 403/, args.join(" "));
    }
  });

  it("deploy/'s agent DaemonSet and workload example are objects the API server accepts, the workload without a token", async () => {
    // The service-account controller makes the namespace's default account a few seconds after start.
    await eventually("the default service account", async () =>
      (await cp().request("GET", "/api/v1/namespaces/default/serviceaccounts/default")).status === 200 ? true : undefined,
    );
    const manifests = ["agent-daemonset.yaml", "workload-pod-example.yaml"].map((name) => join(repoRoot, "deploy", name));
    const dryRun = await cp().kubectl(["apply", "--dry-run=server", "-o", "json", ...manifests.flatMap((file) => ["-f", file])]);
    assert.equal(dryRun.code, 0, dryRun.stderr);
    const objects = (JSON.parse(dryRun.stdout) as { items: { kind: string; spec: Record<string, unknown> }[] }).items;
    assert.deepEqual(
      objects.map((object) => object.kind),
      ["DaemonSet", "Pod"],
    );
    const pod = objects[1]?.spec as { automountServiceAccountToken?: boolean; volumes?: { name: string }[] };
    assert.equal(pod.automountServiceAccountToken, false);
    assert.ok(!(pod.volumes ?? []).some((volume) => volume.name.startsWith("kube-api-access")), "a token volume was added");
  });

  it("is denied a sample of the rest, and cmk says so in one line naming the verb, the object and the server's words", async () => {
    const denied: [string, string, unknown?][] = [
      ["GET", "/api/v1/namespaces/cmk/secrets"],
      ["GET", "/api/v1/namespaces/default/pods"],
      ["GET", "/api/v1/pods"],
      ["GET", "/api/v1/namespaces/default/configmaps/cmk-config-lp-node"],
      ["GET", "/api/v1/namespaces/cmk/configmaps"],
      ["DELETE", `/api/v1/namespaces/cmk/configmaps/cmk-config-${node}`],
      ["DELETE", `/apis/intel.com/v1/namespaces/cmk/cmk-nodereports/${node}`],
      ["DELETE", `/api/v1/nodes/${node}`],
      ["GET", "/api/v1/namespaces/kube-system/configmaps/kube-root-ca.crt"],
      [
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        { apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", metadata: { name: "x.example.com" } },
      ],
      [
        "POST",
        "/apis/rbac.authorization.k8s.io/v1/namespaces/cmk/roles",
        { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name: "more" }, rules: [] },
      ],
      ["POST", "/api/v1/namespaces/cmk/pods", { apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, spec: { containers: [{ name: "c", image: "i" }] } }],
    ];
    for (const [method, path, body] of denied) {
      const response = await cp().request(method, path, body, { token });
      assert.equal(response.status, 403, `${method} ${path}: ${response.status}`);
    }
    // The ConfigMap store in a namespace the account has no rights in.
    const run = runCmk(["describe", `--kubeconfig=${kubeconfig}`, "--namespace=default", `--node-name=${node}`]);
    assert.equal(run.status, 11);
    assert.match(
      run.stderr,
      /^ERROR:cmk:cannot get configmap default\/cmk-config-lp-node: HTTP 403 Forbidden: configmaps "cmk-config-lp-node" is forbidden: User "system:serviceaccount:cmk:cmk-node-agent" cannot get resource "configmaps" in API group "" in the namespace "default" \(grant it/,
    );
    assert.equal(run.stderr.trim().split("\n").length, 1);
  });
});
