// The node state in a host directory (--conf-dir): state.json, replaced atomically under
// flock(<conf-dir>/lock). Only layout changes (init, reconfigure) are made durable with fsync, and
// they also go to layout.json. Task bookkeeping, written by every isolate, skips fsync: every task
// dies with the machine, and should a power failure leave state.json empty or zero-filled (as
// delayed allocation can), the pools come back from layout.json. Reads what earlier versions left
// (cmk 2.0.0-alpha.1's state.yaml, CMK 1.4's directory tree) and migrates it on the first write,
// keeping a backup.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";
import { CmkError, describeCause } from "../core/errors.ts";
import { mapTasks, type NodeState } from "../core/node-state.ts";
import type { StateStore, Transition } from "../core/state-store.ts";
import { decodeStateFile, decodeYamlStateFile, encodeStateFile, readPoolDocument } from "../formats/state-document.ts";
import type { YamlKey, YamlValue } from "../formats/yaml.ts";
import { acquireLock } from "./flock.ts";

const stateFileName = "state.json";
const layoutFileName = "layout.json";
/** What earlier versions kept, newest first, and where each goes once migrated. */
const legacyYamlFile = { name: "state.yaml", backup: "state.yaml.cmk-2.0.0-alpha.1-backup" };
const legacyTree = { name: "pools", backup: "pools.cmk-1.4-backup" };

export class FileStateStore implements StateStore {
  readonly location: string;
  readonly stateFile: string;
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
    if (!existsSync(this.location)) {
      // No directory, no state: a change that fails or writes nothing must leave no trace.
      const transition = change(null);
      if (transition.state === undefined) return transition.result;
      try {
        mkdirSync(this.location, { recursive: true, mode: 0o755 });
      } catch (error) {
        throw new CmkError("failure", `cannot create the state directory ${this.location}: ${describeCause(error)}; choose another --conf-dir or fix its permissions`, { cause: error });
      }
    }
    const lock = acquireLock(`${this.location}/lock`, this.lockTimeoutSeconds);
    try {
      const current = this.readNow();
      const transition = change(current);
      if (transition.state !== undefined && transition.state !== current) this.write(transition.state, transition.durability ?? "layout");
      return transition.result;
    } finally {
      lock.release();
    }
  }

  private readNow(): NodeState | null {
    const text = this.readText(this.stateFile);
    if (text !== null) {
      if (this.lastWritten?.text === text) return this.lastWritten.state;
      return text === "" || text.includes("\0") ? this.restoreLayout() : decodeStateFile(text, this.stateFile);
    }
    const yamlFile = `${this.location}/${legacyYamlFile.name}`;
    const yamlText = this.readText(yamlFile);
    if (yamlText !== null) return decodeYamlStateFile(yamlText, yamlFile);
    return existsSync(`${this.location}/${legacyTree.name}`) ? this.readLegacyTree() : null;
  }

  /** A file's text, or null when it does not exist. */
  private readText(path: string): string | null {
    try {
      return readFileSync(path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw new CmkError("failure", `cannot read ${path}: ${describeCause(error)}`, { cause: error });
    }
  }

  /** state.json lost its contents in a power failure (JSON never holds NUL); its tasks died then too. */
  private restoreLayout(): NodeState {
    const text = this.readText(this.layoutFile);
    if (text === null) {
      throw new CmkError("invalid-state", `${this.stateFile} is empty or zero-filled and there is no ${layoutFileName} to restore the pools from; run cmk init --conf-dir=${this.location}`);
    }
    const layout = decodeStateFile(text, this.layoutFile);
    this.notice(`${this.stateFile} was empty or zero-filled (a power failure before it reached the disk); restored the pools from ${this.layoutFile}; the tasks it recorded ended with the machine`);
    return layout;
  }

  private write(state: NodeState, durability: "layout" | "tasks"): void {
    this.removeLeftovers();
    // layout.json goes first, so it is never older than a layout state.json holds. The first
    // state.json (init, or a migration) also leaves one.
    if (durability === "layout" || !existsSync(this.layoutFile)) {
      this.replace(layoutFileName, encodeStateFile({ pools: mapTasks(state, () => []).pools, tasks: new Map() }), true);
      durability = "layout";
    }
    const text = encodeStateFile(state);
    this.replace(stateFileName, text, durability === "layout");
    this.lastWritten = { text, state };
    this.retireLegacy(legacyYamlFile);
    this.retireLegacy(legacyTree);
  }

  /** Replaces a file atomically (temporary file, then rename); `durable` waits until it is on disk. */
  private replace(name: string, text: string, durable: boolean): void {
    const path = `${this.location}/${name}`;
    const temporary = `${path}.tmp-${process.pid}`;
    try {
      const fd = openSync(temporary, "w", 0o644);
      try {
        writeSync(fd, text);
        if (durable) fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temporary, path);
      if (durable) {
        const directory = openSync(this.location, "r");
        try {
          fsyncSync(directory);
        } finally {
          closeSync(directory);
        }
      }
    } catch (error) {
      rmSync(temporary, { force: true });
      throw new CmkError("failure", `cannot write ${path}: ${describeCause(error)}; the previous state is unchanged`, { cause: error });
    }
  }

  /** Temporary files of writers that died mid-write; safe to remove while we hold the lock. */
  private removeLeftovers(): void {
    for (const name of readdirSync(this.location)) {
      if (name.startsWith(`${stateFileName}.tmp-`) || name.startsWith(`${layoutFileName}.tmp-`)) rmSync(join(this.location, name), { force: true });
    }
  }

  /** CMK 1.4 layout: pools/<pool>/<socket>/<cpu-list>/tasks holding comma-separated PIDs. */
  private readLegacyTree(): NodeState {
    const root = join(this.location, legacyTree.name);
    const document = new Map<YamlKey, YamlValue>();
    try {
      for (const pool of readdirSync(root).sort()) {
        if (!statSync(join(root, pool)).isDirectory()) continue;
        const sockets = new Map<YamlKey, YamlValue>();
        for (const socket of readdirSync(join(root, pool)).sort()) {
          const socketDir = join(root, pool, socket);
          if (socket === "exclusive" || !statSync(socketDir).isDirectory()) continue;
          const lists = new Map<YamlKey, YamlValue>();
          for (const list of readdirSync(socketDir).sort()) {
            const tasksFile = join(socketDir, list, "tasks");
            const text = existsSync(tasksFile) ? readFileSync(tasksFile, "utf8").trim() : "";
            lists.set(list, text === "" ? [] : text.split(",").map((task) => task.trim()));
          }
          sockets.set(/^\d+$/.test(socket) ? Number(socket) : socket, lists);
        }
        document.set(pool, sockets);
      }
    } catch (error) {
      throw new CmkError("invalid-state", `cannot read the CMK 1.4 configuration tree ${root}: ${describeCause(error)}`, { cause: error });
    }
    return { pools: readPoolDocument(document, root), tasks: new Map() };
  }

  /** After the first write in the current format, an earlier version's state is kept as a backup, out of the way. */
  private retireLegacy(legacy: { readonly name: string; readonly backup: string }): void {
    const path = `${this.location}/${legacy.name}`;
    if (!existsSync(path)) return;
    let backup = join(this.location, legacy.backup);
    for (let attempt = 1; existsSync(backup); attempt++) backup = join(this.location, `${legacy.backup}.${attempt}`);
    renameSync(path, backup);
  }
}
