// Reading the conf dir's files, where a missing file is an answer (no state yet, no earlier
// version's state) and any other failure is an error that names the file. A file far larger than
// any state is refused before it is read: a hostile or mistaken file of gigabytes must cost
// neither the memory nor the time of parsing it.
import { closeSync, fstatSync, openSync, readFileSync } from "node:fs";
import { CmkError, describeCause } from "../../core/errors.ts";

/**
 * The largest state file read. A state records each task once or twice in about 100 bytes, so
 * this holds hundreds of thousands of tasks, more than a node runs processes.
 */
export const maxStateBytes = 32 * 1024 * 1024;

/** A file's text, or null when it does not exist. */
export function readText(path: string): string | null {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw cannotRead(path, error);
  }
  try {
    const size = fstatSync(fd).size;
    if (size > maxStateBytes) {
      throw new CmkError(
        "invalid-state",
        `${path} holds ${(size / 1024 / 1024).toFixed(1)} MiB, more than any cmk state (at most ${maxStateBytes / 1024 / 1024} MiB), so it is not one cmk wrote; restore it from its backup, or run cmk init to start afresh (it keeps the unreadable file as a backup)`,
      );
    }
    return readFileSync(fd, "utf8");
  } catch (error) {
    throw error instanceof CmkError ? error : cannotRead(path, error);
  } finally {
    closeSync(fd);
  }
}

function cannotRead(path: string, error: unknown): CmkError {
  return new CmkError("failure", `cannot read ${path}: ${describeCause(error)}`, { cause: error });
}
