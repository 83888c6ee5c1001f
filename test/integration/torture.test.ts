// Crash torture in CI (helpers/torture.ts): rounds of concurrent commands with kill -9 at random
// instants, the invariants checked after every round, for each way the state is kept. More rounds:
// npm run torture -- --rounds=N --store=file|agent.
import assert from "node:assert/strict";
import { it } from "node:test";
import { scratchDir } from "../helpers/cmk.ts";
import { type TortureStore, torture } from "../helpers/torture.ts";

const rounds = Number(process.env["CMK_TORTURE_ROUNDS"] ?? "300");
const seed = Number(process.env["CMK_TORTURE_SEED"] ?? "20261203");
const scratch = scratchDir("torture");

for (const store of ["file", "agent"] as const satisfies readonly TortureStore[]) {
  it(`${rounds} rounds on the ${store === "file" ? "file store" : "file store through cmk agent"}: no invariant broken`, {
    timeout: 30 * 60_000,
  }, async (t) => {
    const started = performance.now();
    const result = await torture({ store, rounds, seed, dir: scratch });
    t.diagnostic(
      `${store}: ${result.rounds} rounds, ${result.commands} commands, ${result.kills} kill -9, ${result.violations.length} violations, ${((performance.now() - started) / 1000).toFixed(1)} s (seed ${seed})`,
    );
    assert.deepEqual(result.violations.slice(0, 20), []);
  });
}
