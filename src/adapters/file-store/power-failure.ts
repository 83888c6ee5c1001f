// Surviving a power failure without fsync on every isolate. Task bookkeeping replaces state.json
// atomically but does not wait for the disk: every task dies with the machine anyway. A file
// system with delayed allocation (XFS, for example) may then come back with state.json empty or
// zero-filled. layout.json, written durably with every layout change, holds the pools alone, so
// the store restores them from it and says so; the next write repairs state.json.
import { CmkError } from "../../core/errors.ts";
import { mapTasks, type NodeState } from "../../core/node-state.ts";
import { decodeStateFile } from "../../formats/state-document.ts";
import { readText } from "./read-text.ts";

export const layoutFileName = "layout.json";

/**
 * True for what a power failure leaves of a file never fsynced: nothing, or zeros only. Any other
 * damage is corruption, not loss: its tasks may still run, so it is never taken for a lost file.
 */
export function lostToPowerFailure(text: string): boolean {
  return /^\0*$/.test(text);
}

/** What layout.json keeps: the pools, with every CPU list free and no task records. */
export function layoutOf(state: NodeState): NodeState {
  return { pools: mapTasks(state, () => []).pools, tasks: new Map() };
}

/**
 * The pools of `location`/layout.json for a lost `stateFile`; its tasks ended with the machine.
 * `notice` hears of the repair.
 */
export function restoreFromLayout(location: string, stateFile: string, notice: (message: string) => void): NodeState {
  const layoutFile = `${location}/${layoutFileName}`;
  const text = readText(layoutFile);
  if (text === null) {
    throw new CmkError(
      "invalid-state",
      `${stateFile} is empty or zero-filled and there is no ${layoutFileName} to restore the pools from; run cmk init --conf-dir=${location} to start afresh (it keeps the file as a backup)`,
    );
  }
  const layout = decodeStateFile(text, layoutFile);
  notice(
    `${stateFile} was empty or zero-filled (a power failure before it reached the disk); restored the pools from ${layoutFile}; the tasks it recorded ended with the machine`,
  );
  return layout;
}
