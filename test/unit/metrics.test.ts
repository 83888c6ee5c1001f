// The metrics of the long-running mode as a scraper reads them: pool usage per pool and socket
// from the state a pass saw, counters that only go up, series of pools that are gone removed,
// the store's observations counted, readiness following the passes, and the loop's rule that a
// failed pass is handed on while a single run fails.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ipAddressValue } from "../../src/app/input.ts";
import { repeatEvery } from "../../src/app/repeat.ts";
import { type NodeChecks, runChecks } from "../../src/core/checks.ts";
import { CpuSet } from "../../src/core/cpuset.ts";
import { CmkError } from "../../src/core/errors.ts";
import { poolUsage } from "../../src/core/node-state.ts";
import { PassHealth } from "../../src/server/health.ts";
import { createMetrics } from "../../src/server/metrics.ts";
import { type Exposition, parseExposition, sampleValue } from "../helpers/prometheus.ts";
import { rec, state } from "../helpers/state.ts";

const twoSockets = state(
  {
    exclusive: { 0: { "1,9": ["30"], "2,10": [] }, 1: { "5,13": [], "6,14": [] } },
    shared: { 0: { "3,11": ["40", "41"] }, 1: { "7,15": [] } },
    infra: { 0: { "0,8": [] }, 1: { "4,12": [] } },
  },
  { "30": rec(30), "40": rec(40), "41": rec(41) },
);

async function scrape(registry: { metrics(): Promise<string> }): Promise<Exposition> {
  return parseExposition(await registry.metrics());
}

describe("poolUsage", () => {
  it("counts each pool's CPUs, lists and held lists per socket", () => {
    assert.deepEqual(poolUsage(twoSockets), [
      { pool: "exclusive", socket: 0, cpus: 4, cpuLists: 2, allocatedCpuLists: 1 },
      { pool: "exclusive", socket: 1, cpus: 4, cpuLists: 2, allocatedCpuLists: 0 },
      { pool: "shared", socket: 0, cpus: 2, cpuLists: 1, allocatedCpuLists: 1 },
      { pool: "shared", socket: 1, cpus: 2, cpuLists: 1, allocatedCpuLists: 0 },
      { pool: "infra", socket: 0, cpus: 2, cpuLists: 1, allocatedCpuLists: 0 },
      { pool: "infra", socket: 1, cpus: 2, cpuLists: 1, allocatedCpuLists: 0 },
    ]);
  });
});

describe("createMetrics", () => {
  it("exports pool sizes, allocated and free lists per pool and socket, and the recorded tasks", async () => {
    const metrics = createMetrics("reconcile", () => 1234.5);
    metrics.passes.passed(0.002, { state: twoSockets, reclaimed: [], mismatchedCpuMasks: 0 });
    const exposition = await scrape(metrics.registry);
    assert.equal(sampleValue(exposition, "cmk_pool_cpus", { pool: "exclusive", socket: "1" }), 4);
    assert.equal(sampleValue(exposition, "cmk_pool_cpu_lists", { pool: "exclusive", socket: "0" }), 2);
    assert.equal(sampleValue(exposition, "cmk_pool_allocated_cpu_lists", { pool: "exclusive", socket: "0" }), 1);
    assert.equal(sampleValue(exposition, "cmk_pool_free_cpu_lists", { pool: "exclusive", socket: "0" }), 1);
    assert.equal(sampleValue(exposition, "cmk_pool_allocated_cpu_lists", { pool: "shared", socket: "0" }), 1);
    assert.equal(sampleValue(exposition, "cmk_pool_free_cpu_lists", { pool: "infra", socket: "1" }), 1);
    assert.equal(sampleValue(exposition, "cmk_tasks"), 3);
    assert.equal(sampleValue(exposition, "cmk_passes_total"), 1);
    assert.equal(sampleValue(exposition, "cmk_pass_failures_total"), 0);
    assert.equal(sampleValue(exposition, "cmk_last_successful_pass_timestamp_seconds"), 1234.5);
    assert.equal(sampleValue(exposition, "cmk_pass_duration_seconds_count"), 1);
    assert.equal(sampleValue(exposition, "cmk_pass_duration_seconds_bucket", { le: "0.0025" }), 1);
    assert.equal(sampleValue(exposition, "cmk_pass_duration_seconds_bucket", { le: "0.001" }), 0);
    assert.equal(sampleValue(exposition, "cmk_build_info", { version: "0.0.0-source", build: "unbundled", command: "reconcile" }), 1);
  });

  it("names counters with _total and gauges without, every cmk metric with the cmk_ prefix", async () => {
    const metrics = createMetrics("reconcile");
    metrics.passes.passed(0.001, { state: twoSockets, reclaimed: [], mismatchedCpuMasks: 0 });
    const { types } = await scrape(metrics.registry);
    const cmk = [...types].filter(([name]) => name.startsWith("cmk_"));
    assert.ok(cmk.length >= 15, `cmk's metrics: ${cmk.map(([name]) => name).join(", ")}`);
    for (const [name, type] of cmk) {
      if (type === "counter") assert.match(name, /_total$/);
      else assert.doesNotMatch(name, /_total$/, `${name} is a ${type}`);
    }
    // prom-client's process metrics come along (read from /proc when scraped).
    assert.equal(types.get("process_resident_memory_bytes"), "gauge");
  });

  it("counts reclaimed lists by pool from 0, failures beside passes, and keeps the last known pools when a pass fails", async () => {
    const metrics = createMetrics("reconcile", () => 100);
    const before = await scrape(metrics.registry);
    for (const pool of ["exclusive", "shared", "infra", "exclusive-non-isolcpus"])
      assert.equal(sampleValue(before, "cmk_reclaimed_cpu_lists_total", { pool }), 0);
    assert.equal(sampleValue(before, "cmk_last_successful_pass_timestamp_seconds"), 0);
    metrics.passes.passed(0.001, {
      state: twoSockets,
      reclaimed: [
        { pid: 7, pool: "exclusive", cpus: "2,10" },
        { pid: 8, pool: "shared", cpus: "3,11" },
      ],
      mismatchedCpuMasks: 2,
    });
    metrics.passes.failed(0.5, new CmkError("invalid-state", "broken"));
    const after = await scrape(metrics.registry);
    assert.equal(sampleValue(after, "cmk_reclaimed_cpu_lists_total", { pool: "exclusive" }), 1);
    assert.equal(sampleValue(after, "cmk_reclaimed_cpu_lists_total", { pool: "shared" }), 1);
    assert.equal(sampleValue(after, "cmk_mismatched_cpu_masks"), 2);
    assert.equal(sampleValue(after, "cmk_passes_total"), 2);
    assert.equal(sampleValue(after, "cmk_pass_failures_total"), 1);
    assert.equal(sampleValue(after, "cmk_pass_duration_seconds_count"), 2);
    assert.equal(sampleValue(after, "cmk_pool_cpu_lists", { pool: "exclusive", socket: "1" }), 2, "the failed pass saw no state: the last known stays");
  });

  it("drops the series of pools and sockets a later state no longer has, and all of them when there is no state", async () => {
    const metrics = createMetrics("reconcile");
    metrics.passes.passed(0.001, { state: twoSockets });
    metrics.passes.passed(0.001, { state: state({ exclusive: { 0: { "1,9": [] } }, infra: { 0: { "0,8": [] } } }) });
    const smaller = await scrape(metrics.registry);
    assert.equal(sampleValue(smaller, "cmk_pool_cpu_lists", { pool: "exclusive", socket: "0" }), 1);
    assert.equal(sampleValue(smaller, "cmk_pool_cpu_lists", { pool: "exclusive", socket: "1" }), undefined);
    assert.equal(sampleValue(smaller, "cmk_pool_cpus", { pool: "shared", socket: "0" }), undefined);
    assert.equal(sampleValue(smaller, "cmk_tasks"), 0);
    metrics.passes.passed(0.001, { state: null });
    const none = await scrape(metrics.registry);
    assert.equal(none.samples.filter((sample) => sample.name.startsWith("cmk_pool_")).length, 0);
  });

  it("counts the store's conflicts, retries and API errors by verb and code", async () => {
    const metrics = createMetrics("reconcile");
    metrics.store.conflict();
    metrics.store.retry();
    metrics.store.retry();
    metrics.store.apiError("update", 409);
    metrics.store.apiError("update", 409);
    metrics.store.apiError("get", 0);
    const exposition = await scrape(metrics.registry);
    assert.equal(sampleValue(exposition, "cmk_store_conflicts_total"), 1);
    assert.equal(sampleValue(exposition, "cmk_store_retries_total"), 2);
    assert.equal(sampleValue(exposition, "cmk_api_errors_total", { verb: "update", code: "409" }), 2);
    assert.equal(sampleValue(exposition, "cmk_api_errors_total", { verb: "get", code: "0" }), 1);
  });

  it("exports node-report's check results, and none of reconcile's own metrics", async () => {
    const metrics = createMetrics("node-report");
    const checks: NodeChecks = runChecks({ state: null, stateError: "broken", location: "/etc/cmk", isolcpus: CpuSet.empty, actualOf: () => null });
    metrics.passes.passed(0.001, { checks });
    const exposition = await scrape(metrics.registry);
    assert.equal(sampleValue(exposition, "cmk_check_errors", { check: "configDirectory" }), 1);
    assert.equal(sampleValue(exposition, "cmk_check_errors", { check: "affinity" }), 0);
    assert.equal(sampleValue(exposition, "cmk_check_warnings", { check: "isolation" }), 0);
    assert.equal(exposition.types.has("cmk_reclaimed_cpu_lists_total"), false);
    assert.equal(exposition.types.has("cmk_mismatched_cpu_masks"), false);
  });
});

describe("PassHealth", () => {
  it("is ready once a pass succeeded, and while the last one did", () => {
    const health = new PassHealth(1000);
    assert.deepEqual(health.readiness(0), { ready: false, reason: "no pass has finished yet" });
    health.started(0);
    health.failed("no cmk state in /etc/cmk");
    assert.deepEqual(health.readiness(10), { ready: false, reason: "the last pass failed and none has succeeded yet: no cmk state in /etc/cmk" });
    health.started(20);
    health.passed();
    assert.deepEqual(health.readiness(30), { ready: true });
    health.started(40);
    health.failed("a");
    health.started(50);
    health.failed("b");
    assert.deepEqual(health.readiness(60), { ready: false, reason: "the last 2 passes failed: b" });
    health.started(70);
    health.passed();
    assert.deepEqual(health.readiness(80), { ready: true });
  });

  it("is not ready while a pass runs longer than it may", () => {
    const health = new PassHealth(1000);
    health.started(0);
    health.passed();
    health.started(5000);
    assert.deepEqual(health.readiness(5900), { ready: true });
    assert.deepEqual(health.readiness(6500), { ready: false, reason: "a pass has been running for 1.5 seconds" });
  });
});

describe("repeatEvery", () => {
  const never = (): AbortSignal => new AbortController().signal;
  const hooks = { onWait: () => {}, onFailure: () => assert.fail("no failure is handed on when run once") };

  it("run once, a failing pass fails the run", async () => {
    await assert.rejects(
      repeatEvery(
        0,
        async () => {
          throw new CmkError("invalid-state", "broken");
        },
        hooks,
        never,
      ),
      /broken/,
    );
  });

  it("in a loop, hands each failure on and goes on until stopped", async () => {
    const stop = new AbortController();
    const seen: string[] = [];
    let passes = 0;
    await repeatEvery(
      0.001,
      async () => {
        passes++;
        if (passes === 5) stop.abort();
        if (passes % 2 === 1) throw new Error(`pass ${passes}`);
      },
      { onWait: () => {}, onFailure: (error) => seen.push((error as Error).message) },
      () => stop.signal,
    );
    assert.equal(passes, 5);
    assert.deepEqual(seen, ["pass 1", "pass 3", "pass 5"]);
  });
});

describe("ipAddressValue", () => {
  it("takes IPv4 and IPv6 addresses, brackets and zones", () => {
    for (const [text, address] of [
      ["127.0.0.1", "127.0.0.1"],
      ["0.0.0.0", "0.0.0.0"],
      ["::", "::"],
      ["::1", "::1"],
      ["[::1]", "::1"],
      ["fe80::1%eth0", "fe80::1%eth0"],
      ["2001:db8:0:0:0:0:0:1", "2001:db8:0:0:0:0:0:1"],
      ["::ffff:192.0.2.1", "::ffff:192.0.2.1"],
    ]) {
      assert.equal(ipAddressValue("--metrics-address", text as string), address);
    }
  });

  it("refuses host names and malformed addresses as usage errors naming the flag", () => {
    for (const text of ["localhost", "", "256.0.0.1", "1.2.3", "01.2.3.4", "1::2::3", "1:2:3:4:5:6:7:8:9", "12345::", "::1%", "[::1"]) {
      assert.throws(
        () => ipAddressValue("--metrics-address", text),
        (error: unknown) => error instanceof CmkError && error.kind === "usage" && error.message.startsWith(`--metrics-address="${text}" is not valid`),
        text,
      );
    }
  });
});
