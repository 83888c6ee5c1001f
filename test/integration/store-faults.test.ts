// Faults between cmk and the API server (helpers/fault-proxy.ts in front of a real control
// plane): 409 storms, 500s, 429 with Retry-After, answers slower than the deadline, connections
// dropped before a request reaches the server and after the server carried it out (the answer
// lost), during isolate, reconcile and init. Why: the ConfigMap store promises that a change is
// all or nothing, that transient failures are retried for at most CMK_LOCK_TIMEOUT, and that a
// failure the retries cannot cure ends the command with one line naming the verb, the object and
// the status; here each promise meets the fault it is about. After every fault the ConfigMap must
// parse and keep the invariants of helpers/invariants.ts (no list lost, none given twice, every
// live task pinned to exactly its lists). The proxy serves from this process, so every cmk runs
// asynchronously (spawnCmk, collect).
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, beforeEach, describe, it } from "node:test";
import { decodeConfigMap } from "../../src/adapters/kubernetes/configmap-store.ts";
import type { NodeState } from "../../src/core/node-state.ts";
import { type CmkResult, collect, scratchDir, spawnCmk, waitFor } from "../helpers/cmk.ts";
import { type KubeObject, useControlPlane } from "../helpers/controlplane.ts";
import { type FaultPolicy, type FaultProxy, faultOn, pass, startFaultProxy } from "../helpers/fault-proxy.ts";
import { violations } from "../helpers/invariants.ts";

const cp = useControlPlane();
const scratch = scratchDir("store-faults");
let proxy: FaultProxy;
/** Starts the proxy on first use, once the control plane runs (hooks of one file may run in any order). */
async function startProxy(): Promise<void> {
  if (proxy !== undefined) return;
  proxy = await startFaultProxy(cp(), scratch);
}
after(() => proxy?.close());

beforeEach(startProxy);

let nodes = 0;
const freshNode = (): string => `faults-${process.pid}-${nodes++}`;
const carving = ["--num-exclusive-cores=1", "--num-shared-cores=0"];
/** The lock timeout of the runs that must give up: long enough for several retries, short for CI. */
const timeoutSeconds = 2;

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

/** Runs cmk for `node`'s ConfigMap, through the proxy or straight to the API server, timing it. */
async function cmk(
  node: string,
  args: readonly string[],
  options: { direct?: boolean; env?: Record<string, string> } = {},
): Promise<CmkResult & { ms: number }> {
  const kubeconfig = options.direct === true ? cp().kubeconfig : proxy.kubeconfig;
  const end = args.indexOf("--");
  const flags = [`--kubeconfig=${kubeconfig}`, `--node-name=${node}`];
  const full = end < 0 ? [...args, ...flags] : [...args.slice(0, end), ...flags, ...args.slice(end)];
  const started = performance.now();
  const result = await collect(spawnCmk(full, options.env ?? {}));
  return { ...result, ms: performance.now() - started };
}

/** Runs `args` through the proxy with `policy`, then sets the proxy back to passing everything. */
async function withFaults(policy: FaultPolicy, run: () => Promise<CmkResult & { ms: number }>): Promise<CmkResult & { ms: number }> {
  const first = proxy.requests.length;
  proxy.setPolicy(policy);
  try {
    const result = await run();
    return Object.assign(result, { requests: proxy.requests.slice(first) });
  } finally {
    proxy.setPolicy(pass);
  }
}

async function configMap(node: string): Promise<ConfigMap | null> {
  const response = await cp().request<ConfigMap>("GET", `/api/v1/namespaces/default/configmaps/cmk-config-${node}`);
  if (response.status === 404) return null;
  assert.equal(response.status, 200);
  return response.body;
}

/** The node's state as the ConfigMap holds it; the test fails when it does not parse. */
async function stateOf(node: string): Promise<NodeState> {
  const object = await configMap(node);
  assert.ok(object !== null, `no ConfigMap for ${node}`);
  const state = decodeConfigMap(object as Parameters<typeof decodeConfigMap>[0], `configmap ${node}`);
  assert.ok(state !== null, `the ConfigMap of ${node} has no config`);
  return state;
}

/** A node initialised straight through the API server; its layout is what every later state must keep. */
async function initialised(): Promise<{ node: string; layout: NodeState; config: string }> {
  const node = freshNode();
  const init = await cmk(node, ["init", ...carving], { direct: true });
  assert.equal(init.status, 0, init.stderr);
  return { node, layout: await stateOf(node), config: (await configMap(node))?.data?.["config"] ?? "" };
}

async function assertSound(node: string, layout: NodeState, reconciled = true): Promise<void> {
  assert.deepEqual(violations(await stateOf(node), { layout, reconciled }), []);
}

/** The one ERROR line of a run. */
function errorLine(result: CmkResult): string {
  const lines = result.stderr.split("\n").filter((line) => line.startsWith("ERROR:"));
  assert.equal(lines.length, 1, result.stderr);
  assert.doesNotMatch(result.stderr, /unexpected failure|^\s+at /m);
  return lines[0] as string;
}

/** The run gave up at its deadline: not before it (less one back-off), not long after (one request's minimum timeout and a start-up). */
function assertWithinDeadline(result: { ms: number }, seconds = timeoutSeconds): void {
  assert.ok(result.ms >= seconds * 1000 - 600, `gave up after ${result.ms.toFixed(0)} ms, before CMK_LOCK_TIMEOUT=${seconds}`);
  assert.ok(result.ms <= seconds * 1000 + 2000, `gave up after ${result.ms.toFixed(0)} ms, long after CMK_LOCK_TIMEOUT=${seconds}`);
}

const isUpdate = (request: { verb: string }): boolean => request.verb === "update";
const env = { CMK_LOCK_TIMEOUT: String(timeoutSeconds) };

describe("409 storms", () => {
  it("isolate retries a run of conflicts on its writes and lands its allocation and release once", async () => {
    const { node, layout, config } = await initialised();
    const run = await withFaults(faultOn(isUpdate, { kind: "status", status: 409 }, 6), () =>
      cmk(node, ["isolate", "--pool=exclusive", "--", "sh", "-c", 'echo "$CMK_CPUS_ASSIGNED"']),
    );
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^\d/);
    assertUsedFaults(run, "status", 6);
    await assertSound(node, layout);
    assert.equal((await configMap(node))?.data?.["config"], config, "a list was not given back");
  });

  it("conflicts on every write: exit 4 within CMK_LOCK_TIMEOUT naming the object; the ConfigMap untouched, the command never run", async () => {
    const { node, layout } = await initialised();
    const before = await configMap(node);
    const marker = join(scratch, `${node}.ran`);
    const run = await withFaults(faultOn(isUpdate, { kind: "status", status: 409 }), () =>
      cmk(node, ["isolate", "--pool=exclusive", "--", "touch", marker], { env }),
    );
    assert.equal(run.status, 4, run.stderr);
    assert.match(
      errorLine(run),
      new RegExp(`configmap default/cmk-config-${node}: other writers changed it \\d+ times in a row within 2\\.0 s; try again, or raise CMK_LOCK_TIMEOUT`),
    );
    assertWithinDeadline(run);
    assert.equal(existsSync(marker), false, "the command ran");
    assert.equal((await configMap(node))?.metadata.resourceVersion, before?.metadata.resourceVersion);
    await assertSound(node, layout);
  });
});

describe("500s", () => {
  it("on every request during init: exit 11 after CMK_LOCK_TIMEOUT naming the verb, the object and the status; no ConfigMap", async () => {
    const node = freshNode();
    const run = await withFaults(
      () => ({ kind: "status", status: 500, message: "etcdserver: leader changed" }),
      () => cmk(node, ["init", ...carving], { env }),
    );
    assert.equal(run.status, 11, run.stderr);
    assert.match(
      errorLine(run),
      new RegExp(`cannot get configmap default/cmk-config-${node}: HTTP 500 InternalError: etcdserver: leader changed; gave up retrying after 2\\.0 s`),
    );
    assertWithinDeadline(run);
    assert.equal(await configMap(node), null);
  });

  it("on the first requests of init and reconcile: retried, and the result is the same as without them", async () => {
    const node = freshNode();
    const init = await withFaults(
      faultOn(() => true, { kind: "status", status: 500 }, 3),
      () => cmk(node, ["init", ...carving]),
    );
    assert.equal(init.status, 0, init.stderr);
    const layout = await stateOf(node);
    const reconcile = await withFaults(
      faultOn(() => true, { kind: "status", status: 503 }, 3),
      () => cmk(node, ["reconcile"]),
    );
    assert.equal(reconcile.status, 0, reconcile.stderr);
    await assertSound(node, layout);
  });
});

describe("429 with Retry-After", () => {
  it("waits as long as the server asks, then carries on", async () => {
    const { node, layout } = await initialised();
    const run = await withFaults(
      faultOn(() => true, { kind: "status", status: 429, retryAfter: 1 }, 1),
      () => cmk(node, ["reconcile"]),
    );
    assert.equal(run.status, 0, run.stderr);
    const [refused, retried] = (run as unknown as { requests: { at: number }[] }).requests;
    assert.ok(refused !== undefined && retried !== undefined);
    assert.ok(retried.at - refused.at >= 990, `retried ${(retried.at - refused.at).toFixed(0)} ms after a Retry-After of 1 s`);
    await assertSound(node, layout);
  });

  it("a Retry-After past the deadline ends the command at the deadline, exit 11 naming the status", async () => {
    const { node } = await initialised();
    const run = await withFaults(
      () => ({ kind: "status", status: 429, retryAfter: 30 }),
      () => cmk(node, ["isolate", "--pool=infra", "--", "true"], { env }),
    );
    assert.equal(run.status, 11, run.stderr);
    assert.match(errorLine(run), new RegExp(`cannot get configmap default/cmk-config-${node}: HTTP 429 TooManyRequests: .*gave up retrying after 2\\.0 s`));
    assertWithinDeadline(run);
  });
});

describe("slow answers", () => {
  it("no answer before the deadline: exit 11 naming the verb and the object, within CMK_LOCK_TIMEOUT", async () => {
    const { node } = await initialised();
    const run = await withFaults(
      () => ({ kind: "delay", ms: 20_000 }),
      () => cmk(node, ["describe"], { env }),
    );
    assert.equal(run.status, 11, run.stderr);
    assert.match(
      errorLine(run),
      new RegExp(`cannot get configmap default/cmk-config-${node}: the API server .* did not answer: .*gave up retrying after 2\\.0 s`),
    );
    assertWithinDeadline(run);
  });

  it("answers slower than usual but within the deadline: every command succeeds", async () => {
    const { node, layout } = await initialised();
    for (const args of [["describe"], ["reconcile"], ["isolate", "--pool=exclusive", "--", "true"]]) {
      const run = await withFaults(
        () => ({ kind: "delay", ms: 300 }),
        () => cmk(node, args, { env }),
      );
      assert.equal(run.status, 0, `${args[0]}: ${run.stderr}`);
    }
    await assertSound(node, layout);
  });
});

describe("dropped connections", () => {
  it("before the request reaches the server (isolate's writes, init's create, reconcile's read): retried, done once", async () => {
    const node = freshNode();
    const init = await withFaults(
      faultOn((request) => request.verb === "create", { kind: "drop" }, 2),
      () => cmk(node, ["init", ...carving]),
    );
    assert.equal(init.status, 0, init.stderr);
    assertUsedFaults(init, "drop", 2);
    const layout = await stateOf(node);
    const isolate = await withFaults(faultOn(isUpdate, { kind: "drop" }, 2), () => cmk(node, ["isolate", "--pool=exclusive", "--", "true"]));
    assert.equal(isolate.status, 0, isolate.stderr);
    const reconcile = await withFaults(
      faultOn((request) => request.verb === "get", { kind: "drop" }, 2),
      () => cmk(node, ["reconcile"]),
    );
    assert.equal(reconcile.status, 0, reconcile.stderr);
    await assertSound(node, layout);
  });

  it("after init's create was carried out (the answer lost): the retry finds its own ConfigMap and succeeds", async () => {
    const node = freshNode();
    const init = await withFaults(
      faultOn((request) => request.verb === "create", { kind: "drop-after" }, 1),
      () => cmk(node, ["init", ...carving]),
    );
    assert.equal(init.status, 0, init.stderr);
    assertUsedFaults(init, "drop-after", 1);
    const again = await cmk(node, ["init", ...carving], { direct: true });
    assert.equal(again.status, 0, again.stderr);
    await assertSound(node, await stateOf(node));
  });

  it("after isolate's allocation was carried out (the answer lost): the task holds one list while it runs, pinned to it, and gives it back", async () => {
    const { node, layout, config } = await initialised();
    const flag = join(scratch, `${node}.go`);
    proxy.setPolicy(faultOn(isUpdate, { kind: "drop-after" }, 1));
    const first = proxy.requests.length;
    const task = cmk(node, ["isolate", "--pool=exclusive", "--", "sh", "-c", `while [ ! -e ${flag} ]; do sleep 0.02; done`]);
    try {
      await waitFor("the task to be recorded", async () => ((await configMap(node))?.data?.["tasks"] === undefined ? undefined : true));
      await waitFor("the allocation's answer to be dropped", () => (proxy.requests.slice(first).some((r) => r.fault === "drop-after") ? true : undefined));
      // The retry's own write lands after the lost one: wait for the isolate's command to run.
      await waitFor("the command to run", async () => ((await stateOf(node)).tasks.size === 1 && (await commandRuns(flag)) ? true : undefined));
      const state = await stateOf(node);
      const held = [...state.pools.values()].flatMap((pool) => [...pool.sockets.values()].flat()).filter((list) => list.tasks.length > 0);
      assert.equal(held.length, 1, `the task holds ${held.map((list) => list.key).join(" and ")}`);
      assert.deepEqual(violations(state, { layout, reconciled: true }), []);
    } finally {
      proxy.setPolicy(pass);
      writeFileSync(flag, "");
    }
    const result = await task;
    assert.equal(result.status, 0, result.stderr);
    assert.equal((await configMap(node))?.data?.["config"], config);
    assert.equal((await configMap(node))?.data?.["tasks"], undefined);
  });

  it("after isolate's release and reconcile's reclaim were carried out (the answers lost): both succeed, nothing held after", async () => {
    const { node, layout, config } = await initialised();
    // The second update of an isolate is its release.
    let updates = 0;
    const isolate = await withFaults(
      (request) => (isUpdate(request) && ++updates === 2 ? { kind: "drop-after" } : { kind: "pass" }),
      () => cmk(node, ["isolate", "--pool=exclusive", "--", "true"]),
    );
    assert.equal(isolate.status, 0, isolate.stderr);
    assert.equal((await configMap(node))?.data?.["config"], config);
    // A list held by a task that cannot be running (the kernel's PID limit), reclaimed through a lost answer.
    const object = (await configMap(node)) as ConfigMap;
    const planted = (object.data?.["config"] ?? "").replace(/(exclusive:\n {2}0:\n {4}'?[\d,-]+'?:) \[\]/, "$1\n    - '4194304'");
    assert.notEqual(planted, object.data?.["config"], "could not plant a dead task");
    const put = await cp().request("PUT", `/api/v1/namespaces/default/configmaps/cmk-config-${node}`, { ...object, data: { ...object.data, config: planted } });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    const reconcile = await withFaults(faultOn(isUpdate, { kind: "drop-after" }, 1), () => cmk(node, ["reconcile"]));
    assert.equal(reconcile.status, 0, reconcile.stderr);
    assert.equal((await configMap(node))?.data?.["config"], config);
    await assertSound(node, layout);
  });
});

/** Whether the isolate's command (a shell waiting for `flag`) runs: its command line names the flag. */
async function commandRuns(flag: string): Promise<boolean> {
  const { readdirSync, readFileSync } = await import("node:fs");
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(flag) && readFileSync(`/proc/${entry}/environ`, "utf8").includes("CMK_CPUS_ASSIGNED="))
        return true;
    } catch {
      // gone
    }
  }
  return false;
}

/** The proxy applied `fault` `times` times during the run. */
function assertUsedFaults(run: object, fault: string, times: number): void {
  const requests = (run as { requests: { fault: string }[] }).requests;
  assert.equal(requests.filter((request) => request.fault === fault).length, times, `faults applied: ${requests.map((request) => request.fault).join(" ")}`);
}
