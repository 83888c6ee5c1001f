// Smoke tests of the test control plane itself (docs/controlplane.md): real
// etcd, kube-apiserver and kube-scheduler built from Go modules, driven by
// kubectl and by test/helpers/controlplane.ts.

import assert from "node:assert/strict";
import { once } from "node:events";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { it } from "node:test";
import type { KubeObject } from "../helpers/controlplane.ts";
import { eventually, useControlPlane } from "../helpers/controlplane.ts";

const cp = useControlPlane();

interface Status {
  kind?: string;
  reason?: string;
  code?: number;
}

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

interface Pod extends KubeObject {
  spec: { nodeName?: string };
  status?: { conditions?: { type: string; status: string; reason?: string }[] };
}

const WIDGET = "example.com/widget";
const TAINT_KEY = "example.com/dedicated";

it("starts warm within 20 seconds", (t) => {
  t.diagnostic(`scripts/controlplane up took ${cp().startupMs} ms`);
  assert.ok(cp().startupMs <= 20_000, `warm start took ${cp().startupMs} ms`);
});

it("is configured like a production cluster", async () => {
  const version = await cp().request<{ gitVersion: string }>("GET", "/version");
  assert.equal(version.status, 200);
  assert.match(version.body.gitVersion, /^v1\.\d+\.\d+$/);

  assert.equal((await cp().request("GET", "/api/v1/namespaces/default")).status, 200);
  assert.equal((await cp().request("GET", "/api/v1/namespaces/kube-system")).status, 200);
  for (const role of ["cluster-admin", "admin", "edit", "view", "system:kube-scheduler"]) {
    assert.equal((await cp().request("GET", `/apis/rbac.authorization.k8s.io/v1/clusterroles/${role}`)).status, 200, role);
  }
  // Admission webhooks are served (registration API) and RBAC is the authorizer.
  assert.equal((await cp().request("GET", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations")).status, 200);
  assert.equal((await cp().request("GET", "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations")).status, 200);
  // No anonymous access; bogus tokens are rejected.
  assert.equal((await cp().request("GET", "/api/v1/namespaces", undefined, { token: "not-a-token" })).status, 401);
  // The kubeconfig speaks TLS with the generated CA.
  assert.match(cp().caCert, /-----BEGIN CERTIFICATE-----/);
  assert.ok(cp().server.startsWith("https://127.0.0.1:"));
});

it("kubectl creates, reads and conditionally updates a ConfigMap", async () => {
  const created = await cp().kubectl(["-n", "default", "create", "configmap", "smoke-kubectl", "--from-literal=count=1"]);
  assert.equal(created.code, 0, created.stderr);

  const got = await cp().kubectl(["-n", "default", "get", "configmap", "smoke-kubectl", "-o", "json"]);
  assert.equal(got.code, 0, got.stderr);
  const original = JSON.parse(got.stdout) as ConfigMap;
  assert.deepEqual(original.data, { count: "1" });
  assert.ok(original.metadata.resourceVersion);

  // Update carrying the current resourceVersion: accepted.
  const fresh = await cp().kubectl(["replace", "-f", "-"], { input: JSON.stringify({ ...original, data: { count: "2" } }) });
  assert.equal(fresh.code, 0, fresh.stderr);

  // Update carrying the stale resourceVersion: rejected with a conflict.
  const stale = await cp().kubectl(["replace", "-f", "-"], { input: JSON.stringify({ ...original, data: { count: "3" } }) });
  assert.notEqual(stale.code, 0);
  assert.match(stale.stderr, /the object has been modified|Conflict/);

  const after = await cp().kubectl(["-n", "default", "get", "configmap", "smoke-kubectl", "-o", "jsonpath={.data.count}"]);
  assert.equal(after.stdout, "2");
});

it("the helper creates, reads and conditionally updates a ConfigMap; a stale resourceVersion gets 409", async () => {
  const base = "/api/v1/namespaces/default/configmaps";
  const created = await cp().request<ConfigMap>("POST", base, {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "smoke-helper" },
    data: { state: "a" },
  });
  assert.equal(created.status, 201);

  const read = await cp().request<ConfigMap>("GET", `${base}/smoke-helper`);
  assert.equal(read.status, 200);
  assert.deepEqual(read.body.data, { state: "a" });
  const rv = read.body.metadata.resourceVersion;
  assert.ok(rv);

  const updated = await cp().request<ConfigMap>("PUT", `${base}/smoke-helper`, { ...read.body, data: { state: "b" } });
  assert.equal(updated.status, 200);
  assert.notEqual(updated.body.metadata.resourceVersion, rv);

  const conflict = await cp().request<Status>("PUT", `${base}/smoke-helper`, { ...read.body, data: { state: "c" } });
  assert.equal(conflict.status, 409);
  assert.equal(conflict.body.reason, "Conflict");

  // A patch that pins the stale resourceVersion conflicts too.
  const patch = await cp().request<Status>(
    "PATCH",
    `${base}/smoke-helper`,
    { metadata: { resourceVersion: rv }, data: { state: "d" } },
    { contentType: "application/merge-patch+json" },
  );
  assert.equal(patch.status, 409);

  const final = await cp().request<ConfigMap>("GET", `${base}/smoke-helper`);
  assert.deepEqual(final.body.data, { state: "b" });
});

it("the scheduler binds a Pod needing an extended resource to the one Node that advertises it and tolerates its taint", async () => {
  const ns = "smoke-scheduling";
  await cp().createNamespace(ns);
  const taint = { key: TAINT_KEY, value: "cmk", effect: "NoSchedule" } as const;
  await cp().registerNode("plain", { capacity: {}, labels: { pool: "none" } });
  await cp().registerNode("wrong-taint", {
    capacity: { [WIDGET]: "4" },
    taints: [{ key: "example.com/other", effect: "NoSchedule" }],
  });
  await cp().registerNode("not-ready", { capacity: { [WIDGET]: "4" }, taints: [taint], ready: false });
  await cp().registerNode("target", { capacity: { [WIDGET]: "4" }, taints: [taint], labels: { pool: "widgets" } });

  const node = await cp().request<{
    spec: { taints?: unknown[] };
    status: { allocatable: Record<string, string>; conditions: { type: string; status: string }[] };
  }>("GET", "/api/v1/nodes/target");
  assert.equal(node.body.status.allocatable[WIDGET], "4");
  assert.deepEqual(node.body.spec.taints, [taint]);
  assert.deepEqual(
    node.body.status.conditions.map((c) => [c.type, c.status]),
    [["Ready", "True"]],
  );

  const pod = (name: string, tolerate: boolean, widgets: string): unknown => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name },
    spec: {
      containers: [{ name: "app", image: "registry.invalid/app:1", resources: { limits: { [WIDGET]: widgets } } }],
      tolerations: tolerate ? [{ key: TAINT_KEY, operator: "Equal", value: "cmk", effect: "NoSchedule" }] : [],
    },
  });
  const podsPath = `/api/v1/namespaces/${ns}/pods`;
  for (const [name, tolerate, widgets] of [
    ["tolerant", true, "2"],
    ["intolerant", false, "1"],
    ["too-big", true, "5"],
  ] as const) {
    const res = await cp().request("POST", podsPath, pod(name, tolerate, widgets));
    assert.equal(res.status, 201, JSON.stringify(res.body));
  }

  const bound = await eventually("pod tolerant to be bound", async () => {
    const res = await cp().request<Pod>("GET", `${podsPath}/tolerant`);
    return res.body.spec.nodeName;
  });
  assert.equal(bound, "target");

  for (const name of ["intolerant", "too-big"]) {
    const reason = await eventually(`pod ${name} to be marked unschedulable`, async () => {
      const res = await cp().request<Pod>("GET", `${podsPath}/${name}`);
      assert.equal(res.body.spec.nodeName, undefined);
      const cond = res.body.status?.conditions?.find((c) => c.type === "PodScheduled" && c.status === "False");
      return cond?.reason;
    });
    assert.equal(reason, "Unschedulable", name);
  }
});

it("a service-account token is denied what its role does not allow", async () => {
  const ns = "smoke-rbac";
  await cp().createNamespace(ns);
  const sa = "cmk-reader";
  const created = [
    await cp().request("POST", `/api/v1/namespaces/${ns}/serviceaccounts`, { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: sa } }),
    await cp().request("POST", `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`, {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: "configmap-reader" },
      rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list", "watch"] }],
    }),
    await cp().request("POST", `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "configmap-reader" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "configmap-reader" },
      subjects: [{ kind: "ServiceAccount", name: sa, namespace: ns }],
    }),
  ];
  assert.deepEqual(
    created.map((r) => r.status),
    [201, 201, 201],
  );

  const token = await cp().createToken(ns, sa);
  const as = { token };

  const review = await cp().request<{ status: { userInfo: { username: string } } }>(
    "POST",
    "/apis/authentication.k8s.io/v1/selfsubjectreviews",
    { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
    as,
  );
  assert.equal(review.status, 201);
  assert.equal(review.body.status.userInfo.username, `system:serviceaccount:${ns}:${sa}`);

  // Allowed by the role (RBAC caches are informer-fed, so allow a moment).
  await eventually("the role binding to take effect", async () => {
    const res = await cp().request("GET", `/api/v1/namespaces/${ns}/configmaps`, undefined, as);
    return res.status === 200 ? true : undefined;
  });

  // Everything else is forbidden.
  const denied: [string, string, unknown?][] = [
    ["POST", `/api/v1/namespaces/${ns}/configmaps`, { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "nope" } }],
    ["GET", `/api/v1/namespaces/${ns}/secrets`],
    ["GET", "/api/v1/namespaces/default/configmaps"],
    ["GET", "/api/v1/nodes"],
    ["PATCH", "/api/v1/nodes/target/status"],
  ];
  for (const [method, apiPath, body] of denied) {
    const res = await cp().request<Status>(method, apiPath, body ?? (method === "PATCH" ? {} : undefined), {
      token,
      contentType: "application/merge-patch+json",
    });
    assert.equal(res.status, 403, `${method} ${apiPath}`);
    assert.equal(res.body.reason, "Forbidden");
  }

  // kubectl agrees, using the same token.
  const canI = await cp().kubectl(["auth", "can-i", "create", "configmaps", "-n", ns], { token });
  assert.equal(canI.stdout.trim(), "no");
  const canList = await cp().kubectl(["auth", "can-i", "list", "configmaps", "-n", ns], { token });
  assert.equal(canList.stdout.trim(), "yes");
});

interface AdmissionReview {
  request: { uid: string; operation: string; object?: ConfigMap };
}

it("mutating and validating admission webhooks on loopback are called", async (t) => {
  const { cert, key } = await cp().issueServingCert("smoke-webhook");
  const calls: string[] = [];
  const server = https.createServer({ cert, key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const review = JSON.parse(Buffer.concat(chunks).toString("utf8")) as AdmissionReview;
      // The API server appends ?timeout=5s.
      const path = new URL(req.url ?? "/", "https://127.0.0.1").pathname;
      calls.push(`${path} ${review.request.operation} ${review.request.object?.metadata.name}`);
      const response: Record<string, unknown> = { uid: review.request.uid, allowed: true };
      if (path === "/mutate") {
        const patch = [{ op: "add", path: "/metadata/labels", value: { "example.com/mutated": "yes" } }];
        response["patchType"] = "JSONPatch";
        response["patch"] = Buffer.from(JSON.stringify(patch)).toString("base64");
      } else if (review.request.object?.data?.["forbidden"] !== undefined) {
        response["allowed"] = false;
        response["status"] = { code: 403, message: "forbidden key" };
      }
      res.setHeader("Content-Type", "application/json");
      res.end(JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response }));
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  // The API server keeps its connections to the webhook alive (Go's idle
  // timeout is 90 s); close them too, or close() waits for them.
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const caBundle = Buffer.from(cp().caCert).toString("base64");
  const webhook = (path: string) => ({
    name: `smoke${path.replace("/", "-")}.example.com`,
    clientConfig: { url: `${url}${path}`, caBundle },
    rules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["configmaps"] }],
    namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "smoke-webhooks" } },
    sideEffects: "None",
    admissionReviewVersions: ["v1"],
    failurePolicy: "Fail",
    timeoutSeconds: 5,
  });
  const registered = [
    await cp().request("POST", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "MutatingWebhookConfiguration",
      metadata: { name: "smoke-mutate" },
      webhooks: [webhook("/mutate")],
    }),
    await cp().request("POST", "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations", {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingWebhookConfiguration",
      metadata: { name: "smoke-validate" },
      webhooks: [webhook("/validate")],
    }),
  ];
  assert.deepEqual(
    registered.map((r) => r.status),
    [201, 201],
  );
  t.after(async () => {
    await cp().request("DELETE", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/smoke-mutate");
    await cp().request("DELETE", "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/smoke-validate");
  });
  await cp().createNamespace("smoke-webhooks");
  const base = "/api/v1/namespaces/smoke-webhooks/configmaps";

  // Webhook configurations reach the API server's admission chain through an
  // informer; retry until the first create is seen mutated.
  const mutated = await eventually("the webhooks to be active", async () => {
    const name = `cm-${Date.now()}`;
    const res = await cp().request<ConfigMap>("POST", base, { apiVersion: "v1", kind: "ConfigMap", metadata: { name }, data: { ok: "1" } });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const labels = res.body.metadata["labels"] as Record<string, string> | undefined;
    return labels?.["example.com/mutated"] === "yes" ? name : undefined;
  });
  assert.ok(calls.includes(`/mutate CREATE ${mutated}`), calls.join("\n"));
  assert.ok(calls.includes(`/validate CREATE ${mutated}`), calls.join("\n"));

  const denied = await cp().request<Status & { message?: string }>("POST", base, {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "denied" },
    data: { forbidden: "x" },
  });
  assert.equal(denied.status, 403);
  assert.match(denied.body.message ?? "", /forbidden key/);
});
