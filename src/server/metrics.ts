// The Prometheus metrics of a long-running command, kept in a prom-client registry of its own
// (never the library's global one) and fed by two observers: the loop's, after every pass (pool
// sizes and usage from the state it saw, reclaimed lists, drifted masks, check results, pass
// counts and durations), and the store's (conflicts, retries, API errors), which the ConfigMap
// store will call through core/store-observer.ts without knowing of this module. Only the
// metrics of the running command are registered: a node-report exports no reclaim counter that
// would read 0 forever. This module is imported only when --metrics-port is given (prom-client
// and the Node.js modules it loads stay off every other command's start-up).
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { buildInfo } from "../app/build-info.ts";
import type { PassFacts, PassObserver } from "../app/repeat.ts";
import { checkNames } from "../core/checks.ts";
import { allTaskIds, poolUsage } from "../core/node-state.ts";
import { poolNames } from "../core/pools.ts";
import type { ApiVerb, StoreObserver } from "../core/store-observer.ts";

/** The commands that run passes in a loop and export these metrics. */
/** The commands that run a loop; the agent's loop is a reconcile pass. */
export type LoopCommand = "reconcile" | "node-report" | "agent";

export interface CommandMetrics {
  readonly registry: Registry;
  readonly passes: PassObserver;
  readonly store: StoreObserver;
}

/** Pass durations: a pass takes milliseconds, unless it waits for the lock (CMK_LOCK_TIMEOUT, 30 s by default). */
/**
 * How often the event-loop lag is sampled. prom-client's default, 10 ms, woke an idle reconcile
 * (--interval=10) 100 times a second and cost it about 1% of a CPU, four times the loop's own;
 * once a second costs no more than exporting no Node.js metrics at all.
 */
const eventLoopPrecisionMs = 1000;
const durationBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export function createMetrics(command: LoopCommand, wallClockSeconds: () => number = () => Date.now() / 1000): CommandMetrics {
  const registry = new Registry();
  const registers = [registry];
  // prom-client's process metrics (CPU, memory, file descriptors, start time) are read from /proc
  // when scraped; Node.js's own (heap, GC, event-loop lag) come with them.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: eventLoopPrecisionMs });

  new Gauge({
    name: "cmk_build_info",
    help: "Always 1: the version and build of cmk and the command exporting these metrics",
    labelNames: ["version", "build", "command"] as const,
    registers,
  }).set({ version: buildInfo.version, build: buildInfo.build, command }, 1);

  const poolLabels = ["pool", "socket"] as const;
  const poolCpus = new Gauge({ name: "cmk_pool_cpus", help: "CPUs in the pool's CPU lists on the socket", labelNames: poolLabels, registers });
  const poolLists = new Gauge({ name: "cmk_pool_cpu_lists", help: "CPU lists of the pool on the socket", labelNames: poolLabels, registers });
  const allocatedLists = new Gauge({
    name: "cmk_pool_allocated_cpu_lists",
    help: "CPU lists of the pool on the socket held by at least one task",
    labelNames: poolLabels,
    registers,
  });
  const freeLists = new Gauge({
    name: "cmk_pool_free_cpu_lists",
    help: "CPU lists of the pool on the socket held by no task",
    labelNames: poolLabels,
    registers,
  });
  const tasks = new Gauge({ name: "cmk_tasks", help: "Tasks (cmk isolate processes) recorded in the state as holding CPU lists", registers });
  const passes = new Counter({ name: "cmk_passes_total", help: `Passes of cmk ${command} run, failed ones included`, registers });
  const failures = new Counter({ name: "cmk_pass_failures_total", help: `Passes of cmk ${command} that failed (their error is logged)`, registers });
  const lastSuccess = new Gauge({
    name: "cmk_last_successful_pass_timestamp_seconds",
    help: "When the last successful pass ended, in seconds since the Unix epoch (0: none yet)",
    registers,
  });
  const duration = new Histogram({ name: "cmk_pass_duration_seconds", help: "How long passes took, lock wait included", buckets: durationBuckets, registers });

  // Counters of an optimistic, remote store: they stay 0 with the file store, which neither conflicts nor calls an API.
  const conflicts = new Counter({ name: "cmk_store_conflicts_total", help: "State updates that lost a race with another writer", registers });
  const retries = new Counter({
    name: "cmk_store_retries_total",
    help: "State changes the store ran again after a conflict or a transient failure",
    registers,
  });
  const apiErrors = new Counter({
    name: "cmk_api_errors_total",
    help: "Failed requests of the state store to the Kubernetes API, by verb and HTTP status code (0: no response)",
    labelNames: ["verb", "code"] as const,
    registers,
  });

  const reclaims = command === "reconcile" || command === "agent";
  const reclaimed = reclaims
    ? new Counter({ name: "cmk_reclaimed_cpu_lists_total", help: "CPU lists freed from dead tasks, by pool", labelNames: ["pool"] as const, registers })
    : undefined;
  // Every pool's series from the start: a rate over a series that appears at its first reclaim misses that reclaim.
  for (const pool of poolNames) reclaimed?.inc({ pool }, 0);
  const mismatched = reclaims
    ? new Gauge({ name: "cmk_mismatched_cpu_masks", help: "Live tasks found running off their CPU lists by the last successful pass", registers })
    : undefined;
  const checkLabels = ["check"] as const;
  const checkErrors =
    command === "node-report"
      ? new Gauge({
          name: "cmk_check_errors",
          help: "Errors the last successful pass's check found (the check fails when above 0)",
          labelNames: checkLabels,
          registers,
        })
      : undefined;
  const checkWarnings =
    command === "node-report"
      ? new Gauge({ name: "cmk_check_warnings", help: "Warnings the last successful pass's check found", labelNames: checkLabels, registers })
      : undefined;

  function record(facts: PassFacts): void {
    if (facts.state !== undefined) {
      // Reset first: a pool or socket that is gone (reconfigure, a new init) must not linger.
      for (const gauge of [poolCpus, poolLists, allocatedLists, freeLists]) gauge.reset();
      const usage = facts.state === null ? [] : poolUsage(facts.state);
      for (const entry of usage) {
        const labels = { pool: entry.pool, socket: String(entry.socket) };
        poolCpus.set(labels, entry.cpus);
        poolLists.set(labels, entry.cpuLists);
        allocatedLists.set(labels, entry.allocatedCpuLists);
        freeLists.set(labels, entry.cpuLists - entry.allocatedCpuLists);
      }
      tasks.set(facts.state === null ? 0 : allTaskIds(facts.state).size);
    }
    for (const entry of facts.reclaimed ?? []) reclaimed?.inc({ pool: entry.pool });
    if (facts.mismatchedCpuMasks !== undefined) mismatched?.set(facts.mismatchedCpuMasks);
    if (facts.checks !== undefined) {
      for (const name of checkNames) {
        checkErrors?.set({ check: name }, facts.checks[name].errors.length);
        checkWarnings?.set({ check: name }, facts.checks[name].warnings.length);
      }
    }
  }

  return {
    registry,
    passes: {
      started: () => {},
      passed: (seconds, facts) => {
        passes.inc();
        duration.observe(seconds);
        lastSuccess.set(wallClockSeconds());
        record(facts);
      },
      failed: (seconds) => {
        passes.inc();
        failures.inc();
        duration.observe(seconds);
      },
    },
    store: {
      conflict: () => conflicts.inc(),
      retry: () => retries.inc(),
      apiError: (verb: ApiVerb, code: number) => apiErrors.inc({ verb, code: Number.isInteger(code) && code >= 0 && code <= 999 ? String(code) : "invalid" }),
    },
  };
}
