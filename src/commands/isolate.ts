// cmk isolate: run a command on CPU lists of a pool. Forks the command held back, allocates its
// CPUs and records both processes in one state transaction (so a kill -9 at any instant leaves
// no running command on unrecorded CPUs), pins the command before it execs, forwards signals,
// releases exactly once, and exits with the command's status.
import { existsSync } from "node:fs";
import { pinThread } from "../adapters/affinity.ts";
import { forwardSignals, forwardTo, type HeldChild, spawnHeld } from "../adapters/held-child.ts";
import { childHostPid, ownProcess, readStartTime, taskLiveness } from "../adapters/procfs.ts";
import type { Context } from "../app/context.ts";
import { integerValue } from "../app/input.ts";
import { notInitialisedError, openStore, storeLocationNamed } from "../app/stores.ts";
import { type Allocation, type AllocationRequest, allocate, allocationEnvironment, type Placement, releaseTask, socketFor } from "../core/allocate.ts";
import { CpuSet } from "../core/cpuset.ts";
import { describeCause, usageError } from "../core/errors.ts";
import type { ProcessIdentity, TaskRecord } from "../core/node-state.ts";
import { isExclusivePool, type PoolName, poolNames } from "../core/pools.ts";
import type { StateStore } from "../core/state-store.ts";
import type { isolateFlags, OptionsOf } from "./flags.ts";

/** SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 (Linux numbers; node:os costs start-up time to load). */
const forwardedSignals = [15, 2, 1, 3, 10, 12];

/** What an exec failure means to someone who typed the command. */
const execErrors: Readonly<Record<string, string>> = {
  ENOENT: "command not found",
  EACCES: "permission denied",
  ENOEXEC: "not an executable format (a script needs a #! line)",
  E2BIG: "its arguments and environment are too large",
  ETXTBSY: "the file is being written",
};

/** Exit statuses of a command that could not be started, as shells report them. */
const cannotExecute = 126;
const notFound = 127;

/** NUMA node and L3 group of each list, read from sysfs only for multi-list requests. */
async function placementReader(context: Context): Promise<(cpus: CpuSet) => Placement> {
  const { readCpuRecords } = await import("../adapters/sysfs.ts");
  const byCpu = new Map(readCpuRecords({ root: context.settings.sysRoot, power: false }).map((cpu) => [cpu.id, { numaNode: cpu.numaNode, l3: cpu.l3 }]));
  return (cpus) => byCpu.get(cpus.first ?? -1) ?? { numaNode: -1, l3: -1 };
}

/** The host identity of the held child, or null (with a warning) when procfs does not show it. */
function childIdentity(context: Context, proc: string, ownPid: number, child: HeldChild): ProcessIdentity | null {
  const pid = childHostPid(proc, ownPid, child.pid);
  const start = pid === null ? null : readStartTime(proc, pid);
  if (pid === null || start === null) {
    context.log.warning("cannot find the host PID of the command; its CPUs are held only while this cmk isolate runs");
    return null;
  }
  return { pid, start };
}

export async function run(options: OptionsOf<typeof isolateFlags>, context: Context, program: readonly string[]): Promise<number> {
  const { pool, socketId } = options;
  if (pool === undefined) throw usageError(`cmk isolate needs --pool=<pool>: one of ${poolNames.join(", ")}`);
  const countText = context.env["CMK_NUM_CORES"];
  const count = countText === undefined || countText === "" ? 1 : integerValue("CMK_NUM_CORES", countText, 1, 8192);
  const pinned = !options.noAffinity;
  const viaAgent = await isolateWithAgent(options, context, program, { pool, count, pinned });
  if (viaAgent !== null) return viaAgent;
  const proc = context.settings.procFs;
  const own = ownProcess(proc);
  const hostPid = own.pid;
  const taskId = String(hostPid);
  const store = await openStore(options, context);
  store.prepare?.();
  const placement = isExclusivePool(pool) && count > 1 ? await placementReader(context) : undefined;

  const child = spawnCommand(context, program);
  let allocation: Allocation;
  try {
    const identity = childIdentity(context, proc, hostPid, child);
    const pod = context.settings.kubernetes.pod;
    const record: TaskRecord = {
      isolate: own,
      ...(identity === null ? {} : { child: identity }),
      affinity: pinned,
      ...(pod === undefined ? {} : { pod }),
    };
    const started = context.now();
    allocation = await allocateFor(
      store,
      { pool, socketId: socketFor(pool, socketId), count: isExclusivePool(pool) ? count : 1, taskId, record },
      proc,
      placement,
    );
    const { lists, why } = allocation;
    context.log.debug(
      `task ${taskId}: pool ${pool} CPU lists ${lists.map((list) => list.key).join(" + ")}: ${why}; lock wait and transaction ${(context.now() - started).toFixed(1)} ms`,
    );
  } catch (error) {
    child.abandon();
    throw error;
  }
  for (const entry of allocation.reclaimed) {
    context.log.info(`reclaimed CPU list ${entry.cpus} of pool ${entry.pool} from dead task ${entry.pid}`);
  }

  const env = allocationEnvironment(allocation.lists, allocation.state);
  const release = (): Promise<void> =>
    store.update((current) => (current === null ? { result: undefined } : { state: releaseTask(current, taskId), result: undefined, durability: "tasks" }));
  let status: number;
  try {
    status = startAndWait(child, env, pinned, context, program);
  } catch (error) {
    child.abandon();
    await release();
    throw error;
  }
  child.abandon();
  try {
    await release();
  } catch (error) {
    // Once the command has run, isolate ends with its status (README, "Exit codes"); a list left
    // to a dead task is what reconcile, and the next allocation in need, take back.
    context.log.error(
      `the command ended (status ${status}), but its CPU lists were not given back: ${describeCause(error)}; cmk reconcile frees them once the state can be written`,
    );
  }
  return status;
}

/**
 * Starts the command held back, so that nothing runs before its CPUs are recorded. Until it runs, a
 * forwarded signal is held back and ends isolate instead. It gets its own CMK_CPUS_* when it
 * starts; none may linger from an enclosing isolate.
 */
function spawnCommand(context: Context, program: readonly string[]): HeldChild {
  forwardSignals(forwardedSignals);
  const { CMK_CPUS_ASSIGNED, CMK_CPUS_ASSIGNED_MASK, CMK_CPUS_SHARED, CMK_CPUS_INFRA, ...inherited } = context.env;
  return spawnHeld(program as [string, ...string[]], inherited);
}

/** Pins the held command to CMK_CPUS_ASSIGNED (unless --no-affinity), lets it exec with `env`, and waits for its status. */
function startAndWait(child: HeldChild, env: Readonly<Record<string, string>>, pinned: boolean, context: Context, program: readonly string[]): number {
  const cpus = CpuSet.parse(env["CMK_CPUS_ASSIGNED"] ?? "");
  if (pinned) pinThread(child.pid, cpus);
  else context.log.info(`--no-affinity: not pinning; the command finds its CPUs in CMK_CPUS_ASSIGNED=${cpus}`);
  const heldBack = forwardTo(child.pid);
  if (heldBack !== 0) return 128 + heldBack;
  const execError = child.start(env);
  if (execError !== null) {
    context.log.error(`cannot run ${program[0] as string}: ${execErrors[execError] ?? execError}; check the command and PATH`);
    child.wait();
    return execError === "ENOENT" ? notFound : cannotExecute;
  }
  return child.wait();
}

/**
 * With a `cmk agent` on the node, the agent allocates: this process holds the connection (the
 * lease) while the command runs, and the lists are free once it ends. Null when no agent serves
 * this store, so that isolate does the work itself.
 */
async function isolateWithAgent(
  options: OptionsOf<typeof isolateFlags>,
  context: Context,
  program: readonly string[],
  request: { readonly pool: PoolName; readonly count: number; readonly pinned: boolean },
): Promise<number | null> {
  const path = context.settings.agentSocket;
  if (!existsSync(path)) return null;
  const { askAgent } = await import("../app/agent-client.ts");
  // The command is started (held) first, so that the agent, which sees it as this process's one
  // child, records it too: its lists stay its own should this process be killed.
  const child = spawnCommand(context, program);
  let answer: Awaited<ReturnType<typeof askAgent>>;
  try {
    answer = await askAgent(
      path,
      {
        operation: "allocate",
        pool: request.pool,
        count: request.count,
        socket: options.socketId ?? -1,
        affinity: request.pinned,
        argv0: program[0] ?? "",
        store: storeLocationNamed(options, context),
      },
      context.settings.lockTimeoutSeconds * 1000,
    );
  } catch (error) {
    child.abandon();
    throw error;
  }
  if (answer.kind === "no-agent") {
    child.abandon();
    context.log.debug(`not using the agent: ${answer.why}`);
    return null;
  }
  try {
    return startAndWait(child, answer.env, request.pinned, context, program);
  } finally {
    child.abandon();
    answer.lease.destroy();
  }
}

/** The one state transaction before the command runs: its CPU lists, with both processes recorded. */
async function allocateFor(
  store: StateStore,
  request: AllocationRequest,
  proc: string,
  placement: ((cpus: CpuSet) => Placement) | undefined,
): Promise<Allocation> {
  return store.update((current) => {
    if (current === null) throw notInitialisedError(store);
    // A fresh liveness for each run of the change: the store may run it again.
    const allocation = allocate(current, request, taskLiveness(proc), placement);
    return { state: allocation.state, result: allocation, durability: "tasks" };
  });
}
