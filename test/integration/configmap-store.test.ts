// The ConfigMap store against a real API server and etcd: the StateStore contract, CMK 1.5's
// document read and written as CMK writes it, real `cmk` processes choosing the store from their
// flags and environment, racing on one ConfigMap, killed at random instants, and failing clearly
// when the document or the server is bad.
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer, get as httpsGet } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { describe, it } from "node:test";
import { KubeClient } from "../../src/adapters/kubernetes/client.ts";
import { ConfigMapStateStore } from "../../src/adapters/kubernetes/configmap-store.ts";
import { kubeconfigAccess } from "../../src/adapters/kubernetes/kubeconfig.ts";
import { parseYaml } from "../../src/formats/yaml.ts";
import { collect, fixtureEnv, runCmk, scratchDir, spawnCmk } from "../helpers/cmk.ts";
import { type KubeObject, useControlPlane } from "../helpers/controlplane.ts";
import { specPoolDocument } from "../helpers/documents.ts";
import { kubeconfigText } from "../helpers/kubeconfig.ts";
import { storeContract } from "../helpers/store-contract.ts";
import { expectedPools, hostNode } from "../helpers/topology.ts";

const cp = useControlPlane();
const scratch = scratchDir("configmap");
let nodes = 0;
const freshNode = (): string => `node-${process.pid}-${nodes++}`;

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

const configMapPath = (node: string, namespace = "default"): string => `/api/v1/namespaces/${namespace}/configmaps/cmk-config-${node}`;

async function getConfigMap(node: string, namespace = "default"): Promise<ConfigMap | null> {
  const response = await cp().request<ConfigMap>("GET", configMapPath(node, namespace));
  if (response.status === 404) return null;
  assert.equal(response.status, 200);
  return response.body;
}

/** Creates or replaces cmk-config-<node> with `data` (and annotations), as a hand edit or CMK 1.5 would. */
async function plantConfigMap(node: string, data: Record<string, string>, annotations: Record<string, string> = {}): Promise<void> {
  const existing = await getConfigMap(node);
  const body = { apiVersion: "v1", kind: "ConfigMap", metadata: { ...(existing?.metadata ?? { name: `cmk-config-${node}` }), annotations }, data };
  const response =
    existing === null ? await cp().request("POST", "/api/v1/namespaces/default/configmaps", body) : await cp().request("PUT", configMapPath(node), body);
  assert.ok(response.status === 200 || response.status === 201, JSON.stringify(response.body));
}

function storeFor(node: string, timeoutSeconds = 30): ConfigMapStateStore {
  return new ConfigMapStateStore({
    client: new KubeClient(kubeconfigAccess([cp().kubeconfig])),
    namespace: "default",
    nodeName: node,
    lockTimeoutSeconds: timeoutSeconds,
  });
}

storeContract("ConfigMap store", async () => {
  const node = freshNode();
  return {
    store: storeFor(node),
    reopen: () => storeFor(node),
    raw: async () => {
      const object = await getConfigMap(node);
      return object === null ? null : JSON.stringify(object.data ?? {});
    },
    plantConfig: (config) => plantConfigMap(node, { config }),
  };
});

/** `args` with the flags of the ConfigMap store of `node` (through the admin kubeconfig) before any `--`. */
function withStore(node: string, args: readonly string[]): string[] {
  const end = args.indexOf("--");
  const flags = [`--kubeconfig=${cp().kubeconfig}`, `--node-name=${node}`];
  return end < 0 ? [...args, ...flags] : [...args.slice(0, end), ...flags, ...args.slice(end)];
}

function cmk(node: string, args: readonly string[], env: Record<string, string> = {}) {
  return runCmk(withStore(node, args), env);
}

/** A key of the pool document as PyYAML writes it: a list of one CPU looks like a number, so it is quoted. */
const yamlKey = (key: string): string => (/^\d+$/.test(key) ? `'${key}'` : key);

describe("cmk with the ConfigMap store", () => {
  const host = hostNode();
  const pools = expectedPools(host, { exclusive: 1, shared: 0 });

  it("init creates cmk-config-<node> with CMK 1.5's pool document under `config`; isolate pins and gives the list back", async () => {
    const node = freshNode();
    const init = cmk(node, ["init", "--num-exclusive-cores=1", "--num-shared-cores=0"]);
    assert.equal(init.status, 0, init.stderr);
    const created = await getConfigMap(node);
    assert.ok(created?.data?.["config"] !== undefined, "no data key config");
    // PyYAML's block style: pools alphabetical, PIDs as quoted strings, nothing of cmk's own inside.
    const exclusive = pools.exclusive[0];
    assert.ok(exclusive !== undefined);
    assert.ok(created.data["config"].startsWith(`exclusive:\n  ${exclusive.socket}:\n    ${yamlKey(exclusive.key)}: []\n`), created.data["config"]);
    assert.doesNotMatch(created.data["config"], /start|pid/);

    const run = cmk(node, ["isolate", "--pool=exclusive", "--", "sh", "-c", "grep Cpus_allowed_list /proc/self/status; echo $CMK_CPUS_ASSIGNED"]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`Cpus_allowed_list:\\s+${exclusive.cpus}\\n${exclusive.cpus}\\n`));
    const after = await getConfigMap(node);
    assert.equal(after?.data?.["config"], created.data["config"], "the list was not given back");
    assert.equal(after?.data?.["tasks"], undefined);
  });

  it("records a running task's PIDs and pod under `tasks`, beside the pool document, while it runs", async () => {
    const node = freshNode();
    assert.equal(cmk(node, ["init", "--num-exclusive-cores=1", "--num-shared-cores=0"]).status, 0);
    const marker = join(scratch, `${node}.done`);
    const child = spawnCmk(
      ["isolate", "--pool=infra", `--kubeconfig=${cp().kubeconfig}`, `--node-name=${node}`, "--", "sh", "-c", `while [ ! -e ${marker} ]; do sleep 0.05; done`],
      {
        POD_NAMESPACE: "team-a",
        POD_NAME: "web-0",
        POD_UID: "6f1c2d3e-0000-4000-8000-000000000001",
      },
    );
    const finished = collect(child);
    let held: ConfigMap | null = null;
    for (let tries = 0; tries < 200 && held?.data?.["tasks"] === undefined; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      held = await getConfigMap(node);
    }
    const tasks = JSON.parse(held?.data?.["tasks"] ?? "{}") as Record<string, { pid: number; pod?: unknown }>;
    const [id, record] = Object.entries(tasks)[0] ?? [];
    assert.ok(id !== undefined && record !== undefined, "no task recorded");
    assert.equal(record.pid, child.pid);
    assert.deepEqual(record.pod, { namespace: "team-a", name: "web-0", uid: "6f1c2d3e-0000-4000-8000-000000000001" });
    assert.match(held?.data?.["config"] ?? "", new RegExp(`- '${id}'`));
    writeFileSync(marker, "");
    assert.equal((await finished).status, 0);
    assert.equal((await getConfigMap(node))?.data?.["tasks"], undefined);
  });

  it("init keeps the layout while a task holds a list: the same carving is a no-op, another is refused with exit 7", async () => {
    const node = freshNode();
    assert.equal(cmk(node, ["init", "--num-exclusive-cores=1", "--num-shared-cores=0"]).status, 0);
    const marker = join(scratch, `${node}.done`);
    const child = spawnCmk(withStore(node, ["isolate", "--pool=infra", "--", "sh", "-c", `echo held; while [ ! -e ${marker} ]; do sleep 0.05; done`]));
    const finished = collect(child);
    await new Promise<void>((resolve) => child.stdout?.once("data", () => resolve()));
    try {
      const before = await getConfigMap(node);
      assert.equal(cmk(node, ["init", "--num-exclusive-cores=1", "--num-shared-cores=0"]).status, 0);
      const refused = cmk(node, ["init", "--num-exclusive-cores=0", "--num-shared-cores=0"]);
      assert.equal(refused.status, 7, refused.stderr);
      assert.equal((await getConfigMap(node))?.metadata.resourceVersion, before?.metadata.resourceVersion, "init wrote");
    } finally {
      writeFileSync(marker, "");
    }
    assert.equal((await finished).status, 0);
  });

  it("reads a ConfigMap CMK 1.5 wrote as is, ignores its Owner lock, and drops it on the next write", async () => {
    const node = freshNode();
    await plantConfigMap(node, { config: specPoolDocument }, { Owner: "cmk-isolate-pod-that-died" });
    const describe = cmk(node, ["describe"]);
    assert.equal(describe.status, 0, describe.stderr);
    assert.deepEqual(Object.keys((JSON.parse(describe.stdout) as { pools: object }).pools).sort(), ["exclusive", "infra", "shared"]);
    assert.equal((await getConfigMap(node))?.metadata["annotations"] !== undefined, true, "describe wrote");

    // CMK 1.5's tasks are PIDs of processes long gone: a procfs where only PID 1 runs (one that
    // lists no process at all is refused, since every task would look dead there).
    const otherProc = join(scratch, "pid-1-only-proc");
    mkdirSync(join(otherProc, "1"), { recursive: true });
    const reconcile = cmk(node, ["reconcile"], { CMK_PROC_FS: otherProc });
    assert.equal(reconcile.status, 0, reconcile.stderr);
    const after = await getConfigMap(node);
    assert.deepEqual(after?.metadata["annotations"] ?? {}, {});
    assert.equal(
      after?.data?.["config"],
      specPoolDocument.replace("    6,14:\n    - '48624'\n", "    6,14: []\n").replace("    0,8,1,9,2,10:\n    - '48611'\n", "    0,8,1,9,2,10: []\n"),
    );
  });

  it("refuses a broken document naming the object and the problem, and writes nothing", async () => {
    const node = freshNode();
    for (const [config, problem] of [
      ["exclusive: [", "cmk-config-"],
      ['{ "exclusive": { "0": { "4,12": 7 } } }', "tasks must be a list"],
      ['{ "gpu": { "0": { "4,12": [] } } }', 'unknown pool "gpu"'],
      ['{ "exclusive": { "0": { "0,1": [] } }, "shared": { "0": { "1": [] } } }', "share CPU 1"],
    ] as const) {
      await plantConfigMap(node, { config });
      const before = await getConfigMap(node);
      const run = cmk(node, ["isolate", "--pool=exclusive", "--", "true"]);
      assert.equal(run.status, 3, `${config}: ${run.stderr}`);
      assert.match(run.stderr, new RegExp(`configmap default/cmk-config-${node}\\b`));
      assert.ok(run.stderr.includes(problem), `${config}: ${run.stderr}`);
      assert.equal(run.stderr.trim().split("\n").length, 1, run.stderr);
      assert.equal((await getConfigMap(node))?.metadata.resourceVersion, before?.metadata.resourceVersion, "something was written");
    }
  });

  it("needs the node's name: a clear usage error without --node-name or NODE_NAME", () => {
    const run = runCmk(["describe", `--kubeconfig=${cp().kubeconfig}`]);
    assert.equal(run.status, 2);
    assert.match(run.stderr, /--node-name=<node>, or set NODE_NAME/);
    const byEnv = runCmk(["describe", `--kubeconfig=${cp().kubeconfig}`], { NODE_NAME: "no-such-node" });
    assert.equal(byEnv.status, 8);
    assert.match(byEnv.stderr, /no cmk state in configmap default\/cmk-config-no-such-node; run cmk init --namespace=default --node-name=no-such-node/);
  });

  it("chooses the ConfigMap store from KUBECONFIG with --node-name, and the file store with --conf-dir", async () => {
    const node = freshNode();
    const viaEnv = runCmk(["init", `--node-name=${node}`, "--num-exclusive-cores=1", "--num-shared-cores=0"], {
      KUBECONFIG: `/nonexistent:${cp().kubeconfig}`,
    });
    assert.equal(viaEnv.status, 0, viaEnv.stderr);
    assert.ok((await getConfigMap(node)) !== null);
    const dir = join(scratch, `${node}-conf`);
    const viaDir = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"], { KUBECONFIG: cp().kubeconfig });
    assert.equal(viaDir.status, 0, viaDir.stderr);
    assert.equal(runCmk(["describe", `--conf-dir=${dir}`]).status, 0);
    // With --conf-dir, --namespace only says where published reports go: the directory is read.
    const both = runCmk(["describe", `--conf-dir=${dir}`, "--namespace=default"], { KUBECONFIG: cp().kubeconfig });
    assert.equal(both.status, 0, both.stderr);
    assert.equal((JSON.parse(both.stdout) as { path: string }).path, dir);
  });

  it("fails with exit 11 and the server's words when the API server refuses or is down, after CMK_LOCK_TIMEOUT", async () => {
    const node = freshNode();
    const forbidden = runCmk(["describe", `--kubeconfig=${tokenKubeconfig("not-a-token")}`, `--node-name=${node}`]);
    assert.equal(forbidden.status, 11, forbidden.stderr);
    assert.match(forbidden.stderr, new RegExp(`cannot get configmap default/cmk-config-${node}: HTTP 401`));

    // A server that answers 500 to everything (TLS from the cluster's CA, on loopback).
    const { cert, key } = await cp().issueServingCert("broken-apiserver");
    let requests = 0;
    const broken = createServer({ cert, key }, (_request, response) => {
      requests++;
      response.writeHead(500, { "Content-Type": "application/json" });
      response.end(JSON.stringify({ kind: "Status", message: "etcdserver: request timed out", reason: "InternalError" }));
    }).listen(0, "127.0.0.1");
    await once(broken, "listening");
    try {
      const started = performance.now();
      // Asynchronously: this very process serves the broken server.
      const port = (broken.address() as AddressInfo).port;
      const failing = await collect(
        spawnCmk(["describe", `--kubeconfig=${tokenKubeconfig("t", `https://127.0.0.1:${port}`)}`, `--node-name=${node}`], { CMK_LOCK_TIMEOUT: "3" }),
      );
      const took = performance.now() - started;
      assert.equal(failing.status, 11, failing.stderr);
      assert.match(failing.stderr, /HTTP 500 InternalError: etcdserver: request timed out; gave up retrying after 3.0 s/);
      assert.ok(requests > 1, "it did not retry");
      // It stops early only when the next back-off would pass the deadline (at most 500 ms).
      assert.ok(took >= 2400 && took < 15_000, `took ${took} ms`);
    } finally {
      broken.close();
    }
    // Nobody listens: connection refused, retried until the timeout, the same exit status.
    const down = runCmk(["describe", `--kubeconfig=${tokenKubeconfig("t", "https://127.0.0.1:1")}`, `--node-name=${node}`], { CMK_LOCK_TIMEOUT: "0.5" });
    assert.equal(down.status, 11, down.stderr);
    assert.match(down.stderr, /the API server https:\/\/127.0.0.1:1 did not answer: connect ECONNREFUSED 127.0.0.1:1; gave up retrying after 0.5 s/);
  });
});

/** A kubeconfig for the test cluster's CA, authenticating with `token`, optionally at another server. */
function tokenKubeconfig(token: string, server = cp().server): string {
  const path = join(scratch, `token-${nodes++}.kubeconfig`);
  writeFileSync(path, kubeconfigText({ server, ca: cp().caCert }, `    token: ${token}\n`));
  return path;
}

/** Every version of cmk-config-<node> the API server sends a watch from `resourceVersion` on, until `stop`. */
function watchConfigs(node: string, resourceVersion: string): { versions: string[]; stop: () => void } {
  const access = kubeconfigAccess([cp().kubeconfig]);
  const credentials = access.credentials;
  assert.equal(credentials.kind, "certificate");
  const versions: string[] = [];
  const url = new URL(
    `${access.server}/api/v1/namespaces/default/configmaps?watch=1&fieldSelector=metadata.name%3Dcmk-config-${node}&resourceVersion=${resourceVersion}`,
  );
  const request = httpsGet(url, { ca: access.ca, cert: credentials.cert, key: credentials.key }, (response) => {
    let buffered = "";
    response.setEncoding("utf8").on("data", (chunk: string) => {
      buffered += chunk;
      for (let newline = buffered.indexOf("\n"); newline >= 0; newline = buffered.indexOf("\n")) {
        const event = JSON.parse(buffered.slice(0, newline)) as { object: ConfigMap };
        buffered = buffered.slice(newline + 1);
        versions.push(event.object.data?.["config"] ?? "");
      }
    });
  });
  request.on("error", () => {});
  return { versions, stop: () => request.destroy() };
}

/** The exclusive lists of a pool document and their tasks. */
function exclusiveHolders(config: string): Map<string, string[]> {
  const holders = new Map<string, string[]>();
  const exclusive = (parseYaml(config, "watched") as Map<string, Map<number, Map<string, string[]>>>).get("exclusive");
  for (const lists of exclusive?.values() ?? []) for (const [key, tasks] of lists) holders.set(key, tasks);
  return holders;
}

describe("isolates racing on one ConfigMap", () => {
  it("32 at once on a 32-list pool: each gets its own list, no version of the document gives one twice, the 33rd exits 5", async () => {
    const node = freshNode();
    const sysfs = { CMK_DEV_LSCPU_SYSFS: fixtureEnv("server-4s256", join(scratch, "server-4s256"))["CMK_DEV_LSCPU_SYSFS"] as string };
    const init = cmk(node, ["init", "--num-exclusive-cores=32", "--num-shared-cores=1"], sysfs);
    assert.equal(init.status, 0, init.stderr);
    const initial = await getConfigMap(node);
    assert.equal(exclusiveHolders(initial?.data?.["config"] ?? "").size, 32);
    const watch = watchConfigs(node, initial?.metadata.resourceVersion ?? "0");
    const marker = join(scratch, `${node}.done`);
    const args = (command: string): string[] => [
      "isolate",
      "--pool=exclusive",
      "--no-affinity",
      `--kubeconfig=${cp().kubeconfig}`,
      `--node-name=${node}`,
      "--",
      "sh",
      "-c",
      command,
    ];
    const racers = Array.from({ length: 32 }, () => spawnCmk(args(`echo "$CMK_CPUS_ASSIGNED"; while [ ! -e ${marker} ]; do sleep 0.05; done`), sysfs));
    const results = racers.map((child) => collect(child));
    const assigned = await Promise.all(
      racers.map(
        (child, index) =>
          new Promise<string>((resolve, reject) => {
            child.stdout?.once("data", (data: Buffer) => resolve(data.toString().trim()));
            child.once("exit", (code) => reject(new Error(`isolate ${index} exited ${code} before its command ran`)));
          }),
      ),
    );
    try {
      assert.equal(new Set(assigned).size, 32, `lists given: ${assigned.join(" ")}`);
      const extra = runCmk(args("true"), sysfs);
      assert.equal(extra.status, 5, extra.stderr);
      assert.match(extra.stderr, /0 free of 32 CPU lists/);
    } finally {
      writeFileSync(marker, "");
    }
    for (const result of await Promise.all(results)) assert.equal(result.status, 0, result.stderr);
    await new Promise((resolve) => setTimeout(resolve, 500));
    watch.stop();
    // 32 allocations and 32 releases, each a version of its own.
    assert.ok(watch.versions.length >= 64, `watched ${watch.versions.length} versions`);
    for (const [index, version] of watch.versions.entries()) {
      const seen = new Map<string, string>();
      for (const [key, tasks] of exclusiveHolders(version)) {
        assert.ok(tasks.length <= 1, `version ${index}: list ${key} held by ${tasks.join(", ")}`);
        for (const task of tasks) {
          assert.equal(seen.get(task), undefined, `version ${index}: task ${task} holds ${seen.get(task)} and ${key}`);
          seen.set(task, key);
        }
      }
    }
    assert.equal((await getConfigMap(node))?.data?.["config"], initial?.data?.["config"], "not every list came back");
  });

  it("leaves a document that parses, and that reconcile repairs, when isolates are killed with SIGKILL at random instants", async () => {
    const node = freshNode();
    assert.equal(cmk(node, ["init", "--num-exclusive-cores=1", "--num-shared-cores=0"]).status, 0);
    const initial = await getConfigMap(node);
    for (let round = 0; round < 12; round++) {
      const child = spawnCmk(withStore(node, ["isolate", "--pool=infra", "--", "sleep", "2"]));
      // Its exit, not the close of its output, which the orphaned sleep keeps open.
      const finished = once(child, "exit");
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 400));
      child.kill("SIGKILL");
      await finished;
      const describe = cmk(node, ["describe"]);
      assert.equal(describe.status, 0, `round ${round}: ${describe.stderr}`);
    }
    const reconcile = cmk(node, ["reconcile"]);
    assert.equal(reconcile.status, 0, reconcile.stderr);
    // The sleeps of killed isolates live on until they end; once they have, nothing is held.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assert.equal(cmk(node, ["reconcile"]).status, 0);
    const after = await getConfigMap(node);
    assert.equal(after?.data?.["config"], initial?.data?.["config"]);
    assert.equal(after?.data?.["tasks"], undefined);
  });
});

describe("cmk describe --all-nodes", () => {
  it("lists every node's pools and the pods holding them, and names a node whose document is broken (exit 3)", async () => {
    const namespace = "cmk-fleet";
    await cp().createNamespace(namespace);
    const flags = (node: string): string[] => [`--kubeconfig=${cp().kubeconfig}`, `--namespace=${namespace}`, `--node-name=${node}`];
    for (const node of ["fleet-a", "fleet-b"]) assert.equal(runCmk(["init", "--num-exclusive-cores=1", "--num-shared-cores=0", ...flags(node)]).status, 0);
    const marker = join(scratch, "fleet.done");
    const holder = spawnCmk(
      ["isolate", "--pool=exclusive", ...flags("fleet-b"), "--", "sh", "-c", `echo held; while [ ! -e ${marker} ]; do sleep 0.05; done`],
      {
        POD_NAMESPACE: "payments",
        POD_NAME: "ledger-0",
        POD_UID: "0b8c6a52-0000-4000-8000-000000000002",
      },
    );
    const held = collect(holder);
    await new Promise<void>((resolve) => holder.stdout?.once("data", () => resolve()));
    try {
      const all = runCmk(["describe", "--all-nodes", `--kubeconfig=${cp().kubeconfig}`, `--namespace=${namespace}`]);
      assert.equal(all.status, 0, all.stderr);
      const described = JSON.parse(all.stdout) as {
        namespace: string;
        nodes: Record<string, { pools: object; holders: Record<string, { pid: number; pod?: string }> }>;
      };
      assert.equal(described.namespace, namespace);
      assert.deepEqual(Object.keys(described.nodes), ["fleet-a", "fleet-b"]);
      assert.deepEqual(described.nodes["fleet-a"]?.holders, {});
      assert.deepEqual(
        Object.values(described.nodes["fleet-b"]?.holders ?? {}).map((entry) => entry.pod),
        ["payments/ledger-0"],
      );
      assert.equal(Object.values(described.nodes["fleet-b"]?.holders ?? {})[0]?.pid, holder.pid);
    } finally {
      writeFileSync(marker, "");
    }
    assert.equal((await held).status, 0);

    const broken = await cp().request("POST", `/api/v1/namespaces/${namespace}/configmaps`, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "cmk-config-fleet-c" },
      data: { config: "exclusive: [" },
    });
    assert.equal(broken.status, 201);
    const withBroken = runCmk(["describe", "--all-nodes", `--kubeconfig=${cp().kubeconfig}`, `--namespace=${namespace}`]);
    assert.equal(withBroken.status, 3, withBroken.stderr);
    const nodes = (JSON.parse(withBroken.stdout) as { nodes: Record<string, { error?: string }> }).nodes;
    assert.deepEqual(Object.keys(nodes), ["fleet-a", "fleet-b", "fleet-c"]);
    assert.match(nodes["fleet-c"]?.error ?? "", new RegExp(`configmap ${namespace}/cmk-config-fleet-c data key config`));
    assert.match(withBroken.stderr, /cmk-config-fleet-c/);
  });
});

describe("the long-running mode on the ConfigMap store", () => {
  it("counts the API server's refusals by verb and code in its metrics, and is not ready while passes fail", async () => {
    const node = freshNode();
    assert.equal(cmk(node, ["init", "--num-exclusive-cores=1", "--num-shared-cores=0"]).status, 0);
    const loop = spawnCmk(["reconcile", "--interval=0.1", "--metrics-port=0", `--kubeconfig=${tokenKubeconfig("revoked")}`, `--node-name=${node}`]);
    const done = collect(loop);
    let stderr = "";
    loop.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setInterval(() => {
          const found = /serving metrics on (http:\/\/127\.0\.0\.1:\d+)\/metrics/.exec(stderr)?.[1];
          if (found !== undefined) {
            clearInterval(timer);
            resolve(found);
          }
        }, 20);
        loop.once("exit", () => reject(new Error(`reconcile exited: ${stderr}`)));
      });
      let text = "";
      for (let tries = 0; tries < 100 && !/cmk_api_errors_total\{[^}]*code="401"[^}]*\} [1-9]/.test(text); tries++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        text = await (await fetch(`${url}/metrics`)).text();
      }
      assert.match(text, /cmk_api_errors_total\{(?=[^}]*verb="get")(?=[^}]*code="401")[^}]*\} [1-9]/);
      assert.match(text, /cmk_pass_failures_total(\{[^}]*\})? [1-9]/);
      assert.equal((await fetch(`${url}/readyz`)).status, 503);
      assert.match(stderr, /cmk reconcile pass failed, trying again in 0.1 seconds: cannot get configmap default\/cmk-config-[^:]+: HTTP 401/);
    } finally {
      loop.kill("SIGTERM");
    }
    await done;
  });
});
