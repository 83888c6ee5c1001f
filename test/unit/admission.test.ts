// The webhook's decision (src/core/admission.ts) and its mutations file (src/core/mutations.ts):
// what a pod asking for cmk cores is given, applied as the API server applies a JSON patch, and
// that a second review of the result changes nothing; what is denied and with which message; every
// kind of malformed body; and which mutations files load. The patch is checked by applying it
// (test/helpers/admission.ts), never by comparing operations, so any correct patch passes.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ipAddressValue } from "../../src/app/input.ts";
import { maxReviewBytes, reviewAdmission } from "../../src/core/admission.ts";
import { CmkError } from "../../src/core/errors.ts";
import { type Mutations, mutationsFrom, noMutations } from "../../src/core/mutations.ts";
import { parseMutations, parseWebhookConfig } from "../../src/formats/webhook-config.ts";
import { applyPatch, type Json, type JsonObject, patchOf, repoYaml, reviewOf } from "../helpers/admission.ts";
import { repoRoot } from "../helpers/cmk.ts";

const shipped = parseMutations(readFileSync(join(repoRoot, "deploy", "webhook-mutations.yaml"), "utf8"), "deploy/webhook-mutations.yaml");

interface Reviewed {
  readonly decision: string;
  readonly response: JsonObject;
  readonly review: JsonObject;
  readonly operations: readonly { op: string; path: string; value?: Json }[];
  /** The pod with the patch applied (the pod itself when there is none). */
  readonly pod: JsonObject;
  readonly message: string | undefined;
}

/** Reviews the creation of `pod`; fails the test on a bad request. */
function review(pod: JsonObject, mutations: Mutations = shipped, options: Parameters<typeof reviewOf>[1] = {}): Reviewed {
  const outcome = reviewAdmission(JSON.stringify(reviewOf(pod, options)), mutations);
  if (!outcome.ok) assert.fail(`bad request: ${outcome.reason}`);
  const answer = JSON.parse(outcome.body) as JsonObject;
  const response = answer["response"] as JsonObject;
  const operations = patchOf(response);
  return { decision: outcome.decision, response, review: answer, operations, pod: applyPatch(pod, operations) as JsonObject, message: outcome.message };
}

/** Reviews `pod`, applies the patch, reviews the result: the second review must change nothing. */
function mutateOnce(pod: JsonObject, mutations: Mutations = shipped): JsonObject {
  const first = review(pod, mutations);
  assert.equal(first.decision, "mutated", first.message);
  const again = review(first.pod, mutations);
  assert.equal(again.decision, "unchanged", `a second review patched ${JSON.stringify(again.operations)}`);
  assert.deepEqual(again.operations, []);
  assert.equal(again.response["patch"], undefined);
  return first.pod;
}

function container(name: string, cores?: { request?: Json; limit?: Json; resource?: string }, extra: JsonObject = {}): JsonObject {
  const resource = cores?.resource ?? "cmk.intel.com/exclusive-cores";
  const resources: JsonObject = {};
  if (cores?.request !== undefined) resources["requests"] = { cpu: "100m", [resource]: cores.request };
  if (cores?.limit !== undefined) resources["limits"] = { [resource]: cores.limit };
  return { name, image: "registry.example.com/app:1", resources, ...extra };
}

function pod(containers: JsonObject[], spec: JsonObject = {}, metadata: JsonObject = {}): JsonObject {
  return { apiVersion: "v1", kind: "Pod", metadata: { name: "workload", namespace: "default", ...metadata }, spec: { containers, ...spec } };
}

function envOf(target: JsonObject, field = "containers", index = 0): Record<string, Json> {
  const entry = ((target["spec"] as JsonObject)[field] as JsonObject[])[index] as JsonObject;
  return Object.fromEntries(((entry["env"] ?? []) as JsonObject[]).map((variable) => [String(variable["name"]), variable["value"] ?? null]));
}

function specOf(target: JsonObject): JsonObject {
  return target["spec"] as JsonObject;
}

describe("a pod that asks for cmk cores", () => {
  it("gets exactly what deploy/workload-pod-example.yaml spells out by hand (but its own token setting)", () => {
    const example = repoYaml("deploy", "workload-pod-example.yaml");
    // The same pod as its author would write it without cmk: no socket, mounts, group, toleration or CMK_* variables.
    const bare = structuredClone(example);
    const spec = specOf(bare);
    delete spec["securityContext"];
    delete spec["tolerations"];
    delete spec["volumes"];
    for (const entry of spec["containers"] as JsonObject[]) {
      delete entry["env"];
      delete entry["volumeMounts"];
    }
    const mutated = mutateOnce(bare);
    const expected = structuredClone(example);
    (expected["metadata"] as JsonObject)["annotations"] = { "cmk.intel.com/resources-injected": "true" };
    assert.deepEqual(mutated, expected);
  });

  it("gets CMK_NUM_CORES per container from its request, the others none; init containers too", () => {
    const mutated = mutateOnce(
      pod([container("two", { request: "2", limit: "2" }), container("none"), container("three", { limit: "3" })], {
        initContainers: [container("setup", { request: "1", limit: "1" }), container("plain")],
      }),
    );
    assert.equal(envOf(mutated, "containers", 0)["CMK_NUM_CORES"], "2");
    assert.equal(envOf(mutated, "containers", 1)["CMK_NUM_CORES"], undefined);
    assert.equal(envOf(mutated, "containers", 2)["CMK_NUM_CORES"], "3");
    assert.equal(envOf(mutated, "initContainers", 0)["CMK_NUM_CORES"], "1");
    assert.equal(envOf(mutated, "initContainers", 1)["CMK_NUM_CORES"], undefined);
    // Every container gets the socket and the mounts, as in CMK, so a shared or infra isolate finds the agent too.
    for (const [field, index] of [
      ["containers", 1],
      ["initContainers", 1],
    ] as const) {
      assert.equal(envOf(mutated, field, index)["CMK_AGENT_SOCKET"], "/var/lib/cmk/agent.sock");
    }
  });

  it("an init container alone can ask", () => {
    const mutated = mutateOnce(pod([container("app")], { initContainers: [container("warm", { request: "2", limit: "2" })] }));
    assert.equal(envOf(mutated, "initContainers")["CMK_NUM_CORES"], "2");
  });

  it("counts exclusive-non-isolcpus cores too, exclusive-cores first when both are asked for (CMK's order)", () => {
    const nonIsolcpus = mutateOnce(pod([container("app", { request: "3", limit: "3", resource: "cmk.intel.com/exclusive-non-isolcpus-cores" })]));
    assert.equal(envOf(nonIsolcpus)["CMK_NUM_CORES"], "3");
    const both = container("app", { request: "2", limit: "2" });
    (both["resources"] as { limits: JsonObject }).limits["cmk.intel.com/exclusive-non-isolcpus-cores"] = "4";
    assert.equal(envOf(mutateOnce(pod([both])))["CMK_NUM_CORES"], "2");
  });

  it("keeps a CMK_NUM_CORES of its own that says the same count, once", () => {
    const mutated = mutateOnce(
      pod([
        container(
          "app",
          { request: "2", limit: "2" },
          {
            env: [
              { name: "CMK_NUM_CORES", value: "2" },
              { name: "X", value: "y" },
            ],
          },
        ),
      ]),
    );
    const env = ((specOf(mutated)["containers"] as JsonObject[])[0] as JsonObject)["env"] as JsonObject[];
    assert.deepEqual(
      env.map((variable) => variable["name"]),
      ["CMK_NUM_CORES", "X", "CMK_AGENT_SOCKET"],
    );
  });

  it("merges with what the pod has: volumes, mounts, env, tolerations and groups are never given twice", () => {
    const own = pod(
      [
        container(
          "app",
          { request: "1", limit: "1" },
          {
            env: [{ name: "CMK_AGENT_SOCKET", value: "/var/lib/cmk/agent.sock" }],
            volumeMounts: [
              { name: "data", mountPath: "/data" },
              { name: "cmk-bin", mountPath: "/opt/bin", readOnly: true },
            ],
          },
        ),
      ],
      {
        securityContext: { runAsUser: 1000, supplementalGroups: [100] },
        tolerations: [{ key: "dedicated", operator: "Equal", value: "db", effect: "NoSchedule" }],
        volumes: [
          { name: "data", emptyDir: {} },
          { name: "cmk-bin", hostPath: { path: "/opt/bin", type: "Directory" } },
        ],
      },
      { annotations: { team: "a/b~c" }, labels: { app: "x" } },
    );
    const mutated = mutateOnce(own);
    const spec = specOf(mutated);
    assert.deepEqual(spec["securityContext"], { runAsUser: 1000, supplementalGroups: [100, 7001] });
    assert.deepEqual(
      (spec["volumes"] as JsonObject[]).map((volume) => volume["name"]),
      ["data", "cmk-bin", "cmk-agent"],
    );
    assert.deepEqual(
      (spec["tolerations"] as JsonObject[]).map((toleration) => toleration["key"]),
      ["dedicated", "cmk"],
    );
    const app = (spec["containers"] as JsonObject[])[0] as JsonObject;
    assert.deepEqual(
      (app["volumeMounts"] as JsonObject[]).map((mount) => mount["mountPath"]),
      ["/data", "/opt/bin", "/var/lib/cmk"],
    );
    assert.deepEqual(envOf(mutated), { CMK_AGENT_SOCKET: "/var/lib/cmk/agent.sock", CMK_NUM_CORES: "1" });
    assert.deepEqual((mutated["metadata"] as JsonObject)["annotations"], { team: "a/b~c", "cmk.intel.com/resources-injected": "true" });
  });

  it("adds no toleration when the pod already tolerates the cmk taint", () => {
    for (const toleration of [{ key: "cmk", operator: "Exists" }, { key: "cmk", operator: "Equal", value: "true" }, { operator: "Exists" }]) {
      const mutated = mutateOnce(pod([container("app", { limit: "1" })], { tolerations: [toleration] }));
      assert.deepEqual(specOf(mutated)["tolerations"], [toleration]);
    }
    const otherValue = mutateOnce(pod([container("app", { limit: "1" })], { tolerations: [{ key: "cmk", operator: "Equal", value: "false" }] }));
    assert.equal((specOf(otherValue)["tolerations"] as JsonObject[]).length, 2);
  });

  it("keeps the pod's own volume, mount or variable of the same name, and says so in a warning", () => {
    const first = review(
      pod([container("app", { limit: "1" }, { env: [{ name: "CMK_AGENT_SOCKET", value: "/run/agent.sock" }] })], {
        volumes: [{ name: "cmk-agent", emptyDir: {} }],
      }),
    );
    assert.equal(first.decision, "mutated");
    assert.equal(envOf(first.pod)["CMK_AGENT_SOCKET"], "/run/agent.sock");
    assert.deepEqual((specOf(first.pod)["volumes"] as JsonObject[])[0], { name: "cmk-agent", emptyDir: {} });
    const warnings = first.response["warnings"] as string[];
    assert.ok(
      warnings.some((warning) => /volumes: kept the pod's own "cmk-agent"/.test(warning)),
      warnings.join("\n"),
    );
    assert.ok(
      warnings.some((warning) => /container "app" env: kept the pod's own "CMK_AGENT_SOCKET"/.test(warning)),
      warnings.join("\n"),
    );
    assert.equal(review(first.pod).operations.length, 0);
  });

  it("is mutated for the annotation cmk.intel.com/mutate (true, True, 1) without a CMK_NUM_CORES", () => {
    for (const value of ["true", "True", "1"]) {
      const mutated = mutateOnce(pod([container("app")], {}, { annotations: { "cmk.intel.com/mutate": value } }));
      assert.deepEqual(envOf(mutated), { CMK_AGENT_SOCKET: "/var/lib/cmk/agent.sock" });
    }
    for (const value of ["false", "yes", ""]) {
      assert.equal(review(pod([container("app")], {}, { annotations: { "cmk.intel.com/mutate": value } })).decision, "unchanged");
    }
  });

  it("an empty mutations file gives CMK_NUM_CORES only", () => {
    const mutated = mutateOnce(pod([container("app", { limit: "2" })]), noMutations);
    assert.deepEqual(envOf(mutated), { CMK_NUM_CORES: "2" });
    assert.deepEqual(Object.keys(specOf(mutated)), ["containers"]);
  });
});

describe("a pod that does not ask", () => {
  it("is allowed unchanged, without a patch", () => {
    const result = review(pod([container("app", undefined, { resources: { limits: { cpu: "2", "example.com/gpu": "1" } } })]));
    assert.equal(result.decision, "unchanged");
    assert.deepEqual(result.response, { uid: (result.review["response"] as JsonObject)["uid"] as string, allowed: true });
  });

  it("is not mutated on update, or through a subresource", () => {
    const asks = pod([container("app", { limit: "1" })]);
    assert.equal(review(asks, shipped, { operation: "UPDATE" }).decision, "unchanged");
    const outcome = reviewAdmission(
      JSON.stringify({ ...reviewOf(asks), request: { ...(reviewOf(asks)["request"] as JsonObject), subResource: "status" } }),
      shipped,
    );
    assert.ok(outcome.ok && outcome.decision === "unchanged");
  });
});

describe("a pod that cannot be right is denied, with a message kubectl shows", () => {
  function denied(target: JsonObject): string {
    const result = review(target);
    assert.equal(result.decision, "denied");
    assert.equal(result.response["allowed"], false);
    assert.equal(result.response["patch"], undefined);
    const status = result.response["status"] as JsonObject;
    assert.equal(status["code"], 400);
    return String(status["message"]);
  }

  it("when its request differs from its limit", () => {
    assert.match(
      denied(pod([container("app", { request: "1", limit: "2" })])),
      /^cmk: container "app" requests cmk.intel.com\/exclusive-cores: "1" but limits it to "2"; .*equal/,
    );
    assert.match(
      denied(
        pod([container("app")], { initContainers: [container("init", { request: "2", limit: "1", resource: "cmk.intel.com/exclusive-non-isolcpus-cores" })] }),
      ),
      /init container "init" requests cmk.intel.com\/exclusive-non-isolcpus-cores/,
    );
  });

  it("when its count is not a positive whole number", () => {
    for (const count of ["0", "500m", "1.5", "-1", "2k", "", "1e3", "01"]) {
      assert.match(denied(pod([container("app", { limit: count })])), /is not a positive whole number of cores; write a count such as "1"/, count);
    }
  });

  it("when its own CMK_NUM_CORES says another count, or cannot be checked", () => {
    assert.match(
      denied(pod([container("app", { request: "2", limit: "2" }, { env: [{ name: "CMK_NUM_CORES", value: "1" }] })])),
      /container "app" sets CMK_NUM_CORES="1" but asks for 2 cmk cores; remove CMK_NUM_CORES .* or make it 2/,
    );
    assert.match(
      denied(pod([container("app", { limit: "2" }, { env: [{ name: "CMK_NUM_CORES", valueFrom: { configMapKeyRef: { name: "c", key: "k" } } }] })])),
      /takes CMK_NUM_CORES from valueFrom/,
    );
  });

  it("naming every problem at once", () => {
    const message = denied(pod([container("a", { request: "1", limit: "2" }), container("b", { limit: "0" })]));
    assert.match(message, /container "a" .*; container "b"/);
  });

  it("echoing the review's uid and apiVersion, as a denial does not patch", () => {
    const result = review(pod([container("app", { limit: "x" })]), shipped, { uid: "7c6b-uid", apiVersion: "admission.k8s.io/v1beta1" });
    assert.equal(result.review["apiVersion"], "admission.k8s.io/v1beta1");
    assert.equal(result.review["kind"], "AdmissionReview");
    assert.equal(result.response["uid"], "7c6b-uid");
  });
});

describe("what is not an AdmissionReview of a Pod is a bad request, with its reason", () => {
  const asks = pod([container("app", { limit: "1" })]);
  const withRequest = (change: (request: JsonObject) => void): string => {
    const body = reviewOf(asks);
    change(body["request"] as JsonObject);
    return JSON.stringify(body);
  };
  const cases: [string, string, RegExp][] = [
    ["malformed JSON", '{"apiVersion": "admission.k8s.io/v1", ', /^the body is not JSON: /],
    ["an empty body", "", /^the body is not JSON/],
    ["a JSON array", "[1, 2]", /not an AdmissionReview: expected a JSON object/],
    ["JSON null", "null", /not an AdmissionReview/],
    ["another kind", JSON.stringify({ ...reviewOf(asks), kind: "Pod" }), /its kind is "Pod"/],
    [
      "a wrong apiVersion",
      JSON.stringify({ ...reviewOf(asks), apiVersion: "admission.k8s.io/v2" }),
      /apiVersion "admission.k8s.io\/v2" is not answered: use admission.k8s.io\/v1/,
    ],
    ["no apiVersion", JSON.stringify({ ...reviewOf(asks), apiVersion: undefined }), /apiVersion null is not answered/],
    ["no request", JSON.stringify({ ...reviewOf(asks), request: undefined }), /has no request/],
    ["no uid", withRequest((request) => delete request["uid"]), /has no uid/],
    [
      "a ConfigMap",
      withRequest((request) => (request["kind"] = { group: "", version: "v1", kind: "ConfigMap" })),
      /not of a Pod .*register it for resources \["pods"\]/,
    ],
    ["an apps/v1 Pod", withRequest((request) => (request["kind"] = { group: "apps", version: "v1", kind: "Pod" })), /not of a Pod/],
    ["no object", withRequest((request) => delete request["object"]), /request.object is not a Pod: it is missing/],
    ["no spec", withRequest((request) => (request["object"] = { metadata: {} })), /it has no spec/],
    ["containers not a list", withRequest((request) => (request["object"] = { spec: { containers: {} } })), /spec.containers is not a list/],
    ["a container not an object", withRequest((request) => (request["object"] = { spec: { containers: ["x"] } })), /spec.containers\[0\] is not an object/],
    [
      "limits not an object",
      withRequest((request) => (request["object"] = { spec: { containers: [{ name: "a", resources: { limits: "2" } }] } })),
      /resources.limits is not an object/,
    ],
    ["env not a list", withRequest((request) => (request["object"] = { spec: { containers: [{ name: "a", env: {} }] } })), /env is not a list/],
    [
      "initContainers not a list",
      withRequest((request) => (request["object"] = { spec: { containers: [], initContainers: "x" } })),
      /spec.initContainers is not a list/,
    ],
    ["metadata not an object", withRequest((request) => (request["object"] = { metadata: 3, spec: { containers: [] } })), /metadata is not an object/],
  ];
  for (const [name, body, reason] of cases) {
    it(name, () => {
      const outcome = reviewAdmission(body, shipped);
      assert.equal(outcome.ok, false);
      assert.match((outcome as { reason: string }).reason, reason);
    });
  }

  it("the size limit is 3 MiB (the server refuses larger bodies unread)", () => {
    assert.equal(maxReviewBytes, 3 * 1024 * 1024);
  });

  it("nothing a client sends makes it throw: odd values anywhere in the pod", () => {
    const odd: Json[] = [null, 0, -1, 1e308, "", "x", true, [], {}, [null], { "": null }, { __proto__: { polluted: true } } as unknown as Json];
    const places = (value: Json): JsonObject[] => [
      pod([container("a", { limit: value })]),
      pod([container("a", { request: value, limit: "1" })]),
      pod([container("a", { limit: "1" }, { env: [value] as Json[] })]),
      pod([container("a", { limit: "1" }, { env: [{ name: "CMK_NUM_CORES", value }] })]),
      pod([container("a", { limit: "1" }, { name: value })]),
      pod([container("a", { limit: "1" })], { volumes: value, tolerations: value, securityContext: value }),
      pod([container("a", { limit: "1" }, { volumeMounts: value })]),
      pod([container("a")], {}, { annotations: value }),
      pod([container("a")], {}, { annotations: { "cmk.intel.com/mutate": value } }),
    ];
    for (const value of odd) {
      for (const target of places(value)) {
        const outcome = reviewAdmission(JSON.stringify(reviewOf(target)), shipped);
        if (outcome.ok && outcome.decision === "mutated") {
          const operations = patchOf((JSON.parse(outcome.body) as { response: JsonObject }).response);
          applyPatch(target, operations);
        }
      }
    }
    assert.equal(({} as Record<string, unknown>)["polluted"], undefined);
  });
});

describe("the mutations file", () => {
  const load = (text: string): Mutations => parseMutations(text, "m.yaml");
  const refused = (text: string, message: RegExp): void => {
    assert.throws(
      () => load(text),
      (error: unknown) => error instanceof CmkError && error.kind === "usage" && message.test(error.message),
    );
  };

  it("the shipped one loads, and injects the cmk toleration only", () => {
    const tolerations = (shipped.perPod["spec"] as JsonObject)["tolerations"];
    assert.deepEqual(tolerations, [{ key: "cmk", operator: "Equal", value: "true", effect: "NoSchedule" }]);
  });

  it("keeps CMK's format: CMK 1.4's default loads (flow style, the conf dir and /proc)", () => {
    const cmk14 = load(`mutations:
  perPod:
    metadata: {annotations: {cmk.intel.com/resources-injected: 'true'}}
    spec:
      volumes:
      - {hostPath: {path: /proc}, name: cmk-host-proc}
      - {hostPath: {path: /etc/cmk}, name: cmk-config-dir}
      - {hostPath: {path: /opt/bin}, name: cmk-install-dir}
  perContainer:
    env: [{name: CMK_PROC_FS, value: /host/proc}]
    volumeMounts:
    - {mountPath: /host/proc, name: cmk-host-proc, readOnly: true}
    - {mountPath: /etc/cmk, name: cmk-config-dir}
    - {mountPath: /opt/bin, name: cmk-install-dir}
`);
    const mutated = mutateOnce(pod([container("app", { limit: "1" })]), cmk14);
    assert.deepEqual(envOf(mutated), { CMK_PROC_FS: "/host/proc", CMK_NUM_CORES: "1" });
  });

  it("refuses CMK 1.5's default as it stands: a service account and a toleration of every taint", () => {
    const cmk15 = `mutations:
  perPod:
    metadata: {annotations: {cmk.intel.com/resources-injected: "true"}}
    spec:
      serviceAccountName: cmk-serviceaccount
      tolerations: [{operator: Exists}]
`;
    refused(cmk15, /perPod.spec.serviceAccountName is refused: .*hands the pod that account's token/);
    refused(cmk15.replace("      serviceAccountName: cmk-serviceaccount\n", ""), /a toleration without a key tolerates every taint/);
    refused("mutations:\n  perPod:\n    spec:\n      serviceAccount: x\n", /serviceAccount is refused/);
    refused(
      "mutations:\n  perPod:\n    spec:\n      automountServiceAccountToken: false\n",
      /cannot take effect: the ServiceAccount admission plugin runs before webhooks/,
    );
  });

  it("refuses what cannot be merged into a pod or would break the patch", () => {
    refused("mutations:\n  perPod:\n    status: {}\n", /perPod.status cannot be injected: only metadata and spec/);
    refused("mutations:\n  perPods: {}\n", /mutations.perPods is not known/);
    refused("mutations: [1]\n", /must be a mapping/);
    refused("- 1\n", /expected a mapping with the key mutations/);
    refused("mutations:\n  perContainer:\n    env: [{name: CMK_NUM_CORES, value: '2'}]\n", /sets CMK_NUM_CORES: the webhook sets it/);
    refused("mutations:\n  perContainer:\n    env: [{name: A, value: '1'}, {name: A, value: '2'}]\n", /env\[1\] repeats an earlier entry of env/);
    refused("mutations:\n  perContainer:\n    volumeMounts: [{name: a}]\n", /volumeMounts\[0\] has no mountPath/);
    refused("mutations:\n  perPod:\n    metadata: {annotations: {a: true}}\n", /annotations\["a"\] must be a string: quote it/);
    refused("mutations:\n  perPod: {spec: {volumes: [{name: a, hostPath: {path: /x}}\n", /^m.yaml: line/);
  });

  it("without the mutations key, or empty, injects nothing (as CMK)", () => {
    assert.deepEqual(load(""), noMutations);
    assert.deepEqual(load("other: 1\n"), noMutations);
    assert.deepEqual(mutationsFrom({ mutations: null }, "x"), noMutations);
  });
});

describe("the server configuration (--conf-file)", () => {
  const parse = (text: string) => parseWebhookConfig(text, "/etc/webhook/server.yaml", ipAddressValue);
  it("reads CMK's keys, paths relative to its directory", () => {
    const { config, unknownKeys } = parse(
      'server:\n  binding-address: "0.0.0.0"\n  port: 8443\n  cert: "/etc/ssl/cert.pem"\n  key: key.pem\n  mutations: "/etc/webhook/mutations.yaml"\n  workers: 4\n',
    );
    assert.deepEqual(config, {
      address: "0.0.0.0",
      port: 8443,
      certFile: "/etc/ssl/cert.pem",
      keyFile: "/etc/webhook/key.pem",
      mutationsFile: "/etc/webhook/mutations.yaml",
    });
    assert.deepEqual(unknownKeys, ["workers"]);
  });
  it("refuses a missing key, a bad port or address, naming the file", () => {
    assert.throws(() => parse("server:\n  port: 8443\n"), /server.yaml: server.binding-address, server.cert, server.key, server.mutations are missing/);
    assert.throws(() => parse("server: {binding-address: 0.0.0.0, port: 70000, cert: c, key: k, mutations: m}\n"), /server.port=70000 is not a port/);
    assert.throws(
      () => parse("server: {binding-address: example.com, port: 1, cert: c, key: k, mutations: m}\n"),
      /server.binding-address="example.com" is not valid/,
    );
    assert.throws(() => parse("port: 1\n"), /expected a mapping "server"/);
  });
});
