// Reading the conf dir's files, where a missing file is an answer (no state yet, no earlier
// version's state) and any other failure is an error that names the file.
import { readFileSync } from "node:fs";
import { CmkError, describeCause } from "../../core/errors.ts";

/** A file's text, or null when it does not exist. */
export function readText(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new CmkError("failure", `cannot read ${path}: ${describeCause(error)}`, { cause: error });
  }
}
