// Concurrency storms: many short isolates across every pool and socket of a four-socket fixture at
// once, with `cmk reconcile --interval=0.05` running beside them, on the file store and through
// cmk agent: no list is ever double-booked, none is lost, every isolate ends within the lock timeout.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { it } from "node:test";
import { FileStateStore } from "../../src/adapters/file-store/store.ts";
import type { NodeState } from "../../src/core/node-state.ts";
import { startAgent } from "../helpers/agent.ts";
import { cmkBin, cmkEnv, collect, fixtureEnv, runCmk, scratchDir, spawnCmk } from "../helpers/cmk.ts";
import { violations } from "../helpers/invariants.ts";

const root = scratchDir("storm", true);
const fixture = { CMK_DEV_LSCPU_SYSFS: fixtureEnv("server-4s256", join(root, "server-4s256"))["CMK_DEV_LSCPU_SYSFS"] as string };
const lockTimeout = 20;

async function storm(kind: "file store" | "agent", count: number): Promise<void> {
  const conf = join(root, kind.replace(" ", "-"));
  const init = runCmk(
    ["init", `--conf-dir=${conf}`, "--num-exclusive-cores=24", "--num-shared-cores=4", "--exclusive-mode=spread", "--shared-mode=spread"],
    fixture,
  );
  assert.equal(init.status, 0, init.stderr);
  const store = new FileStateStore(conf, 30);
  const layout = (await store.read()) as NodeState;
  const env: Record<string, string> = { ...fixture, CMK_LOCK_TIMEOUT: String(lockTimeout) };
  const agent = kind === "agent" ? await startAgent(join(root, "storm.sock"), [`--conf-dir=${conf}`, "--interval=0.05"], fixture) : undefined;
  if (agent !== undefined) env["CMK_AGENT_SOCKET"] = agent.socket;
  const reconciler = spawnCmk(["reconcile", `--conf-dir=${conf}`, "--interval=0.05"], fixture);
  reconciler.stdout?.resume();
  const started = performance.now();
  const isolates: ChildProcess[] = [];
  // Each request names a socket its pool has lists on (or any socket).
  const socketsOf = (pool: string): number[] =>
    [...(layout.pools.get(pool as "exclusive")?.sockets ?? new Map())].filter(([, lists]) => lists.length > 0).map(([socket]) => socket);
  for (let index = 0; index < count; index++) {
    const pool = ["exclusive", "shared", "infra", "exclusive"][index % 4] as string;
    const sockets = socketsOf(pool);
    const socket = index % 5 === 0 ? "-1" : String(sockets[index % sockets.length]);
    isolates.push(
      spawn(cmkBin, ["isolate", `--conf-dir=${conf}`, `--pool=${pool}`, `--socket-id=${socket}`, "--no-affinity", "--", "sleep", "0.05"], {
        env: cmkEnv(env),
        stdio: ["ignore", "ignore", "pipe"],
      }),
    );
  }
  // While it rages, the state is read again and again: no sample may show a list with two live owners.
  const seen: string[] = [];
  let samples = 0;
  let raging = true;
  const sampler = (async () => {
    while (raging) {
      const during = await store.read().catch(() => null);
      if (during !== null) {
        samples++;
        seen.push(...violations(during, { layout, reconciled: false }));
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  })();
  let results: Awaited<ReturnType<typeof collect>>[];
  try {
    results = await Promise.all(isolates.map((child) => collect(child)));
  } finally {
    raging = false;
    await sampler;
    reconciler.kill("SIGTERM");
    await collect(reconciler);
    await agent?.stop();
  }
  const took = (performance.now() - started) / 1000;
  assert.ok(samples > 0, "the state was never sampled during the storm");
  assert.deepEqual(seen.slice(0, 5), []);
  const unexpected = results.filter((result) => result.status !== 0 && result.status !== 5);
  assert.deepEqual(unexpected.slice(0, 3), [], `${unexpected.length} isolates failed otherwise than with an exhausted pool`);
  assert.ok(took < lockTimeout + 30, `the storm took ${took.toFixed(1)} s`);
  const after = (await store.read()) as NodeState;
  assert.deepEqual(violations(after, { layout, reconciled: true }), []);
  assert.equal(after.tasks.size, 0, "a release was lost");
}

it("160 isolates at once on the file store with reconcile every 50 ms", { timeout: 180_000 }, () => storm("file store", 160));
it("400 isolates at once through cmk agent with reconcile every 50 ms", { timeout: 180_000 }, () => storm("agent", 400));
