// An exclusive flock on a lock file, waited for up to a timeout. The kernel drops the lock of a
// process that dies, so a crashed holder never wedges the node. The uncontended lock is taken at
// once, with one system call, as every cmk isolate on a workload's launch path takes it; a
// contended one is waited for on a worker thread, so that the event loop of the process (a
// server's requests, the CLI's timers) keeps running meanwhile.
import { closeSync, fstatSync, openSync, readFileSync, statSync } from "node:fs";
import { CmkError, describeCause } from "../core/errors.ts";
import { ETIMEDOUT, EWOULDBLOCK, errnoName, LOCK_EX, LOCK_NB, LOCK_UN, native } from "./native.ts";

export interface HeldLock {
  release(): void;
}

export async function acquireLock(path: string, timeoutSeconds: number): Promise<HeldLock> {
  let fd: number;
  try {
    fd = openSync(path, "a+", 0o644);
  } catch (error) {
    throw new CmkError("failure", `cannot open the state lock ${path}: ${lockOpenProblem(path, error)}`, { cause: error });
  }
  let rc = native().flock(fd, LOCK_EX | LOCK_NB);
  if (rc === -EWOULDBLOCK) rc = timeoutSeconds > 0 ? await native().flockWaitAsync(fd, timeoutSeconds * 1000) : -ETIMEDOUT;
  if (rc !== 0) throw lockFailure(path, fd, rc, timeoutSeconds);
  return heldLock(fd);
}

/** The error for a lock not taken (closing its descriptor), naming the holder when it timed out. */
function lockFailure(path: string, fd: number, rc: number, timeoutSeconds: number): CmkError {
  const holder = rc === -ETIMEDOUT ? lockHolder(fd) : "";
  closeSync(fd);
  if (rc === -ETIMEDOUT) {
    return new CmkError(
      "lock-timeout",
      `timed out after ${timeoutSeconds} s waiting for the state lock ${path}${holder}; retry, or raise CMK_LOCK_TIMEOUT (seconds)`,
    );
  }
  return new CmkError("failure", `cannot lock ${path}: flock failed with ${errnoName(rc)}`);
}

function heldLock(fd: number): HeldLock {
  let released = false;
  return {
    release(): void {
      if (released) return;
      released = true;
      native().flock(fd, LOCK_UN);
      closeSync(fd);
    },
  };
}

/** " held by PID n (command)" from /proc/locks, or "" when the holder cannot be seen. */
function lockHolder(fd: number): string {
  try {
    const inode = fstatSync(fd).ino;
    for (const line of readFileSync("/proc/locks", "utf8").split("\n")) {
      const fields = line.trim().split(/\s+/);
      // "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"; blocked waiters carry a "->" marker.
      if (fields[1] !== "FLOCK" || fields.includes("->")) continue;
      const pid = fields[4];
      if (fields[5]?.split(":")[2] !== String(inode) || pid === undefined) continue;
      let command = "";
      try {
        command = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).slice(0, 4).join(" ");
      } catch {
        // The holder may live in another PID namespace; its PID is still worth showing.
      }
      return ` held by PID ${pid}${command ? ` (${command})` : ""}`;
    }
  } catch {
    // /proc/locks is informative only.
  }
  return "";
}

/**
 * The PIDs of the processes blocked waiting for a flock on `path`, from `<procFs>/locks` (waiters
 * carry a "->" marker there); empty when it cannot be read.
 */
export function lockWaiters(procFs: string, path: string): Set<number> {
  const waiters = new Set<number>();
  try {
    const inode = String(statSync(path).ino);
    for (const line of readFileSync(`${procFs}/locks`, "utf8").split("\n")) {
      // "1: -> FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"
      const fields = line.trim().split(/\s+/);
      if (fields[1] !== "->" || fields[2] !== "FLOCK" || fields[6]?.split(":")[2] !== inode) continue;
      const pid = Number(fields[5]);
      if (Number.isSafeInteger(pid) && pid > 0) waiters.add(pid);
    }
  } catch {
    // No lock file or no locks file: nobody is seen waiting.
  }
  return waiters;
}

/** Why the lock file cannot be opened for writing, and what to do about it. */
function lockOpenProblem(path: string, error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "EACCES" || code === "EPERM") {
    let owner = "";
    try {
      const stat = statSync(path);
      owner = ` (owned by uid ${stat.uid}, mode ${(stat.mode & 0o777).toString(8).padStart(4, "0")})`;
    } catch {
      owner = ` (its directory does not let uid ${process.getuid?.() ?? "?"} create it)`;
    }
    return `permission denied${owner}; run cmk as a user that may write it (root, usually) or choose a --conf-dir you own`;
  }
  if (code === "ENOENT") return "its directory does not exist; run cmk init with this --conf-dir first";
  if (code === "EROFS") return "the file system is read-only; choose a writable --conf-dir";
  return `${describeCause(error)}; check the directory and its permissions`;
}
