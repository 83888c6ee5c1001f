// Smoke tests of the test control plane itself (docs/controlplane.md): real
// etcd, kube-apiserver, kube-scheduler and kube-controller-manager built from
// Go modules, driven by kubectl and by test/helpers/controlplane.ts. What the
// controllers do is checked as a user would notice it: objects they create,
// objects they remove, and what stays as it is without kubelets.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
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
  status?: { phase?: string; conditions?: { type: string; status: string; reason?: string }[] };
}

interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
}

interface List<T> {
  items: T[];
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
  for (const role of ["cluster-admin", "admin", "edit", "view", "system:kube-scheduler", "system:kube-controller-manager"]) {
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

// --- what kube-controller-manager brings -------------------------------------

interface Namespace extends KubeObject {
  status?: { phase?: string; conditions?: { type: string; status: string; message?: string }[] };
}

interface ReplicaSet extends KubeObject {
  spec: { replicas?: number };
}

interface WorkloadStatus {
  observedGeneration?: number;
  replicas?: number;
  updatedReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  unavailableReplicas?: number;
  desiredNumberScheduled?: number;
  currentNumberScheduled?: number;
}

interface Workload extends KubeObject {
  status?: WorkloadStatus;
}

/** POSTs body to collection and returns what the API server created (status 201 or the test fails). */
async function create<T extends KubeObject>(collection: string, body: unknown): Promise<T> {
  const res = await cp().request<T>("POST", collection, body);
  assert.equal(res.status, 201, `POST ${collection}: ${JSON.stringify(res.body)}`);
  return res.body;
}

async function list<T extends KubeObject>(collection: string): Promise<T[]> {
  const res = await cp().request<List<T>>("GET", collection);
  assert.equal(res.status, 200, `GET ${collection}`);
  return res.body.items;
}

async function statusOf(apiPath: string): Promise<number> {
  return (await cp().request("GET", apiPath)).status;
}

/** Whether owner is obj's controller (an ownerReference with controller: true and owner's uid). */
function controlledBy(obj: KubeObject, owner: KubeObject): boolean {
  const refs = (obj.metadata["ownerReferences"] ?? []) as OwnerReference[];
  return refs.some((ref) => ref.controller === true && ref.uid === owner.metadata["uid"]);
}

const decode = (base64: string | undefined): string => Buffer.from(base64 ?? "", "base64").toString("utf8");

/** A Pod template (or Pod spec) that the scheduler places only on Nodes with these labels. */
function podSpec(nodeSelector: Record<string, string>): Record<string, unknown> {
  return { nodeSelector, containers: [{ name: "app", image: "registry.invalid/app:1" }] };
}

it("a new namespace gets its default ServiceAccount and the kube-root-ca.crt ConfigMap from the controllers", async () => {
  const ns = "cm-fresh";
  // Created directly: the helper's createNamespace waits for the ServiceAccount itself.
  await create("/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });

  const sa = await eventually(
    "the service-account controller to create the default ServiceAccount",
    async () => {
      const res = await cp().request<KubeObject>("GET", `/api/v1/namespaces/${ns}/serviceaccounts/default`);
      return res.status === 200 ? res.body : undefined;
    },
    60_000,
  );
  assert.equal(sa.metadata.namespace, ns);

  const rootCa = await eventually(
    "the root CA publisher to create kube-root-ca.crt",
    async () => {
      const res = await cp().request<ConfigMap>("GET", `/api/v1/namespaces/${ns}/configmaps/kube-root-ca.crt`);
      return res.status === 200 ? res.body : undefined;
    },
    60_000,
  );
  assert.equal(rootCa.data?.["ca.crt"]?.trim(), cp().caCert.trim());
});

it("a service-account token Secret is filled in with a token the API server accepts, and the cluster CA", async () => {
  // The token controller signs with the key the API server verifies
  // service-account tokens with: a token from another key would get 401.
  const ns = "cm-legacy-token";
  await cp().createNamespace(ns);
  await create(`/api/v1/namespaces/${ns}/secrets`, {
    apiVersion: "v1",
    kind: "Secret",
    type: "kubernetes.io/service-account-token",
    metadata: { name: "default-token", annotations: { "kubernetes.io/service-account.name": "default" } },
  });
  const data = await eventually(
    "the token controller to fill in the Secret",
    async () => {
      const res = await cp().request<{ data?: Record<string, string> }>("GET", `/api/v1/namespaces/${ns}/secrets/default-token`);
      return res.body.data?.["token"] === undefined ? undefined : res.body.data;
    },
    60_000,
  );
  assert.equal(decode(data["ca.crt"]).trim(), cp().caCert.trim());
  assert.equal(decode(data["namespace"]), ns);

  const review = await cp().request<{ status: { userInfo: { username: string } } }>(
    "POST",
    "/apis/authentication.k8s.io/v1/selfsubjectreviews",
    { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
    { token: decode(data["token"]) },
  );
  assert.equal(review.status, 201, JSON.stringify(review.body));
  assert.equal(review.body.status.userInfo.username, `system:serviceaccount:${ns}:default`);
});

it("deleting a namespace removes it and every object in it", async () => {
  const ns = "cm-doomed";
  await cp().createNamespace(ns);
  const base = `/api/v1/namespaces/${ns}`;
  const objects: [string, unknown][] = [
    [`${base}/configmaps`, { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "settings" }, data: { a: "1" } }],
    [`${base}/secrets`, { apiVersion: "v1", kind: "Secret", metadata: { name: "credentials" }, stringData: { password: "x" } }],
    [`${base}/serviceaccounts`, { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "worker" } }],
    [
      `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`,
      { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name: "reader" }, rules: [] },
    ],
    // No Node has this label, so the Pod is never bound and goes at once
    // (for a bound Pod, see the next test).
    [`${base}/pods`, { apiVersion: "v1", kind: "Pod", metadata: { name: "unplaced" }, spec: podSpec({ "example.com/nowhere": "true" }) }],
  ];
  const paths: string[] = [];
  for (const [collection, body] of objects) {
    paths.push(`${collection}/${(await create(collection, body)).metadata.name}`);
  }
  // And what the controllers put there.
  paths.push(`${base}/serviceaccounts/default`, `${base}/configmaps/kube-root-ca.crt`);
  await eventually("kube-root-ca.crt in the namespace", async () => ((await statusOf(`${base}/configmaps/kube-root-ca.crt`)) === 200 ? true : undefined));
  for (const p of paths) assert.equal(await statusOf(p), 200, p);

  const deleted = await cp().request<Namespace>("DELETE", base);
  assert.equal(deleted.status, 200);
  assert.equal(deleted.body.status?.phase, "Terminating");
  await eventually(`namespace ${ns} to be gone`, async () => ((await statusOf(base)) === 404 ? true : undefined), 90_000);
  // Objects are stored by namespace and name whether or not the namespace
  // exists: these 404s mean the namespace controller deleted them.
  for (const p of paths) assert.equal(await statusOf(p), 404, p);
});

it("a namespace with a Pod bound to a Node stays Terminating until the Pod is deleted without grace (no kubelet confirms)", async () => {
  const ns = "cm-bound";
  await cp().registerNode("bound-node", { capacity: {}, labels: { "example.com/pool": "bound" } });
  await cp().createNamespace(ns);
  const podPath = `/api/v1/namespaces/${ns}/pods/bound`;
  await create(`/api/v1/namespaces/${ns}/pods`, {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "bound" },
    spec: { ...podSpec({ "example.com/pool": "bound" }), terminationGracePeriodSeconds: 2 },
  });
  const node = await eventually("the Pod to be bound", async () => (await cp().request<Pod>("GET", podPath)).body.spec.nodeName);
  assert.equal(node, "bound-node");

  assert.equal((await cp().request("DELETE", `/api/v1/namespaces/${ns}`)).status, 200);
  const failure = await eventually(
    "the namespace controller to report the Pod it cannot remove",
    async () => {
      const res = await cp().request<Namespace>("GET", `/api/v1/namespaces/${ns}`);
      return res.body.status?.conditions?.find((c) => c.status === "True" && /Resource=pods/.test(c.message ?? ""));
    },
    60_000,
  );
  assert.equal(failure.type, "NamespaceDeletionContentFailure", failure.message);
  // Its grace period is long over, yet the Pod waits for a kubelet to confirm it stopped.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const pod = await cp().request<Pod>("GET", podPath);
  assert.equal(pod.status, 200);
  assert.ok(pod.body.metadata["deletionTimestamp"], "the Pod is marked for deletion");
  assert.equal(pod.body.status?.phase, "Pending");
  assert.equal((await cp().request<Namespace>("GET", `/api/v1/namespaces/${ns}`)).body.status?.phase, "Terminating");

  // What a user does without a kubelet: delete it with no grace period.
  assert.equal((await cp().request("DELETE", `${podPath}?gracePeriodSeconds=0`)).status, 200);
  await eventually(`namespace ${ns} to be gone`, async () => ((await statusOf(`/api/v1/namespaces/${ns}`)) === 404 ? true : undefined), 90_000);
});

it("the garbage collector deletes objects whose owner is gone and keeps those whose owner exists", async () => {
  const ns = "cm-gc";
  await cp().createNamespace(ns);
  const base = `/api/v1/namespaces/${ns}/configmaps`;
  const configMap = (name: string, owner?: { name: string; uid: unknown }): unknown => ({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name,
      ...(owner === undefined ? {} : { ownerReferences: [{ apiVersion: "v1", kind: "ConfigMap", name: owner.name, uid: owner.uid }] }),
    },
  });
  const owner = await create(base, configMap("owner"));
  const keeper = await create(base, configMap("keeper"));
  await create(base, configMap("dependent", { name: "owner", uid: owner.metadata["uid"] }));
  await create(base, configMap("kept", { name: "keeper", uid: keeper.metadata["uid"] }));
  // An owner that never existed counts as gone too.
  await create(base, configMap("stray", { name: "phantom", uid: randomUUID() }));

  assert.equal((await cp().request("DELETE", `${base}/owner`)).status, 200);
  await eventually(
    "the garbage collector to delete dependent and stray",
    async () => ((await statusOf(`${base}/dependent`)) === 404 && (await statusOf(`${base}/stray`)) === 404 ? true : undefined),
    60_000,
  );
  assert.equal(await statusOf(`${base}/keeper`), 200);
  assert.equal(await statusOf(`${base}/kept`), 200);
});

it("a Deployment gets a ReplicaSet whose Pods are bound to a registered Node and stay Pending (no kubelet runs them)", async () => {
  const ns = "cm-deploy";
  const labels = { "example.com/pool": "deploy" };
  await cp().registerNode("deploy-node", { capacity: {}, labels });
  await cp().createNamespace(ns);
  const deploymentPath = `/apis/apps/v1/namespaces/${ns}/deployments`;
  const deployment = await create(deploymentPath, {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web" },
    spec: { replicas: 2, selector: { matchLabels: { app: "web" } }, template: { metadata: { labels: { app: "web" } }, spec: podSpec(labels) } },
  });

  const replicaSet = await eventually(
    "the deployment controller to create a ReplicaSet",
    async () => {
      const owned = (await list<ReplicaSet>(`/apis/apps/v1/namespaces/${ns}/replicasets`)).filter((rs) => controlledBy(rs, deployment));
      return owned.length === 1 ? owned[0] : undefined;
    },
    60_000,
  );
  assert.equal(replicaSet.spec.replicas, 2);

  const pods = await eventually(
    "the ReplicaSet's two Pods to be bound",
    async () => {
      const owned = (await list<Pod>(`/api/v1/namespaces/${ns}/pods`)).filter((pod) => controlledBy(pod, replicaSet));
      return owned.length === 2 && owned.every((pod) => pod.spec.nodeName !== undefined) ? owned : undefined;
    },
    60_000,
  );
  for (const pod of pods) {
    assert.equal(pod.spec.nodeName, "deploy-node", pod.metadata.name);
    assert.equal(pod.status?.phase, "Pending", pod.metadata.name);
  }

  // The Deployment counts them, and none is available.
  const status = await eventually("the Deployment's status to count both replicas", async () => {
    const res = await cp().request<Workload>("GET", `${deploymentPath}/web`);
    const s = res.body.status;
    return s?.replicas === 2 && s.updatedReplicas === 2 && s.unavailableReplicas !== undefined ? s : undefined;
  });
  assert.equal(status.unavailableReplicas, 2);
  assert.equal(status.readyReplicas ?? 0, 0);
  assert.equal(status.availableReplicas ?? 0, 0);
});

it("a DaemonSet gets one Pod on each Node it matches and tolerates, and one more when another Node comes to match", async () => {
  const ns = "cm-daemons";
  const labels = { "example.com/daemons": "yes" };
  await cp().registerNode("daemon-a", { capacity: {}, labels });
  await cp().registerNode("daemon-b", { capacity: {}, labels });
  await cp().registerNode("daemon-tainted", { capacity: {}, labels, taints: [{ key: "example.com/no-daemons", effect: "NoSchedule" }] });
  await cp().registerNode("daemon-later", { capacity: {} });
  await cp().createNamespace(ns);
  const daemonSetPath = `/apis/apps/v1/namespaces/${ns}/daemonsets`;
  const daemonSet = await create(daemonSetPath, {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: { name: "agent" },
    spec: { selector: { matchLabels: { app: "agent" } }, template: { metadata: { labels: { app: "agent" } }, spec: podSpec(labels) } },
  });

  // The Nodes of the DaemonSet's Pods once the controller has caught up with
  // the Nodes (its status counts as many scheduled as it wants) and the
  // scheduler has bound every Pod.
  const nodesOfPods = async (): Promise<string[] | undefined> => {
    const res = await cp().request<Workload>("GET", `${daemonSetPath}/agent`);
    const s = res.body.status;
    if (s?.observedGeneration !== res.body.metadata["generation"] || s?.desiredNumberScheduled !== s?.currentNumberScheduled) return undefined;
    const owned = (await list<Pod>(`/api/v1/namespaces/${ns}/pods`)).filter((pod) => controlledBy(pod, daemonSet));
    if (owned.length !== s?.desiredNumberScheduled) return undefined;
    const nodes = owned.map((pod) => pod.spec.nodeName);
    return nodes.every((node) => node !== undefined) ? nodes.sort() : undefined;
  };

  const first = await eventually(
    "a Pod on each matching Node",
    async () => {
      const nodes = await nodesOfPods();
      return nodes !== undefined && nodes.length > 0 ? nodes : undefined;
    },
    60_000,
  );
  assert.deepEqual(first, ["daemon-a", "daemon-b"]);

  const patched = await cp().request("PATCH", "/api/v1/nodes/daemon-later", { metadata: { labels } }, { contentType: "application/merge-patch+json" });
  assert.equal(patched.status, 200);
  const second = await eventually("a Pod on the newly matching Node", async () => {
    const nodes = await nodesOfPods();
    return nodes?.includes("daemon-later") ? nodes : undefined;
  });
  assert.deepEqual(second, ["daemon-a", "daemon-b", "daemon-later"]);
});
