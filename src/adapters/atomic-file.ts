// Replacing a file so that readers, and a machine that loses power, see either the old content or
// the new, never a torn mix: write a temporary file in the same directory, optionally fsync it,
// rename it over the target, optionally fsync the directory so the rename itself is on disk. The
// file store (state.json, layout.json) and the installer (the launcher, the runtime directory's
// files) both rely on it. A failure removes the temporary and rethrows the system's error as it
// came, for the caller to explain in its own terms.
import { closeSync, fchmodSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

export interface WriteOptions {
  /** Permission bits of the new file: as the umask leaves them, or exactly with `exactMode`. */
  readonly mode: number;
  readonly exactMode?: boolean;
  /** Wait until the content (and, for a replacement, the rename) is on disk. */
  readonly durable: boolean;
}

/** Creates `path`, which must not exist yet, with `data`; on failure leaves no file behind. */
export function writeNewFile(path: string, data: string | Uint8Array, options: WriteOptions): void {
  const fd = openSync(path, "wx", options.mode);
  try {
    try {
      writeFileSync(fd, data);
      if (options.exactMode === true) fchmodSync(fd, options.mode);
      if (options.durable) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    removeQuietly(path);
    throw error;
  }
}

/**
 * Replaces `path` with `data` atomically by way of `temporary`, a name in the same directory that
 * nothing else uses (a leftover of a writer that died is the caller's to remove first). On
 * failure the previous `path` is untouched and the temporary is gone.
 */
export function replaceFile(path: string, data: string | Uint8Array, options: WriteOptions & { readonly temporary: string }): void {
  writeNewFile(options.temporary, data, options);
  try {
    renameSync(options.temporary, path);
  } catch (error) {
    removeQuietly(options.temporary);
    throw error;
  }
  if (options.durable) syncDirectory(dirname(path));
}

/** Makes the entries created, renamed or removed in `directory` survive power loss. */
export function syncDirectory(directory: string): void {
  const fd = openSync(directory, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Clean-up after a failure, which is what gets reported. */
function removeQuietly(path: string): void {
  try {
    rmSync(path, { force: true });
  } catch {
    // Nothing more can be done here; the caller reports the failure that matters.
  }
}
