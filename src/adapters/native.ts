// Loads the system-call shim (native/cmk_native.c) built next to the bundle.
import { fileURLToPath } from "node:url";
import { CmkError } from "../core/errors.ts";

/** Defined by scripts/build.ts in the bundle; absent when the sources run directly (tests). */
declare const CMK_BUNDLED: boolean | undefined;

/** The process at the other end of a Unix socket, as the kernel recorded it when it connected. */
export interface PeerCredentials {
  /** In this process's PID namespace. */
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

/** A watch of a process's exit; close() stops it (no callback after it), and is idempotent. */
export interface ExitWatch {
  close(): void;
}

export interface NativeBindings {
  setAffinity(tid: number, mask: Uint8Array): number;
  getAffinity(tid: number): Uint8Array | number;
  flock(fd: number, operation: number): number;
  /**
   * Waits up to `timeoutMs` for an exclusive lock on a worker thread, leaving the event loop free:
   * 0, or a negative errno (-ETIMEDOUT on expiry).
   */
  flockWaitAsync(fd: number, timeoutMs: number): Promise<number> | number;
  /** Starts `helper` (cmk-hold) for argv; it waits for a start message before it execs: [pid, startFd, reportFd] or -errno. */
  spawnHeld(helper: string, argv: readonly string[], env: readonly string[]): [number, number, number] | number;
  forwardSignals(signals: readonly number[]): number;
  forwardTo(pid: number): number;
  /** The child's exit status, 128+N for signal N, or -errno. */
  waitChild(pid: number): number;
  exitNow(code: number): never;
  /** SO_PEERCRED of a connected Unix socket: its peer, or -ENOTCONN (no peer), -ENOTSOCK, -EBADF, -errno. */
  peerCredentials(fd: number): PeerCredentials | number;
  /**
   * Calls `onExit` once, on the event loop, when process `pid` exits (a pidfd polled by libuv; a
   * zombie counts as exited, at once), unless close() came first. The watch keeps the event loop
   * alive only with `keepAlive`. A negative errno instead of a watch: -ESRCH when the process is
   * gone already (exited and reaped), -ENOSYS when the kernel has no pidfd_open (before Linux 5.3:
   * poll instead), -EINVAL for a pid <= 0 or a callback that is no function. A throwing `onExit`
   * is an uncaught exception, as in any callback.
   */
  watchExit(pid: number, onExit: () => void, keepAlive?: boolean): ExitWatch | number;
}

export const ETIMEDOUT = 110;
export const EWOULDBLOCK = 11;

/** No such process or thread: it ended meanwhile. */
export const ESRCH = 3;

/** A system call this kernel does not have. */
export const ENOSYS = 38;

export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

let bindings: NativeBindings | undefined;

/** The directory of the running build: dist/ of a source tree, or an installed runtime directory. */
export function buildDir(): string {
  return typeof CMK_BUNDLED !== "undefined" ? __dirname : fileURLToPath(new URL("../../dist", import.meta.url));
}

/** A file built beside the bundle (dist/, or an installed copy's directory). */
export function builtFile(name: string): string {
  return `${buildDir()}/${name}`;
}

export function native(): NativeBindings {
  if (bindings === undefined) {
    const module = { exports: {} as NativeBindings };
    const path = builtFile("cmk_native.node");
    try {
      process.dlopen(module, path);
    } catch (error) {
      throw new CmkError("failure", `cannot load cmk's system-call shim ${path}; rebuild with 'npm run build' or reinstall cmk`, { cause: error });
    }
    bindings = module.exports;
  }
  return bindings;
}

/**
 * Ends the process now when the shim is already loaded (commands that made system calls), skipping
 * Node.js's teardown; otherwise returns and Node.js exits as usual. Output must be written already.
 */
export function exitNowIfLoaded(code: number): void {
  bindings?.exitNow(code);
}

/** Linux errno numbers cmk's system calls can meet (node:os has them all, but costs start-up time to load). */
const errnoNames: Readonly<Record<number, string>> = {
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  4: "EINTR",
  5: "EIO",
  7: "E2BIG",
  8: "ENOEXEC",
  9: "EBADF",
  10: "ECHILD",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  16: "EBUSY",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  23: "ENFILE",
  24: "EMFILE",
  26: "ETXTBSY",
  28: "ENOSPC",
  30: "EROFS",
  36: "ENAMETOOLONG",
  38: "ENOSYS",
  40: "ELOOP",
  88: "ENOTSOCK",
  107: "ENOTCONN",
  110: "ETIMEDOUT",
};

/** "ENOENT" for -2: the name of a negative errno as the native functions return it. */
export function errnoName(negativeErrno: number): string {
  return errnoNames[-negativeErrno] ?? `errno ${-negativeErrno}`;
}
