// npm run torture -- [--rounds=N] [--store=file|agent|configmap] [--seed=N]: the crash torture of
// the CI (test/integration/torture.test.ts) for as long as asked, printing progress; exits 1 on
// the first violated invariant, with the seed that replays it. The configmap store starts a
// control plane of its own (scripts/controlplane; its first build takes minutes) and stops it at
// the end.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ControlPlane, startControlPlane } from "../test/helpers/controlplane.ts";
import { torture } from "../test/helpers/torture.ts";

const flag = (name: string): string | undefined => process.argv.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
const rounds = Number(flag("rounds") ?? "1000");
const seed = Number(flag("seed") ?? String(Date.now() % 1_000_000));
const store = flag("store") ?? "file";
if (!Number.isInteger(rounds) || rounds < 1 || !Number.isInteger(seed) || (store !== "file" && store !== "agent" && store !== "configmap")) {
  process.stderr.write("usage: npm run torture -- [--rounds=N] [--store=file|agent|configmap] [--seed=N]\n");
  process.exit(2);
}
const dir = mkdtempSync(join(tmpdir(), "cmk-torture-"));
const started = performance.now();
let cp: ControlPlane | undefined;
try {
  if (store === "configmap") cp = await startControlPlane();
  const result = await torture({
    store,
    rounds,
    seed,
    dir,
    ...(cp === undefined ? {} : { cp }),
    onRound: (round, progress) => {
      if ((round + 1) % 50 === 0)
        process.stdout.write(`${round + 1} rounds, ${progress.commands} commands, ${progress.kills} kill -9, ${progress.violations.length} violations\n`);
      if (progress.violations.length > 0) throw new Error(`round ${round}: ${progress.violations.join("; ")} (replay with --seed=${seed})`);
    },
  });
  process.stdout.write(
    `${store}: ${result.rounds} rounds, ${result.commands} commands, ${result.kills} kill -9, no violation, ${((performance.now() - started) / 1000).toFixed(0)} s (seed ${seed})\n`,
  );
} catch (error) {
  process.stderr.write(`${String(error instanceof Error ? error.message : error)}\n`);
  process.exitCode = 1;
} finally {
  await cp?.stop();
  rmSync(dir, { recursive: true, force: true });
}
