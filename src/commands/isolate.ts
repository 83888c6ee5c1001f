// cmk isolate: run a command on CPU lists of a pool. Allocates under the state lock, pins itself
// before spawning (so the child starts pinned), forwards signals, releases exactly once, and
// exits with the child's status.
import { spawn, type ChildProcess } from "node:child_process";
import { constants } from "node:os";
import { pinSelf } from "../adapters/affinity.ts";
import { childHostPid, ownHostPid, readStartTime, taskLiveness } from "../adapters/procfs.ts";
import { integerValue, nearest, type ParsedArgs } from "../cli/args.ts";
import { openStore, procFs, notInitialised, type Context } from "../cli/context.ts";
import { allocate, poolCpus, recordChild, releaseTask, type Placement } from "../core/allocate.ts";
import { CpuSet } from "../core/cpuset.ts";
import { CmkError, usageError } from "../core/errors.ts";
import { isExclusivePool, isPoolName, poolNames, type PoolName } from "../core/pools.ts";

const forwardedSignals: readonly NodeJS.Signals[] = ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"];

/** Exit statuses of a command that could not be started, as shells report them. */
const cannotExecute = 126;
const notFound = 127;

function poolFromArgs(args: ParsedArgs): PoolName {
  const pool = args.values.get("pool");
  if (pool === undefined) throw usageError("cmk isolate needs --pool=<pool>: one of " + poolNames.join(", "));
  if (!isPoolName(pool)) {
    const suggestion = nearest(pool, poolNames);
    throw usageError(`--pool="${pool}" is not a pool${suggestion ? `; did you mean ${suggestion}?` : ""} (pools: ${poolNames.join(", ")})`);
  }
  return pool;
}

/** NUMA node and L3 group of each list, read from sysfs only for multi-list requests. */
async function placementReader(context: Context): Promise<(cpus: CpuSet) => Placement> {
  const { readCpuRecords, sysRootFromEnv } = await import("../adapters/sysfs.ts");
  const byCpu = new Map(readCpuRecords({ root: sysRootFromEnv(context.env), power: false }).map((cpu) => [cpu.id, { numaNode: cpu.numaNode, l3: cpu.l3 }]));
  return (cpus) => byCpu.get(cpus.first ?? -1) ?? { numaNode: -1, l3: -1 };
}

export async function run(args: ParsedArgs, context: Context): Promise<number> {
  const pool = poolFromArgs(args);
  const socketText = args.values.get("socket-id") as string;
  const socketId = socketText.trim() === "-1" ? null : integerValue("--socket-id", socketText, 0);
  const countText = context.env["CMK_NUM_CORES"];
  const count = countText === undefined || countText === "" ? 1 : integerValue("CMK_NUM_CORES", countText, 1, 8192);
  const pinned = !args.switches.has("no-affinity");
  const [program, ...programArgs] = args.command as [string, ...string[]];
  const proc = procFs(context.env);
  const hostPid = ownHostPid(proc);
  const start = readStartTime(proc, hostPid);
  if (start === null) throw new CmkError("failure", `cannot read this process's start time from ${proc}/${hostPid}/stat; check CMK_PROC_FS`);
  const taskId = String(hostPid);

  let child: ChildProcess | undefined;
  let pendingSignal: NodeJS.Signals | undefined;
  for (const signal of forwardedSignals) {
    process.on(signal, () => {
      if (child !== undefined && child.exitCode === null) child.kill(signal);
      else pendingSignal ??= signal;
    });
  }

  const store = openStore(args, context);
  const placement = isExclusivePool(pool) && count > 1 ? await placementReader(context) : undefined;
  const { allocation, shared, infra } = await store.update((current) => {
    if (current === null) throw notInitialised(store);
    const result = allocate(
      current,
      { pool, socketId, count: isExclusivePool(pool) ? count : 1, taskId, record: { isolate: { pid: hostPid, start }, affinity: pinned } },
      taskLiveness(proc), // Fresh for each run of the change: the store may run it again.
      placement,
    );
    return { state: result.state, result: { allocation: result, shared: poolCpus(current, "shared"), infra: poolCpus(current, "infra") }, durability: "tasks" };
  });
  for (const entry of allocation.reclaimed) {
    context.log.info(`reclaimed CPU list ${entry.cpus} of pool ${entry.pool} from dead task ${entry.pid}`);
  }

  let released = false;
  const release = async (): Promise<void> => {
    if (released) return;
    released = true;
    await store.update((current) => (current === null ? { result: undefined } : { state: releaseTask(current, taskId), result: undefined, durability: "tasks" }));
  };
  try {
    const cpus = allocation.lists.reduce((all, list) => all.union(list.cpus), CpuSet.empty);
    const env: NodeJS.ProcessEnv = { ...context.env, CMK_CPUS_ASSIGNED: cpus.toString(), CMK_CPUS_ASSIGNED_MASK: cpus.toCmkMask() };
    if (shared !== null) env["CMK_CPUS_SHARED"] = shared.toString();
    if (infra !== null) env["CMK_CPUS_INFRA"] = infra.toString();
    if (pinned) pinSelf(cpus);
    else context.log.info(`--no-affinity: not pinning; the command finds its CPUs in CMK_CPUS_ASSIGNED=${cpus}`);
    if (pendingSignal !== undefined) return 128 + constants.signals[pendingSignal];

    const started = spawn(program, programArgs, { stdio: "inherit", env });
    child = started;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      started.on("exit", (code, signal) => resolve({ code, signal }));
    });
    const spawnError = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
      started.once("spawn", () => resolve(null));
      started.once("error", (error) => resolve(error));
    });
    if (spawnError !== null) {
      const missing = spawnError.code === "ENOENT";
      context.log.error(`cannot run ${program}: ${missing ? "command not found" : spawnError.message}; check the command and PATH`);
      return missing ? notFound : cannotExecute;
    }
    const childPid = childHostPid(proc, hostPid, started.pid as number);
    if (childPid === null) {
      context.log.warning("cannot find the host PID of the command; its CPUs are held only while this cmk isolate runs");
    } else {
      // No start time means the command has already ended: there is nothing left to protect.
      const childStart = readStartTime(proc, childPid);
      if (childStart !== null) {
        await store.update((current) => (current === null ? { result: undefined } : { state: recordChild(current, taskId, { pid: childPid, start: childStart }), result: undefined, durability: "tasks" }));
      }
    }
    if (pendingSignal !== undefined && started.exitCode === null) started.kill(pendingSignal);
    const { code, signal } = await exited;
    return code ?? 128 + (signal === null ? 0 : constants.signals[signal]);
  } finally {
    await release();
  }
}
