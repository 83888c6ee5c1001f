// The node state in a host directory (--conf-dir): state.json, replaced atomically under
// flock(<conf-dir>/lock), one transaction per change. Only layout changes (init, reconfigure) are
// made durable with fsync, and they also go to layout.json, from which the pools come back should a
// power failure empty state.json (power-failure.ts). Task bookkeeping, written by every isolate,
// skips fsync: every task dies with the machine. What earlier versions left (cmk-1.4-tree.ts,
// alpha-yaml.ts) is read as is and migrated by the first write, keeping a backup.
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { assertNoSharedCpus } from "../../core/checks.ts";
import { CmkError, describeCause } from "../../core/errors.ts";
import type { NodeState } from "../../core/node-state.ts";
import type { StateStore, Transition } from "../../core/state-store.ts";
import { decodeStateFile, encodeStateFile } from "../../formats/state-document.ts";
import { replaceFile } from "../atomic-file.ts";
import { acquireLock } from "../flock.ts";
import { alphaYamlState } from "./alpha-yaml.ts";
import { cmk14TreeState } from "./cmk-1.4-tree.ts";
import { type LegacyState, moveToBackup, retireLegacyState } from "./legacy-state.ts";
import { layoutFileName, layoutOf, lostToPowerFailure, restoreFromLayout } from "./power-failure.ts";
import { readText } from "./read-text.ts";

const stateFileName = "state.json";
/** What earlier versions kept, newest first. */
const legacyStates: readonly LegacyState[] = [alphaYamlState, cmk14TreeState];

export class FileStateStore implements StateStore {
  readonly location: string;
  private readonly stateFile: string;
  private readonly layoutFile: string;
  private readonly lockTimeoutSeconds: number;
  private readonly notice: (message: string) => void;
  /** The text this store last wrote and its state: isolate reads its own write back when it releases. */
  private lastWritten: { readonly text: string; readonly state: NodeState } | undefined;

  /** `notice` hears of repairs the store makes on its own (a state restored after a power failure). */
  constructor(confDir: string, lockTimeoutSeconds: number, notice: (message: string) => void = () => {}) {
    this.location = resolve(confDir);
    // Template strings rather than path.join on isolate's path: `location` is already normal.
    this.stateFile = `${this.location}/${stateFileName}`;
    this.layoutFile = `${this.location}/${layoutFileName}`;
    this.lockTimeoutSeconds = lockTimeoutSeconds;
    this.notice = notice;
  }

  async read(): Promise<NodeState | null> {
    return this.readNow();
  }

  async update<T>(change: (current: NodeState | null) => Transition<T>): Promise<T> {
    if (!this.directoryExists()) {
      // No directory, no state: a change that fails or writes nothing must leave no trace.
      const transition = change(null);
      if (transition.state === undefined) return transition.result;
      this.createDirectory();
    }
    const lock = await acquireLock(`${this.location}/lock`, this.lockTimeoutSeconds);
    try {
      const current = this.readNow();
      if (current !== null) assertNoSharedCpus(current, this.stateFile);
      const transition = change(current);
      if (transition.state !== undefined && transition.state !== current) this.write(transition.state, transition.durability ?? "layout");
      return transition.result;
    } finally {
      lock.release();
    }
  }

  async setAsideUnreadable(): Promise<string | null> {
    if (!this.directoryExists()) return null;
    const lock = await acquireLock(`${this.location}/lock`, this.lockTimeoutSeconds);
    try {
      try {
        this.readNow();
        return null;
      } catch (error) {
        if (!(error instanceof CmkError && error.kind === "invalid-state")) throw error;
      }
      if (existsSync(this.stateFile)) return moveToBackup(this.stateFile, `${this.stateFile}.unreadable`);
      // No state.json: what failed to read is an earlier version's state.
      for (const legacy of legacyStates) {
        const moved = moveToBackup(`${this.location}/${legacy.name}`, `${this.location}/${legacy.name}.unreadable`);
        if (moved !== null) return moved;
      }
      return null;
    } finally {
      lock.release();
    }
  }

  /** Whether the conf dir exists; one this user may not reach is an error, not a missing state. */
  private directoryExists(): boolean {
    try {
      statSync(this.location);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw new CmkError(
        "failure",
        `cannot reach the state directory ${this.location}: ${describeCause(error)}; run cmk as a user that may (root, usually) or choose a --conf-dir you own`,
        { cause: error },
      );
    }
  }

  private createDirectory(): void {
    try {
      mkdirSync(this.location, { recursive: true, mode: 0o755 });
    } catch (error) {
      throw new CmkError(
        "failure",
        `cannot create the state directory ${this.location}: ${describeCause(error)}; choose another --conf-dir or fix its permissions`,
        { cause: error },
      );
    }
  }

  private readNow(): NodeState | null {
    const text = readText(this.stateFile);
    if (text !== null) {
      if (this.lastWritten?.text === text) return this.lastWritten.state;
      return lostToPowerFailure(text) ? restoreFromLayout(this.location, this.stateFile, this.notice) : decodeStateFile(text, this.stateFile);
    }
    for (const legacy of legacyStates) {
      const state = legacy.read(this.location, this.notice);
      if (state !== null) return state;
    }
    return null;
  }

  private write(state: NodeState, durability: "layout" | "tasks"): void {
    this.removeLeftovers();
    // layout.json goes first, so it is never older than a layout state.json holds. The first
    // state.json (init, or a migration) also leaves one.
    if (durability === "layout" || !existsSync(this.layoutFile)) {
      this.replace(this.layoutFile, encodeStateFile(layoutOf(state)), true);
      durability = "layout";
    }
    const text = encodeStateFile(state);
    this.replace(this.stateFile, text, durability === "layout");
    this.lastWritten = { text, state };
    for (const legacy of legacyStates) retireLegacyState(this.location, legacy);
  }

  /** Replaces a file of the conf dir atomically; `durable` waits until it is on disk. */
  private replace(path: string, text: string, durable: boolean): void {
    try {
      replaceFile(path, text, { temporary: `${path}.tmp-${process.pid}`, mode: 0o644, durable });
    } catch (error) {
      throw new CmkError("failure", `cannot write ${path}: ${describeCause(error)}; the previous state is unchanged`, { cause: error });
    }
  }

  /** Temporary files of writers that died mid-write; safe to remove while we hold the lock. */
  private removeLeftovers(): void {
    for (const name of readdirSync(this.location)) {
      if (name.startsWith(`${stateFileName}.tmp-`) || name.startsWith(`${layoutFileName}.tmp-`)) rmSync(`${this.location}/${name}`, { force: true });
    }
  }
}
