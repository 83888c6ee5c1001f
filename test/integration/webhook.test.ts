// cmk webhook behind a real API server: a `cmk webhook` process on 127.0.0.1 with a serving
// certificate from the control plane's CA, registered with the MutatingWebhookConfiguration of
// deploy/webhook.yaml (its rules, namespaceSelector, matchConditions, failurePolicy and
// reinvocationPolicy, only the address changed to a URL), and requiring the client certificate the
// API server presents to webhooks (scripts/controlplane's admission configuration). Pods are
// created through the API server and the stored pods checked: what a pod asking for cores gets,
// per container; that other pods never reach the webhook; what is denied, in kubectl's words; that
// a later webhook's change brings a second call that changes nothing else; that a webhook which
// does not trust the API server's certificate refuses it. Also what the real API server does with a
// webhook's automountServiceAccountToken (why cmk's does not set it), and deploy/webhook.yaml by
// a server-side dry run, with its service account holding no rights at all. The test process itself
// serves HTTPS for two helper webhooks, so it never runs a synchronous child process.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer as createHttpsServer, request as httpsRequest } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { type JsonObject, patchOf, reviewOf } from "../helpers/admission.ts";
import { freePort, repoRoot, scratchDir, startServing } from "../helpers/cmk.ts";
import { eventually, useControlPlane } from "../helpers/controlplane.ts";

const cp = useControlPlane();
const dir = scratchDir("webhook-int");
const namespace = "wh-pods";

interface Pod extends JsonObject {
  metadata: JsonObject & { name: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  spec: JsonObject & {
    containers: Container[];
    initContainers?: Container[];
    volumes?: JsonObject[];
    tolerations?: JsonObject[];
    securityContext?: JsonObject;
  };
}
interface Container extends JsonObject {
  name: string;
  env?: { name: string; value?: string }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}

interface Running {
  readonly url: string;
  readonly port: number;
  log(): string;
  stop(): Promise<void>;
}

let instances = 0;

/** Starts cmk webhook (no KUBECONFIG, no service account: it needs no API access) requiring client certificates signed by `caFile`. */
async function startCmkWebhook(caFile: string): Promise<Running> {
  const home = join(dir, `webhook-${instances++}`);
  mkdirSync(home);
  const { cert, key } = await cp().issueServingCert(`cmk-webhook-${instances}`);
  writeFileSync(join(home, "tls.crt"), cert);
  writeFileSync(join(home, "tls.key"), key);
  const port = await freePort();
  writeFileSync(
    join(home, "server.yaml"),
    `server:\n  binding-address: 127.0.0.1\n  port: ${port}\n  cert: tls.crt\n  key: tls.key\n  mutations: ${join(repoRoot, "deploy", "webhook-mutations.yaml")}\n`,
  );
  const { child, stderr, exited } = await startServing(
    ["webhook", `--conf-file=${join(home, "server.yaml")}`, `--cafile=${caFile}`],
    { CMK_LOG_LEVEL: "DEBUG" },
    /serving admission reviews on/,
  );
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    log: stderr,
    stop: async () => {
      if (child.exitCode === null && !child.killed) child.kill("SIGTERM");
      const result = await exited;
      assert.equal(result.status, 0, stderr());
    },
  };
}

/** The objects of deploy/webhook.yaml as the API server accepts them (server-side dry run). */
async function deployedObjects(): Promise<JsonObject[]> {
  const result = await cp().kubectl(["apply", "--dry-run=server", "-o", "json", "-f", join(repoRoot, "deploy", "webhook.yaml")]);
  assert.equal(result.code, 0, result.stderr);
  return (JSON.parse(result.stdout) as { items: JsonObject[] }).items;
}

function objectOf(objects: readonly JsonObject[], kind: string): JsonObject {
  const found = objects.find((object) => object["kind"] === kind);
  assert.ok(found, `deploy/webhook.yaml has no ${kind}`);
  return found;
}

/** deploy/webhook.yaml's webhook, sent to `url` instead of the Service. */
async function shippedWebhook(url: string): Promise<JsonObject> {
  const configuration = objectOf(await deployedObjects(), "MutatingWebhookConfiguration");
  const [webhook] = configuration["webhooks"] as JsonObject[];
  assert.ok(webhook);
  return { ...webhook, clientConfig: { url: `${url}/mutate`, caBundle: Buffer.from(cp().caCert).toString("base64") } };
}

async function registerMutating(name: string, webhook: JsonObject): Promise<void> {
  const path = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations";
  const response = await cp().request("POST", path, {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "MutatingWebhookConfiguration",
    metadata: { name },
    webhooks: [webhook],
  });
  assert.equal(response.status, 201, JSON.stringify(response.body));
}

function cmkContainer(name: string, cores?: string, extra: JsonObject = {}): Container {
  const resources = cores === undefined ? {} : { requests: { "cmk.intel.com/exclusive-cores": cores }, limits: { "cmk.intel.com/exclusive-cores": cores } };
  return { name, image: "registry.example.com/app:1", command: ["/opt/bin/cmk", "isolate", "--pool=exclusive", "--", "/app"], resources, ...extra };
}

function podSpec(name: string, containers: Container[], extra: Partial<Pod["spec"]> = {}, metadata: JsonObject = {}): Pod {
  return { apiVersion: "v1", kind: "Pod", metadata: { name, ...metadata }, spec: { containers, ...extra } };
}

async function createPod(ns: string, pod: Pod): Promise<{ status: number; body: Pod & { message?: string } }> {
  const response = await cp().request<Pod & { message?: string }>("POST", `/api/v1/namespaces/${ns}/pods`, pod);
  return { status: response.status, body: response.body };
}

function envOf(container: Container | undefined): Record<string, string | undefined> {
  return Object.fromEntries((container?.env ?? []).map((variable) => [variable.name, variable.value]));
}

function mountsOf(container: Container | undefined): string[] {
  return (container?.volumeMounts ?? []).map((mount) => `${mount.mountPath}${mount.readOnly === true ? ":ro" : ""}`);
}

/** Waits until a webhook configuration is in effect: a probe pod comes back changed as `changed` says. */
async function untilActive(ns: string, what: string, probe: (name: string) => Pod, changed: (pod: Pod) => boolean): Promise<void> {
  let round = 0;
  await eventually(
    what,
    async () => {
      const name = `probe-${round++}`;
      const created = await createPod(ns, probe(name));
      await cp().request("DELETE", `/api/v1/namespaces/${ns}/pods/${name}?gracePeriodSeconds=0`);
      return created.status === 201 && changed(created.body) ? true : undefined;
    },
    30_000,
    300,
  );
}

/** One HTTPS request to the webhook on a connection of its own, as a client with `identity` (or none). */
function askWebhook(port: number, body: string, identity?: { cert: string; key: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const sent = httpsRequest(
      {
        host: "127.0.0.1",
        port,
        path: "/mutate",
        method: "POST",
        ca: cp().caCert,
        agent: false,
        headers: { "Content-Type": "application/json", "Content-Length": String(Buffer.byteLength(body)) },
        ...(identity ?? {}),
      },
      (response) => {
        let text = "";
        response.on("data", (chunk: Buffer) => (text += chunk.toString()));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body: text }));
      },
    );
    sent.on("error", reject);
    sent.end(body);
  });
}

/** A webhook of the test's own on 127.0.0.1: `patch` gives each pod's operations (none: allowed as it is). */
async function helperWebhook(name: string, patch: (pod: Pod) => JsonObject[] | undefined): Promise<{ url: string; calls: string[] }> {
  const { cert, key } = await cp().issueServingCert(name);
  const calls: string[] = [];
  const server = createHttpsServer({ cert, key }, (request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const review = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { apiVersion: string; request: { uid: string; object: Pod } };
      calls.push(review.request.object.metadata.name);
      const operations = patch(review.request.object);
      const answer: JsonObject = { uid: review.request.uid, allowed: true };
      if (operations !== undefined && operations.length > 0) {
        answer["patchType"] = "JSONPatch";
        answer["patch"] = Buffer.from(JSON.stringify(operations)).toString("base64");
      }
      response.setHeader("Content-Type", "application/json");
      response.end(JSON.stringify({ apiVersion: review.apiVersion, kind: "AdmissionReview", response: answer }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  // The API server keeps its connections alive; an unref'd server does not hold the test process.
  server.unref();
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, calls };
}

let webhook: Running;

describe("cmk webhook behind the API server", () => {
  before(async () => {
    webhook = await startCmkWebhook(cp().webhookClient.caFile);
    await cp().createNamespace("cmk");
    await cp().createNamespace(namespace);
    // Not cmk-webhook: the dry runs of deploy/webhook.yaml below must create, not update, theirs.
    await registerMutating("cmk-webhook-under-test", await shippedWebhook(webhook.url));
    await untilActive(
      namespace,
      "cmk webhook to be called",
      (name) => podSpec(name, [cmkContainer("app", "1")]),
      (pod) => envOf(pod.spec.containers[0])["CMK_NUM_CORES"] === "1",
    );
  });

  describe("through the API server, with the API server's client certificate", () => {
    it("a pod asking for cores is stored with the socket, cmk, the group, the toleration and CMK_NUM_CORES per container", async () => {
      const created = await createPod(
        namespace,
        podSpec("pinned", [cmkContainer("app", "2"), cmkContainer("helper")], { initContainers: [cmkContainer("warm", "1")] }, { labels: { app: "pinned" } }),
      );
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const stored = (await cp().request<Pod>("GET", `/api/v1/namespaces/${namespace}/pods/pinned`)).body;
      assert.equal(stored.metadata.annotations?.["cmk.intel.com/resources-injected"], "true");
      assert.deepEqual(stored.spec.securityContext, { supplementalGroups: [7001] });
      assert.ok(
        stored.spec.tolerations?.some((toleration) => toleration["key"] === "cmk" && toleration["value"] === "true" && toleration["effect"] === "NoSchedule"),
      );
      // Only the cmk toleration is added; the two NoExecute ones are the DefaultTolerationSeconds plugin's.
      assert.deepEqual(stored.spec.tolerations?.map((toleration) => toleration["key"]).sort(), [
        "cmk",
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
      ]);
      const volumes = (stored.spec.volumes ?? []).map((volume) => String(volume["name"]));
      assert.deepEqual(volumes.slice(1), ["cmk-agent", "cmk-bin"]);
      assert.match(volumes[0] ?? "", /^kube-api-access-/, "the pod keeps its own service-account token volume, untouched");
      const [app, helper] = stored.spec.containers;
      const warm = stored.spec.initContainers?.[0];
      assert.deepEqual(envOf(app), { CMK_AGENT_SOCKET: "/var/lib/cmk/agent.sock", CMK_NUM_CORES: "2" });
      assert.deepEqual(envOf(helper), { CMK_AGENT_SOCKET: "/var/lib/cmk/agent.sock" });
      assert.deepEqual(envOf(warm), { CMK_AGENT_SOCKET: "/var/lib/cmk/agent.sock", CMK_NUM_CORES: "1" });
      for (const container of [app, helper, warm]) {
        assert.deepEqual(mountsOf(container), ["/var/run/secrets/kubernetes.io/serviceaccount:ro", "/var/lib/cmk:ro", "/opt/bin:ro"]);
      }
      assert.equal(stored.spec["serviceAccountName"], "default");
      assert.match(webhook.log(), new RegExp(`INFO:cmk:mutated pod ${namespace}/pinned: \\d+ patch operations`));
    });

    it("the stored pod, reviewed again, needs nothing more", async () => {
      const stored = (await cp().request<Pod>("GET", `/api/v1/namespaces/${namespace}/pods/pinned`)).body;
      const answer = await askWebhook(webhook.port, JSON.stringify(reviewOf(stored, { namespace })), {
        cert: cp().webhookClient.cert,
        key: cp().webhookClient.key,
      });
      assert.equal(answer.status, 200, answer.body);
      const response = (JSON.parse(answer.body) as { response: JsonObject }).response;
      assert.equal(response["allowed"], true);
      assert.deepEqual(patchOf(response), []);
    });

    it("a pod annotated cmk.intel.com/mutate gets the same without CMK_NUM_CORES", async () => {
      const created = await createPod(namespace, podSpec("annotated", [cmkContainer("app")], {}, { annotations: { "cmk.intel.com/mutate": "true" } }));
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.deepEqual(envOf(created.body.spec.containers[0]), { CMK_AGENT_SOCKET: "/var/lib/cmk/agent.sock" });
      assert.deepEqual(mountsOf(created.body.spec.containers[0]).slice(1), ["/var/lib/cmk:ro", "/opt/bin:ro"]);
    });

    it("a pod that does not ask is stored untouched, and never reaches the webhook (matchConditions)", async () => {
      const created = await createPod(
        namespace,
        podSpec("plain", [cmkContainer("app", undefined, { resources: { limits: { cpu: "1", "example.com/gpu": "1" } } })]),
      );
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const stored = created.body;
      assert.equal(stored.metadata.annotations, undefined);
      assert.equal(stored.spec.securityContext && Object.keys(stored.spec.securityContext).length, 0);
      assert.deepEqual(
        (stored.spec.volumes ?? []).map((volume) => String(volume["name"]).replace(/-\w+$/, "")),
        ["kube-api-access"],
      );
      assert.deepEqual(envOf(stored.spec.containers[0]), {});
      assert.equal(
        stored.spec.tolerations?.some((toleration) => toleration["key"] === "cmk"),
        false,
      );
      assert.equal(webhook.log().includes(`${namespace}/plain`), false, "the webhook was asked about a pod that does not ask for cores");
    });

    it("pods of namespace cmk are left alone (namespaceSelector)", async () => {
      const created = await createPod("cmk", podSpec("in-cmk", [cmkContainer("app", "1")]));
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.deepEqual(envOf(created.body.spec.containers[0]), {});
    });

    it("denies a pod whose request cannot be right, with the reason kubectl shows", async () => {
      const differs = cmkContainer("app", undefined, {
        resources: { requests: { "cmk.intel.com/exclusive-cores": "1" }, limits: { "cmk.intel.com/exclusive-cores": "2" } },
      });
      const viaKubectl = await cp().kubectl(["create", "-n", namespace, "-f", "-"], { input: JSON.stringify(podSpec("differs", [differs])) });
      assert.notEqual(viaKubectl.code, 0);
      assert.match(
        viaKubectl.stderr,
        /admission webhook "cmk.intel.com" denied the request: cmk: container "app" requests cmk.intel.com\/exclusive-cores: "1" but limits it to "2"/,
      );
      const cases: [Pod, RegExp][] = [
        [
          podSpec("contradicts", [cmkContainer("app", "2", { env: [{ name: "CMK_NUM_CORES", value: "1" }] })]),
          /sets CMK_NUM_CORES="1" but asks for 2 cmk cores/,
        ],
        [podSpec("zero", [cmkContainer("app", "0")]), /asks for cmk.intel.com\/exclusive-cores: "0", which is not a positive whole number/],
        [
          podSpec("init", [cmkContainer("app")], { initContainers: [cmkContainer("warm", "3", { env: [{ name: "CMK_NUM_CORES", value: "2" }] })] }),
          /init container "warm" sets/,
        ],
      ];
      for (const [pod, message] of cases) {
        const denied = await createPod(namespace, pod);
        assert.equal(denied.status, 400, JSON.stringify(denied.body));
        assert.match(denied.body.message ?? "", message);
        assert.equal((await cp().request("GET", `/api/v1/namespaces/${namespace}/pods/${pod.metadata.name}`)).status, 404);
      }
      assert.match(webhook.log(), new RegExp(`INFO:cmk:denied pod ${namespace}/differs: cmk: container "app" requests`));
    });

    it("a later webhook's change brings a second call (reinvocationPolicy IfNeeded) that gives the new container its share and nothing twice", async () => {
      const sidecar = await helperWebhook("zz-sidecar", (pod) =>
        pod.metadata.labels?.["sidecar"] === "yes" && !pod.spec.containers.some((container) => container.name === "sidecar")
          ? [{ op: "add", path: "/spec/containers/-", value: cmkContainer("sidecar", "1") }]
          : undefined,
      );
      await registerMutating("zz-sidecar", {
        name: "sidecar.example.com",
        clientConfig: { url: `${sidecar.url}/mutate`, caBundle: Buffer.from(cp().caCert).toString("base64") },
        rules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["pods"] }],
        namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } },
        objectSelector: { matchLabels: { sidecar: "yes" } },
        sideEffects: "None",
        admissionReviewVersions: ["v1"],
        failurePolicy: "Fail",
        timeoutSeconds: 5,
      });
      await untilActive(
        namespace,
        "the sidecar webhook to be called",
        (name) => podSpec(name, [cmkContainer("app", "2")], {}, { labels: { sidecar: "yes" } }),
        (pod) => pod.spec.containers.length === 2,
      );
      const before = webhook.log().split("\n").length;
      const created = await createPod(namespace, podSpec("with-sidecar", [cmkContainer("app", "2")], {}, { labels: { sidecar: "yes" } }));
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const stored = created.body;
      assert.deepEqual(
        stored.spec.containers.map((container) => [container.name, envOf(container)["CMK_NUM_CORES"], mountsOf(container).slice(1).join(",")]),
        [
          ["app", "2", "/var/lib/cmk:ro,/opt/bin:ro"],
          ["sidecar", "1", "/var/lib/cmk:ro,/opt/bin:ro"],
        ],
      );
      const volumes = (stored.spec.volumes ?? []).map((volume) => volume["name"]);
      assert.deepEqual(volumes, [...new Set(volumes)]);
      assert.deepEqual(stored.spec.securityContext, { supplementalGroups: [7001] });
      assert.equal(stored.spec.tolerations?.filter((toleration) => toleration["key"] === "cmk").length, 1);
      const calls = webhook
        .log()
        .split("\n")
        .slice(before - 1)
        .filter((line) => line.includes(`pod ${namespace}/with-sidecar`));
      assert.equal(calls.length, 2, calls.join("\n"));
      assert.ok(sidecar.calls.includes("with-sidecar"));
      await cp().request("DELETE", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/zz-sidecar");
    });
  });

  describe("client certificates", () => {
    it("the webhook refuses a client without a certificate, or with one of the cluster CA (an admin's), with 403", async () => {
      const body = JSON.stringify(reviewOf(podSpec("x", [cmkContainer("app", "1")])));
      assert.equal((await askWebhook(webhook.port, body)).status, 403);
      const admin = readFileSync(join(cp().dir, "pki", "admin.crt"), "utf8");
      const adminKey = readFileSync(join(cp().dir, "pki", "admin.key"), "utf8");
      const refused = await askWebhook(webhook.port, body, { cert: admin, key: adminKey });
      assert.equal(refused.status, 403);
      assert.match(refused.body, /a client certificate signed by the webhook's --cafile is required/);
    });

    it("a webhook whose --cafile did not sign the API server's certificate refuses it, and the pod is not created (failurePolicy Fail)", async () => {
      const wrongCa = await startCmkWebhook(join(cp().dir, "pki", "ca.crt"));
      try {
        await cp().createNamespace("wh-wrong-ca");
        await registerMutating("cmk-webhook-wrong-ca", {
          ...(await shippedWebhook(wrongCa.url)),
          namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "wh-wrong-ca" } },
        });
        const refused = await eventually(
          "the API server to call the second webhook",
          async () => {
            const attempt = await createPod("wh-wrong-ca", podSpec(`refused-${Date.now()}`, [cmkContainer("app", "1")]));
            if (attempt.status === 201) await cp().request("DELETE", `/api/v1/namespaces/wh-wrong-ca/pods/${attempt.body.metadata.name}?gracePeriodSeconds=0`);
            return attempt.status === 201 ? undefined : attempt;
          },
          30_000,
          300,
        );
        // What kubectl shows: the webhook's own words.
        assert.match(
          refused.body.message ?? "",
          /failed calling webhook "cmk.intel.com": .*a client certificate signed by the webhook's --cafile is required; CN=kube-apiserver-webhook-client does not verify/,
        );
        assert.match(wrongCa.log(), /WARNING:cmk:refused a review from 127.0.0.1:\d+: a client certificate signed by --cafile .*ca.crt is required/);
        await cp().request("DELETE", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/cmk-webhook-wrong-ca");
      } finally {
        await wrongCa.stop();
      }
    });
  });

  describe("the service-account token, as the real API server handles it", () => {
    it("a webhook's automountServiceAccountToken: false comes too late: the token volume is already in the pod (why cmk's webhook does not set it)", async () => {
      const tokenWebhook = await helperWebhook("zz-token", (pod) =>
        pod.metadata.labels?.["token-test"] === "yes" ? [{ op: "add", path: "/spec/automountServiceAccountToken", value: false }] : undefined,
      );
      await registerMutating("zz-token", {
        name: "token.example.com",
        clientConfig: { url: `${tokenWebhook.url}/mutate`, caBundle: Buffer.from(cp().caCert).toString("base64") },
        rules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["pods"] }],
        namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } },
        objectSelector: { matchLabels: { "token-test": "yes" } },
        sideEffects: "None",
        admissionReviewVersions: ["v1"],
        failurePolicy: "Fail",
        timeoutSeconds: 5,
      });
      await untilActive(
        namespace,
        "the token webhook to be called",
        (name) => podSpec(name, [cmkContainer("app")], {}, { labels: { "token-test": "yes" } }),
        (pod) => pod.spec["automountServiceAccountToken"] === false,
      );
      const created = await createPod(namespace, podSpec("token", [cmkContainer("app")], {}, { labels: { "token-test": "yes" } }));
      assert.equal(created.status, 201);
      assert.equal(created.body.spec["automountServiceAccountToken"], false);
      assert.ok((created.body.spec.volumes ?? []).some((volume) => String(volume["name"]).startsWith("kube-api-access-")));
      assert.ok(mountsOf(created.body.spec.containers[0]).includes("/var/run/secrets/kubernetes.io/serviceaccount:ro"));
      // Set in the pod's own spec, it works: no token volume at all (deploy/workload-pod-example.yaml does this).
      const own = await createPod(namespace, podSpec("own-setting", [cmkContainer("app", "1")], { automountServiceAccountToken: false }));
      assert.equal(own.status, 201);
      assert.deepEqual(
        (own.body.spec.volumes ?? []).map((volume) => volume["name"]),
        ["cmk-agent", "cmk-bin"],
      );
      await cp().request("DELETE", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/zz-token");
    });
  });

  describe("deploy/webhook.yaml", () => {
    it("is accepted by a server-side dry run; its ConfigMap carries deploy/webhook-mutations.yaml verbatim", async () => {
      const objects = await deployedObjects();
      assert.deepEqual(objects.map((object) => object["kind"]).sort(), [
        "ConfigMap",
        "Deployment",
        "MutatingWebhookConfiguration",
        "PodDisruptionBudget",
        "Service",
        "ServiceAccount",
      ]);
      const data = objectOf(objects, "ConfigMap")["data"] as Record<string, string>;
      assert.equal(data["mutations.yaml"], readFileSync(join(repoRoot, "deploy", "webhook-mutations.yaml"), "utf8"));
      assert.match(data["server.yaml"] ?? "", /port: 8443/);
      const [shipped] = objectOf(objects, "MutatingWebhookConfiguration")["webhooks"] as JsonObject[];
      assert.equal(shipped?.["failurePolicy"], "Fail");
      assert.equal(shipped?.["sideEffects"], "None");
      assert.ok((shipped?.["timeoutSeconds"] as number) <= 5);
      const template = (objectOf(objects, "Deployment")["spec"] as { template: { spec: JsonObject } }).template.spec;
      assert.equal(template["automountServiceAccountToken"], false);
      assert.equal(objectOf(objects, "ServiceAccount")["automountServiceAccountToken"], false);
    });

    it("its service account may do nothing at all: the webhook needs no API access", async () => {
      const applied = await cp().kubectl(["apply", "-f", "-"], {
        input: JSON.stringify(objectOf(await deployedObjects(), "ServiceAccount")),
      });
      assert.equal(applied.code, 0, applied.stderr);
      const as = "--as=system:serviceaccount:cmk:cmk-webhook";
      for (const [verb, resource, where] of [
        ["get", "pods", "cmk"],
        ["create", "pods", namespace],
        ["get", "configmaps", "cmk"],
        ["get", "secrets", "cmk"],
        ["list", "nodes", "cmk"],
        ["patch", "mutatingwebhookconfigurations", "cmk"],
      ] as const) {
        const can = await cp().kubectl(["auth", "can-i", verb, resource, "-n", where, as]);
        assert.equal(can.stdout.trim(), "no", `${verb} ${resource}: ${can.stdout}${can.stderr}`);
      }
    });
  });

  it("stops cleanly", async () => {
    await webhook.stop();
  });
});
