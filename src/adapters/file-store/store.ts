// The node state in a host directory (--conf-dir): state.json, replaced atomically under
// flock(<conf-dir>/lock), one transaction per change. Only layout changes (init, reconfigure) are
// made durable with fsync, and they also go to layout.json, from which the pools come back should a
// power failure empty state.json (power-failure.ts). Task bookkeeping, written by every isolate,
// skips fsync: every task dies with the machine. Both files record the kernel's boot id; the first
// write of each boot rewrites layout.json durably with it, so that layout.json always tells the
// last boot in which state.json was written. What earlier versions left (cmk-1.4-tree.ts,
// alpha-yaml.ts) is read as is and migrated by the first write, keeping a backup.
import { existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, rmSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { assertNoSharedCpus } from "../../core/checks.ts";
import { CmkError, describeCause } from "../../core/errors.ts";
import type { NodeState } from "../../core/node-state.ts";
import type { StateStore, Transition } from "../../core/state-store.ts";
import { defaultConfDir } from "../../core/state-store.ts";
import { decodeStoredState, encodeStoredState } from "../../formats/state-document.ts";
import { replaceFile } from "../atomic-file.ts";
import { acquireLock } from "../flock.ts";
import { alphaYamlState } from "./alpha-yaml.ts";
import { cmk14TreeState } from "./cmk-1.4-tree.ts";
import { type LegacyState, moveToBackup, retireLegacyState } from "./legacy-state.ts";
import { type HostProcesses, layoutFileName, layoutOf, lostToPowerFailure, procfsHost, recoverLostState } from "./power-failure.ts";
import { readText } from "./read-text.ts";

const stateFileName = "state.json";
/** What earlier versions kept, newest first. */
const legacyStates: readonly LegacyState[] = [alphaYamlState, cmk14TreeState];

export class FileStateStore implements StateStore {
  readonly location: string;
  private readonly stateFile: string;
  private readonly layoutFile: string;
  private readonly lockTimeoutSeconds: number;
  private readonly lockFile: string;
  private readonly notice: (message: string) => void;
  private readonly host: HostProcesses;
  /** The text this store last wrote and its state: isolate reads its own write back when it releases. */
  private lastWritten: { readonly text: string; readonly state: NodeState } | undefined;
  /** The boot id state.json recorded when this store last read or wrote it (layout.json's, after a restore). */
  private recordedBootId: string | null = null;
  /** Whether the last read rebuilt the state from layout.json (state.json was empty or zero-filled). */
  private recovered = false;
  /** The kernel's boot id, read once. */
  private currentBootId: string | null | undefined;

  /**
   * `notice` hears of repairs the store makes on its own (a state restored after a power failure);
   * `host` tells the boot id and the isolates that run (the host's procfs at /proc by default).
   */
  constructor(
    confDir: string,
    lockTimeoutSeconds: number,
    notice: (message: string) => void = () => {},
    host: HostProcesses = procfsHost("/proc", defaultConfDir),
  ) {
    this.location = resolve(confDir);
    // Template strings rather than path.join on isolate's path: `location` is already normal.
    this.stateFile = `${this.location}/${stateFileName}`;
    this.layoutFile = `${this.location}/${layoutFileName}`;
    this.lockFile = `${this.location}/lock`;
    this.lockTimeoutSeconds = lockTimeoutSeconds;
    this.notice = notice;
    this.host = host;
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
    const lock = await acquireLock(this.lockFile, this.lockTimeoutSeconds);
    try {
      const current = await this.readNow();
      if (current !== null) assertNoSharedCpus(current, this.stateFile);
      // A state rebuilt from layout.json is written back at once, whatever the change does, so
      // that the next command reads it instead of rebuilding it again.
      if (current !== null && this.recovered) this.write(current, "tasks");
      const transition = change(current);
      if (transition.state !== undefined && transition.state !== current) this.write(transition.state, transition.durability ?? "layout");
      return transition.result;
    } finally {
      lock.release();
    }
  }

  async setAsideUnreadable(): Promise<string | null> {
    if (!this.directoryExists()) return null;
    const lock = await acquireLock(this.lockFile, this.lockTimeoutSeconds);
    try {
      try {
        // Lists that share a CPU are as unusable as a document that does not parse.
        const current = await this.readNow();
        if (current !== null) assertNoSharedCpus(current, this.stateFile);
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

  private async readNow(): Promise<NodeState | null> {
    const text = readText(this.stateFile);
    this.recovered = false;
    if (text !== null) {
      if (this.lastWritten?.text === text) return this.lastWritten.state;
      this.recovered = lostToPowerFailure(text);
      const stored = this.recovered
        ? await recoverLostState(this.location, this.stateFile, this.lockFile, this.host, this.notice)
        : decodeStoredState(text, this.stateFile);
      this.recordedBootId = stored.bootId;
      return stored.state;
    }
    this.recordedBootId = null;
    for (const legacy of legacyStates) {
      const state = legacy.read(this.location, this.notice);
      if (state !== null) return state;
    }
    return null;
  }

  private write(state: NodeState, durability: "layout" | "tasks"): void {
    this.refuseLinks();
    this.removeLeftovers();
    this.currentBootId ??= this.host.bootId();
    const bootId = this.currentBootId;
    // layout.json goes first, so it is never older than a layout state.json holds. The first
    // state.json (init, or a migration) also leaves one, and so does the first write of a boot:
    // layout.json then tells the last boot in which state.json was written, should it be lost.
    if (durability === "layout" || this.recordedBootId !== bootId || !existsSync(this.layoutFile)) {
      this.replace(this.layoutFile, encodeStoredState(layoutOf(state), bootId), true);
      durability = "layout";
    }
    const text = encodeStoredState(state, bootId);
    this.replace(this.stateFile, text, durability === "layout");
    this.lastWritten = { text, state };
    this.recordedBootId = bootId;
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

  /**
   * A state file that is a symbolic link would be replaced by the rename that writes it, leaving
   * its target behind with the old state: refused before anything is written.
   */
  private refuseLinks(): void {
    for (const path of [this.stateFile, this.layoutFile]) {
      let target: string;
      try {
        if (!lstatSync(path).isSymbolicLink()) continue;
        target = readlinkSync(path);
      } catch {
        continue; // Missing: nothing to replace.
      }
      throw new CmkError(
        "failure",
        `${path} is a symbolic link to ${target}, which cmk's atomic writes would replace with a file; make the state directory itself the link (--conf-dir may be one) or replace the link by the file it points to; nothing was changed`,
        { location: this.location },
      );
    }
  }

  /** Temporary files of writers that died mid-write; safe to remove while we hold the lock. */
  private removeLeftovers(): void {
    for (const name of readdirSync(this.location)) {
      if (name.startsWith(`${stateFileName}.tmp-`) || name.startsWith(`${layoutFileName}.tmp-`)) rmSync(`${this.location}/${name}`, { force: true });
    }
  }
}
