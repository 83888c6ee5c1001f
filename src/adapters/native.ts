// Loads the system-call shim (native/cmk_native.c) built next to the bundle.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CmkError } from "../core/errors.ts";

/** Defined by scripts/build.ts in the bundle; absent when the sources run directly (tests). */
declare const CMK_BUNDLED: boolean | undefined;

export interface NativeBindings {
  setAffinity(tid: number, mask: Uint8Array): number;
  getAffinity(tid: number): Uint8Array | number;
  flock(fd: number, operation: number): number;
  /** Waits up to `timeoutMs` for an exclusive lock; 0, or a negative errno (-ETIMEDOUT on expiry). */
  flockWait(fd: number, timeoutMs: number): number;
}

export const ETIMEDOUT = 110;

export const LOCK_UN = 8;

let bindings: NativeBindings | undefined;

function addonPath(): string {
  return typeof CMK_BUNDLED !== "undefined"
    ? join(__dirname, "cmk_native.node")
    : fileURLToPath(new URL("../../dist/cmk_native.node", import.meta.url));
}

export function native(): NativeBindings {
  if (bindings === undefined) {
    const module = { exports: {} as NativeBindings };
    const path = addonPath();
    try {
      process.dlopen(module, path);
    } catch (error) {
      throw new CmkError("failure", `cannot load cmk's system-call shim ${path}; rebuild with 'npm run build' or reinstall cmk`, { cause: error });
    }
    bindings = module.exports;
  }
  return bindings;
}

export function errnoName(negativeErrno: number): string {
  const names: Record<number, string> = { 1: "EPERM", 3: "ESRCH", 4: "EINTR", 9: "EBADF", 11: "EWOULDBLOCK", 12: "ENOMEM", 14: "EFAULT", 22: "EINVAL", 110: "ETIMEDOUT" };
  return names[-negativeErrno] ?? `errno ${-negativeErrno}`;
}
