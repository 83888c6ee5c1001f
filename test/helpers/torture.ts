// Crash torture: rounds of concurrent cmk commands on one node's state (isolate of every pool,
// reconcile, describe, init and reconfigure with the parameters the node was carved with), with
// kill -9 sent to random ones at random instants; the invariants (helpers/invariants.ts) are
// checked while the surviving workloads run, and again after a reconcile once they have ended.
// Used by test/integration/torture.test.ts (CI) and scripts/torture.ts (longer runs).
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { FileStateStore } from "../../src/adapters/file-store/store.ts";
import type { NodeState } from "../../src/core/node-state.ts";
import { type RunningAgent, startAgent } from "./agent.ts";
import { runCmk, spawnCmk } from "./cmk.ts";
import { violations } from "./invariants.ts";

export type TortureStore = "file" | "agent";

export interface TortureResult {
  readonly rounds: number;
  readonly commands: number;
  readonly kills: number;
  readonly violations: readonly string[];
}

/** A small deterministic generator (mulberry32), so that a seed replays a run. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const carving = ["--num-exclusive-cores=1", "--num-shared-cores=0"];
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function torture(options: {
  readonly store: TortureStore;
  readonly rounds: number;
  readonly seed: number;
  readonly dir: string;
  readonly onRound?: (round: number, result: TortureResult) => void;
}): Promise<TortureResult> {
  const next = random(options.seed);
  const conf = join(options.dir, `torture-${options.store}-${options.seed}`);
  const init = runCmk(["init", `--conf-dir=${conf}`, ...carving]);
  if (init.status !== 0) throw new Error(`init failed: ${init.stderr}`);
  const store = new FileStateStore(conf, 30);
  const layout = (await store.read()) as NodeState;
  let agent: RunningAgent | undefined;
  const marker = `CMK_TORTURE=${options.store}-${options.seed}`;
  const env: Record<string, string> = { CMK_TORTURE: `${options.store}-${options.seed}` };
  if (options.store === "agent") {
    agent = await startAgent(join(options.dir, `torture-${options.seed}.sock`), [`--conf-dir=${conf}`, "--interval=0.5"]);
    env["CMK_AGENT_SOCKET"] = agent.socket;
  }
  const found: string[] = [];
  let commands = 0;
  let kills = 0;
  try {
    for (let round = 0; round < options.rounds; round++) {
      const running: ChildProcess[] = [];
      for (let index = 0; index < 5; index++) {
        const pick = next();
        const args =
          pick < 0.55
            ? ["isolate", `--conf-dir=${conf}`, `--pool=${["exclusive", "infra", "exclusive"][Math.floor(next() * 3)]}`, "--", "sleep", "0.15"]
            : pick < 0.7
              ? ["reconcile", `--conf-dir=${conf}`]
              : pick < 0.8
                ? ["describe", `--conf-dir=${conf}`]
                : pick < 0.9
                  ? ["init", `--conf-dir=${conf}`, ...carving]
                  : ["reconfigure", `--conf-dir=${conf}`, ...carving];
        const child = spawnCmk(args, env);
        child.stdout?.resume();
        child.stderr?.resume();
        running.push(child);
        commands++;
        if (next() < 0.35) {
          kills++;
          setTimeout(() => child.kill("SIGKILL"), next() * 150);
        }
      }
      await Promise.all(running.map((child) => (child.exitCode === null && child.signalCode === null ? once(child, "exit") : undefined)));
      // The workloads of killed isolates may still run: their lists must be theirs alone, and pinned.
      const during = await readState(store);
      if (typeof during === "string") found.push(`round ${round}: the state does not read: ${during}`);
      else for (const violation of violations(during, { layout, reconciled: false, workloadMarker: marker })) found.push(`round ${round}: ${violation}`);
      await sleep(200);
      const reconcile = runCmk(["reconcile", `--conf-dir=${conf}`], env);
      if (reconcile.status !== 0) found.push(`round ${round}: reconcile failed: ${reconcile.stderr.trim()}`);
      const after = await readState(store);
      if (typeof after === "string") found.push(`round ${round}: the state does not read after reconcile: ${after}`);
      else
        for (const violation of violations(after, { layout, reconciled: true, workloadMarker: marker }))
          found.push(`round ${round}: after reconcile: ${violation}`);
      options.onRound?.(round, { rounds: round + 1, commands, kills, violations: found });
    }
  } finally {
    await agent?.stop();
  }
  return { rounds: options.rounds, commands, kills, violations: found };
}

/** The state, or why it cannot be read. */
async function readState(store: FileStateStore): Promise<NodeState | string> {
  try {
    return (await store.read()) ?? "there is no state";
  } catch (error) {
    return String(error);
  }
}
