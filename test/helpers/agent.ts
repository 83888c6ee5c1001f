// A real `cmk agent` for tests: started on a conf dir with its socket in a scratch directory,
// waited for until it serves, stopped (SIGTERM, or SIGKILL to test a crash) at the end.
import type { ChildProcess } from "node:child_process";
import { type CmkResult, collect, spawnCmk } from "./cmk.ts";

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
  const child = spawnCmk(["agent", `--socket=${socket}`, ...args], env);
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const finished = collect(child);
  let stopped = false;
  const stop = async (signal: NodeJS.Signals = "SIGTERM"): Promise<CmkResult> => {
    if (!stopped) child.kill(signal);
    stopped = true;
    return finished;
  };
  // An agent does not keep the test process alive, and never outlives it (in or out of the test runner).
  child.unref();
  (child.stdout as unknown as { unref?: () => void } | null)?.unref?.();
  (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
  process.once("exit", () => child.kill("SIGKILL"));
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (stderr.includes("serving allocations on")) {
        clearInterval(timer);
        resolve();
      }
    }, 10);
    child.once("exit", (code) => {
      clearInterval(timer);
      reject(new Error(`cmk agent exited ${code} before serving: ${stderr}`));
    });
  });
  return { socket, process: child, stderr: () => stderr, stop };
}
