// A real `cmk agent` for tests: started on a conf dir with its socket in a scratch directory,
// waited for until it serves, stopped (SIGTERM, or SIGKILL to test a crash) at the end.
import type { ChildProcess } from "node:child_process";
import { type CmkResult, startServing } from "./cmk.ts";

export interface RunningAgent {
  readonly socket: string;
  readonly process: ChildProcess;
  /** What it logged so far. */
  readonly stderr: () => string;
  /** SIGTERM (default) or SIGKILL, then its exit. */
  readonly stop: (signal?: NodeJS.Signals) => Promise<CmkResult>;
}

/** Starts `cmk agent` with `args` (store flags, --interval, ...) serving on `socket`. */
export async function startAgent(socket: string, args: readonly string[], env: Record<string, string> = {}): Promise<RunningAgent> {
  const { child, stderr, exited } = await startServing(["agent", `--socket=${socket}`, ...args], env, /serving allocations on/);
  let stopped = false;
  const stop = async (signal: NodeJS.Signals = "SIGTERM"): Promise<CmkResult> => {
    if (!stopped) child.kill(signal);
    stopped = true;
    return exited;
  };
  // An agent does not keep the test process alive, and never outlives it (in or out of the test runner).
  child.unref();
  (child.stdout as unknown as { unref?: () => void } | null)?.unref?.();
  (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
  process.once("exit", () => child.kill("SIGKILL"));
  return { socket, process: child, stderr, stop };
}
