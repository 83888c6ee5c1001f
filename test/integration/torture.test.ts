// Crash torture in CI (helpers/torture.ts): rounds of concurrent commands with kill -9 at random
// instants, the invariants checked after every round, for each way the state is kept: the file
// store, the file store through cmk agent, and the ConfigMap store of a real API server through
// the fault proxy, which also drops connections at random. More rounds:
// npm run torture -- --rounds=N --store=file|agent|configmap.
import assert from "node:assert/strict";
import { it } from "node:test";
import { scratchDir } from "../helpers/cmk.ts";
import { useControlPlane } from "../helpers/controlplane.ts";
import { type TortureStore, torture } from "../helpers/torture.ts";

/** At least 300 rounds per store in CI (docs/testing.md says what they cost). */
const rounds = Number(process.env["CMK_TORTURE_ROUNDS"] ?? "300");
const configMapRounds = Number(process.env["CMK_TORTURE_CONFIGMAP_ROUNDS"] ?? "300");
const seed = Number(process.env["CMK_TORTURE_SEED"] ?? "20261203");
const scratch = scratchDir("torture");
const cp = useControlPlane();

const names: Record<TortureStore, string> = {
  file: "the file store",
  agent: "the file store through cmk agent",
  configmap: "the ConfigMap store through a proxy dropping connections",
};

for (const store of ["file", "agent", "configmap"] as const satisfies readonly TortureStore[]) {
  const count = store === "configmap" ? configMapRounds : rounds;
  it(`${count} rounds on ${names[store]}: no invariant broken`, { timeout: 30 * 60_000 }, async (t) => {
    const started = performance.now();
    const result = await torture({ store, rounds: count, seed, dir: scratch, ...(store === "configmap" ? { cp: cp() } : {}) });
    t.diagnostic(
      `${store}: ${result.rounds} rounds, ${result.commands} commands, ${result.kills} kill -9, ${result.violations.length} violations, ${((performance.now() - started) / 1000).toFixed(1)} s (seed ${seed})`,
    );
    assert.deepEqual(result.violations.slice(0, 20), []);
  });
}
