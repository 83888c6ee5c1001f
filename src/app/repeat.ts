// Runs a pass once, or every <interval> seconds until asked to stop: the long-running mode of
// reconcile and node-report. Waiting is a timer, never a blocking call, so a server can run it.
// Run once, a failing pass fails the command as it always did. Repeated, a failing pass is handed
// to `onFailure` and the loop goes on: a reconciler that runs for weeks must not die of one bad
// pass (a state being restored, a lock held too long), and the next pass may well succeed.
import type { ReclaimedTask } from "../core/allocate.ts";
import type { NodeChecks } from "../core/checks.ts";
import type { NodeState } from "../core/node-state.ts";

export interface RepeatHooks {
  /** Before each wait between passes, with the interval in seconds. */
  readonly onWait: (seconds: number) => void;
  /** With an interval only: a pass threw this; the loop goes on with the next pass. */
  readonly onFailure: (error: unknown) => void;
}

/** Runs `pass` now and then every `intervalSeconds` (0: once) until `stop` is aborted. */
export async function repeatEvery(intervalSeconds: number, pass: () => Promise<void>, hooks: RepeatHooks, stop: () => AbortSignal): Promise<void> {
  if (intervalSeconds <= 0) return pass();
  // Asked before the first pass, so that a SIGTERM during it ends the loop rather than the process.
  const signal = stop();
  // A stop asked for before the first pass (while a metrics server started) ends the loop at once.
  while (!signal.aborted) {
    try {
      await pass();
    } catch (error) {
      hooks.onFailure(error);
    }
    if (signal.aborted) return;
    hooks.onWait(intervalSeconds);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, intervalSeconds * 1000);
      signal.addEventListener("abort", done, { once: true });
      function done(): void {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
    });
  }
}

/** What a pass found, for whoever watches the loop (the metrics). */
export interface PassFacts {
  /** The state the pass saw; null when the node has none; absent when the pass could not read it (what was known stays). */
  readonly state?: NodeState | null;
  /** The CPU lists the pass freed from dead tasks (reconcile). */
  readonly reclaimed?: readonly ReclaimedTask[];
  /** How many live tasks the pass found running off their CPU lists (reconcile). */
  readonly mismatchedCpuMasks?: number;
  /** The consistency checks of the pass (node-report). */
  readonly checks?: NodeChecks;
}

/** Told of every pass of a loop: when it starts, and how it ended after how many seconds. */
export interface PassObserver {
  started(): void;
  passed(seconds: number, facts: PassFacts): void;
  failed(seconds: number, error: unknown): void;
}
