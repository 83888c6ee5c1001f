// What earlier versions left in a conf dir, as one shape for the store: where it lives, how to
// read it, and the backup name it moves to once the first write in the current format has
// replaced it. A migration is then just "read it when there is no state.json, retire it after
// writing one", and nothing of an earlier version is ever deleted.
import { existsSync, renameSync } from "node:fs";
import type { NodeState } from "../../core/node-state.ts";

export interface LegacyState {
  /** The file or directory an earlier version kept in the conf dir. */
  readonly name: string;
  /** Where it goes once migrated (with .1, .2 ... when that exists already). */
  readonly backup: string;
  /** Its state, or null when the conf dir has none of it; `notice` hears of what it skips. */
  read(location: string, notice: (message: string) => void): NodeState | null;
}

/** Moves an earlier version's state out of the way, keeping it as a backup; nothing when absent. */
export function retireLegacyState(location: string, legacy: LegacyState): void {
  moveToBackup(`${location}/${legacy.name}`, `${location}/${legacy.backup}`);
}

/** Renames `path` to `backup` (with .1, .2 ... when taken), never over another file; returns where, or null when absent. */
export function moveToBackup(path: string, backup: string): string | null {
  if (!existsSync(path)) return null;
  let target = backup;
  for (let attempt = 1; existsSync(target); attempt++) target = `${backup}.${attempt}`;
  renameSync(path, target);
  return target;
}
