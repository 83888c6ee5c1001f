// Surviving a power failure without fsync on every isolate. Task bookkeeping replaces state.json
// atomically but does not wait for the disk: every task dies with the machine anyway. A file
// system with delayed allocation (XFS, for example) may then come back with state.json empty or
// zero-filled. layout.json, written durably with every layout change, holds the pools alone, so
// the store restores them from it and says so; the next write repairs state.json.
//
// Whether the tasks state.json recorded really ended is told by the kernel's boot id, new at every
// boot. layout.json records the boot id of the last boot in which state.json was written (the
// store rewrites layout.json, durably, at the first write of each boot). A boot id other than
// today's proves a restart since state.json was last written: its tasks ended with the machine.
// The same boot id (or none recorded, or none shown) proves nothing of the kind: the file was
// emptied by something else while its tasks may run. The store then rebuilds the tasks from the
// cmk isolate processes that run, and refuses, changing nothing, when it cannot tell which CPU
// lists one of them holds. Any other damage (not only zeros) is corruption, reported as such.
import { CmkError } from "../../core/errors.ts";
import { mapTasks, type NodeState } from "../../core/node-state.ts";
import { type ObservedTask, rebuildTasks } from "../../core/rebuild.ts";
import { decodeStoredState, type StoredState } from "../../formats/state-document.ts";
import { lockWaiters } from "../flock.ts";
import { type IsolateProcess, isolateProcesses, ownProcess, readBootId } from "../procfs.ts";
import { readText } from "./read-text.ts";

export const layoutFileName = "layout.json";

/** What the store needs to know of the host to tell a lost state from a live one. */
export interface HostProcesses {
  /** The kernel's boot id now; null when the host does not show one. */
  bootId(): string | null;
  /**
   * The cmk isolate processes of the state directory `location` that run now, other than this
   * process, each marked when it is waiting for the lock file `lockFile`.
   */
  isolates(location: string, lockFile: string): readonly SeenIsolate[];
  /** How long an isolate whose command is held is watched until it starts it or waits for the lock. */
  readonly settleMilliseconds: number;
}

export interface SeenIsolate extends IsolateProcess {
  readonly waitingForLock: boolean;
}

/** The host as its procfs shows it; `defaultConfDir` is the state directory of an isolate without --conf-dir. */
export function procfsHost(procFs: string, defaultConfDir: string, settleMilliseconds = 2000): HostProcesses {
  return {
    settleMilliseconds,
    bootId: () => readBootId(procFs),
    isolates(location, lockFile) {
      let own = -1;
      try {
        own = ownProcess(procFs).pid;
      } catch {
        // A procfs without self (a fixture's): none of its isolates is this process.
      }
      const waiting = lockWaiters(procFs, lockFile);
      return isolateProcesses(procFs, location, defaultConfDir)
        .filter((isolate) => isolate.pid !== own)
        .map((isolate) => ({ ...isolate, waitingForLock: waiting.has(isolate.pid) }));
    },
  };
}

/**
 * True for what a power failure leaves of a file never fsynced: nothing, or zeros only. Any other
 * damage is corruption, not loss: its tasks may still run, so it is never taken for a lost file.
 */
export function lostToPowerFailure(text: string): boolean {
  return /^\0*$/.test(text);
}

/** What layout.json keeps: the pools, with every CPU list free and no task records. */
export function layoutOf(state: NodeState): NodeState {
  return { pools: mapTasks(state, () => []).pools, tasks: new Map() };
}

/**
 * The state of an empty or zero-filled `stateFile`: the pools of `location`/layout.json with no
 * tasks after a restart, else with the tasks of the isolates that run. Returns layout.json's boot
 * id beside it. `notice` hears of the repair; a state whose tasks cannot be told is refused.
 */
export async function recoverLostState(
  location: string,
  stateFile: string,
  lockFile: string,
  host: HostProcesses,
  notice: (message: string) => void,
): Promise<StoredState> {
  const layoutFile = `${location}/${layoutFileName}`;
  const text = readText(layoutFile);
  if (text === null) {
    throw new CmkError(
      "invalid-state",
      `${stateFile} is empty or zero-filled and there is no ${layoutFileName} to restore the pools from; run cmk init --conf-dir=${location} to start afresh (it keeps the file as a backup)`,
    );
  }
  const layout = decodeStoredState(text, layoutFile);
  const now = host.bootId();
  if (layout.bootId !== null && now !== null && layout.bootId !== now) {
    notice(
      `${stateFile} was empty or zero-filled and the machine has restarted since it was written (boot id ${layout.bootId} then, ${now} now): a power failure before it reached the disk; restored the pools from ${layoutFile}; the tasks it recorded ended with the machine`,
    );
    return { state: layoutOf(layout.state), bootId: layout.bootId };
  }
  const since =
    layout.bootId === null || now === null
      ? `cmk cannot tell whether the machine restarted since it was written (${layout.bootId === null ? `${layoutFileName} records no boot id` : "this host shows no boot id"})`
      : `the machine has not restarted since it was written (boot id ${now})`;
  const seen = await settled(host, location, lockFile);
  const observed: ObservedTask[] = [];
  const unstarted: number[] = [];
  for (const isolate of seen) {
    const task = observedTask(isolate);
    if (task === "unstarted") unstarted.push(isolate.pid);
    else if (task !== null) observed.push(task);
  }
  const rebuilt = rebuildTasks(layoutOf(layout.state), observed);
  const problems = [...unstarted.map((pid) => `cmk isolate ${pid} has not started its command and is not waiting for the state lock`), ...rebuilt.problems];
  if (problems.length > 0) {
    throw new CmkError(
      "invalid-state",
      `${stateFile} is empty or zero-filled but ${since}, so the tasks it recorded may still run, and cmk cannot tell which CPU lists they hold: ${problems.join("; ")}; nothing was changed: restore ${stateFile} from a backup, or stop those workloads and run the command again`,
    );
  }
  const ids = [...rebuilt.state.tasks.keys()];
  notice(
    `${stateFile} was empty or zero-filled but ${since}; restored the pools from ${layoutFile} with ${
      ids.length === 0
        ? "no task: no cmk isolate of this state directory runs"
        : ids.length === 1
          ? `the task of the cmk isolate process that runs (PID ${ids[0]})`
          : `the ${ids.length} tasks of the cmk isolate processes that run (PIDs ${ids.join(", ")})`
    }`,
  );
  return { state: rebuilt.state, bootId: layout.bootId };
}

/**
 * The isolates of the state directory once none is between states: an isolate whose command is
 * held (not started) either waits for the lock, and so holds nothing yet, or has just been given
 * its lists and is about to start it. Watched for a moment while this process holds the lock;
 * those still undecided then are reported.
 */
async function settled(host: HostProcesses, location: string, lockFile: string): Promise<readonly SeenIsolate[]> {
  const deadline = Date.now() + host.settleMilliseconds;
  for (;;) {
    const seen = host.isolates(location, lockFile);
    if (!seen.some((isolate) => observedTask(isolate) === "unstarted") || Date.now() >= deadline) return seen;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * A running isolate as a task: null when it holds no CPUs (it ended, its command has ended, it
 * has no command yet, or it waits for the lock before taking any), "unstarted" when its command
 * is held and it is not waiting: it may have just been given lists.
 */
function observedTask(isolate: SeenIsolate): ObservedTask | "unstarted" | null {
  const command = isolate.command;
  if (isolate.start === null || command === null || command.start === null) return null;
  if (command.assigned === null) return isolate.waitingForLock ? null : "unstarted";
  const cpus = isolate.affinity && command.allowed !== null ? [command.allowed, command.assigned] : [command.assigned];
  return {
    record: { isolate: { pid: isolate.pid, start: isolate.start }, child: { pid: command.pid, start: command.start }, affinity: isolate.affinity },
    pool: isolate.pool,
    cpus,
  };
}
