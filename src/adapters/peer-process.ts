// The process at the other end of a Unix socket, and the moment a process exits: what cmk agent
// needs to give CPU lists to whoever connected (never to whom a request names) and to free them
// as soon as that process is gone. Both come from the kernel through the shim (SO_PEERCRED, a
// pidfd watched on the event loop); these wrappers turn its negative errnos into errors or
// documented outcomes.
import { CmkError } from "../core/errors.ts";
import { ENOSYS, ESRCH, type ExitWatch, errnoName, native, type PeerCredentials } from "./native.ts";

export type { ExitWatch, PeerCredentials };

/** The process connected at the other end of Unix socket `fd` (its PID in this PID namespace). */
export function peerCredentials(fd: number): PeerCredentials {
  const result = native().peerCredentials(fd);
  if (typeof result === "number") {
    throw new CmkError("failure", `cannot tell which process is connected on descriptor ${fd}: ${errnoName(result)}`);
  }
  return result;
}

export interface WatchOptions {
  /** Keep the event loop alive until the process exits (default: the watch alone does not). */
  readonly keepAlive?: boolean;
}

/**
 * Calls `onExit` once when process `pid` exits, unless the returned watch is closed first. A
 * process already gone (exited and reaped) is called back on the next turn of the event loop, so
 * callers handle one outcome. Null when this kernel cannot watch exits (no pidfd_open before
 * Linux 5.3): the caller polls instead. A PID may have been recycled by the time the watch is
 * set: check the process's start time after this returns, when the watch holds the process.
 */
export function watchProcessExit(pid: number, onExit: () => void, options: WatchOptions = {}): ExitWatch | null {
  const watch = native().watchExit(pid, onExit, options.keepAlive === true);
  if (typeof watch !== "number") return watch;
  if (watch === -ENOSYS) return null;
  if (watch === -ESRCH) {
    const soon = setImmediate(onExit);
    if (options.keepAlive !== true) soon.unref();
    return { close: () => clearImmediate(soon) };
  }
  throw new CmkError("failure", `cannot watch process ${pid} for its exit: ${errnoName(watch)}`);
}
