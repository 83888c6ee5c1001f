// Crash torture: rounds of concurrent cmk commands on one node's state (isolate of every pool,
// reconcile, describe, init and reconfigure with the parameters the node was carved with), with
// kill -9 sent to random ones at random instants; the invariants (helpers/invariants.ts) are
// checked while the surviving workloads run, and again after a reconcile once they have ended.
// Three stores: the file store, the file store through `cmk agent`, and the ConfigMap store of a
// real API server reached through the fault proxy (helpers/fault-proxy.ts), which also drops the
// connection at random instants: before a request reaches the server, or after the server carried
// it out, the answer lost. Every cmk runs asynchronously (the proxy serves from this process).
// Used by test/integration/torture.test.ts (CI) and scripts/torture.ts (longer runs).
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { FileStateStore } from "../../src/adapters/file-store/store.ts";
import { decodeConfigMap } from "../../src/adapters/kubernetes/configmap-store.ts";
import type { NodeState } from "../../src/core/node-state.ts";
import { type RunningAgent, startAgent } from "./agent.ts";
import { type CmkResult, collect, spawnCmk } from "./cmk.ts";
import type { ControlPlane } from "./controlplane.ts";
import { type FaultProxy, pass, startFaultProxy } from "./fault-proxy.ts";
import { violations } from "./invariants.ts";

export type TortureStore = "file" | "agent" | "configmap";

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

/** The share of API requests the proxy drops in configmap mode, half before and half after the server saw them. */
const dropRate = 0.12;

export async function torture(options: {
  readonly store: TortureStore;
  readonly rounds: number;
  readonly seed: number;
  readonly dir: string;
  /** The control plane of the configmap store. */
  readonly cp?: ControlPlane;
  readonly onRound?: (round: number, result: TortureResult) => void;
}): Promise<TortureResult> {
  const next = random(options.seed);
  const where = await place(options);
  const run = async (args: readonly string[], env: Record<string, string> = {}, direct = false): Promise<CmkResult> =>
    collect(spawnCmk([...args, ...(direct ? where.directFlags : where.flags)], env));
  const init = await run(["init", ...carving], {}, true);
  if (init.status !== 0) throw new Error(`init failed: ${init.stderr}`);
  const layout = await where.read();
  if (typeof layout === "string") throw new Error(`the state init wrote does not read: ${layout}`);
  let agent: RunningAgent | undefined;
  // Names this run's workloads; the PID keeps two runs of one seed on one machine apart.
  const runName = `${options.store}-${options.seed}-${process.pid}`;
  const marker = `CMK_TORTURE=${runName}`;
  const env: Record<string, string> = { CMK_TORTURE: runName };
  if (options.store === "agent") {
    agent = await startAgent(join(options.dir, `torture-${options.seed}.sock`), [...where.flags, "--interval=0.5"]);
    env["CMK_AGENT_SOCKET"] = agent.socket;
  }
  const found: string[] = [];
  let commands = 0;
  let kills = 0;
  try {
    for (let round = 0; round < options.rounds; round++) {
      where.proxy?.setPolicy(() => {
        const pick = next();
        return pick < dropRate / 2 ? { kind: "drop" } : pick < dropRate ? { kind: "drop-after" } : { kind: "pass" };
      });
      const running: ChildProcess[] = [];
      for (let index = 0; index < 5; index++) {
        const pick = next();
        const args =
          pick < 0.55
            ? ["isolate", `--pool=${["exclusive", "infra", "exclusive"][Math.floor(next() * 3)]}`, ...where.flags, "--", "sleep", "0.15"]
            : pick < 0.7
              ? ["reconcile", ...where.flags]
              : pick < 0.8
                ? ["describe", ...where.flags]
                : pick < 0.9
                  ? ["init", ...where.flags, ...carving]
                  : ["reconfigure", ...where.flags, ...carving];
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
      where.proxy?.setPolicy(pass);
      // The workloads of killed isolates may still run: their lists must be theirs alone, and pinned.
      const during = await where.read();
      if (typeof during === "string") found.push(`round ${round}: the state does not read: ${during}`);
      else for (const violation of violations(during, { layout, reconciled: false, workloadMarker: marker })) found.push(`round ${round}: ${violation}`);
      await sleep(200);
      const reconcile = await run(["reconcile"], env, true);
      if (reconcile.status !== 0) found.push(`round ${round}: reconcile failed: ${reconcile.stderr.trim()}`);
      const after = await where.read();
      if (typeof after === "string") found.push(`round ${round}: the state does not read after reconcile: ${after}`);
      else
        for (const violation of violations(after, { layout, reconciled: true, workloadMarker: marker }))
          found.push(`round ${round}: after reconcile: ${violation}`);
      options.onRound?.(round, { rounds: round + 1, commands, kills, violations: found });
    }
  } finally {
    await agent?.stop();
    await where.proxy?.close();
  }
  return { rounds: options.rounds, commands, kills, violations: found };
}

/** Where the state of a run lives: the flags that name it (through the proxy, and straight), and how the test reads it. */
interface Place {
  readonly flags: readonly string[];
  readonly directFlags: readonly string[];
  readonly read: () => Promise<NodeState | string>;
  readonly proxy?: FaultProxy;
}

async function place(options: { readonly store: TortureStore; readonly seed: number; readonly dir: string; readonly cp?: ControlPlane }): Promise<Place> {
  if (options.store !== "configmap") {
    const conf = join(options.dir, `torture-${options.store}-${options.seed}`);
    const store = new FileStateStore(conf, 30);
    const flags = [`--conf-dir=${conf}`];
    return { flags, directFlags: flags, read: () => readState(() => store.read()) };
  }
  const cp = options.cp;
  if (cp === undefined) throw new Error("the configmap store needs a control plane");
  const proxy = await startFaultProxy(cp, options.dir);
  const node = `torture-${options.seed}-${process.pid}`;
  const location = `configmap default/cmk-config-${node}`;
  return {
    flags: [`--kubeconfig=${proxy.kubeconfig}`, `--node-name=${node}`],
    directFlags: [`--kubeconfig=${cp.kubeconfig}`, `--node-name=${node}`],
    proxy,
    read: () =>
      readState(async () => {
        const response = await cp.request<Parameters<typeof decodeConfigMap>[0]>("GET", `/api/v1/namespaces/default/configmaps/cmk-config-${node}`);
        if (response.status === 404) return null;
        if (response.status !== 200) throw new Error(`GET ${location}: HTTP ${response.status}`);
        return decodeConfigMap(response.body, location);
      }),
  };
}

/** The state, or why it cannot be read. */
async function readState(read: () => Promise<NodeState | null>): Promise<NodeState | string> {
  try {
    return (await read()) ?? "there is no state";
  } catch (error) {
    return String(error);
  }
}
