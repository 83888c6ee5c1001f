// The node state in a host directory (--conf-dir): one file, state.yaml, replaced atomically and
// durably under flock(<conf-dir>/lock). Reads a CMK 1.4 directory tree and migrates it on first write.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";
import { CmkError, describeCause } from "../core/errors.ts";
import { readPoolDocument, type NodeState } from "../core/node-state.ts";
import { decodeStateFile, encodeStateFile } from "../core/state-codec.ts";
import type { StateStore, Transition } from "../core/state-store.ts";
import type { YamlKey, YamlValue } from "../core/yaml.ts";
import { acquireLock } from "./flock.ts";

const stateFileName = "state.yaml";
const legacyTree = "pools";

export class FileStateStore implements StateStore {
  readonly location: string;
  private readonly lockTimeoutSeconds: number;
  /** The text this store last wrote and its state: isolate reads its own writes back twice. */
  private lastWritten: { readonly text: string; readonly state: NodeState } | undefined;

  constructor(confDir: string, lockTimeoutSeconds: number) {
    this.location = resolve(confDir);
    this.lockTimeoutSeconds = lockTimeoutSeconds;
  }

  get stateFile(): string {
    return join(this.location, stateFileName);
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
    const lock = acquireLock(join(this.location, "lock"), this.lockTimeoutSeconds);
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
    let text: string;
    try {
      text = readFileSync(this.stateFile, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
        throw new CmkError("failure", `cannot read ${this.stateFile}: ${describeCause(error)}`, { cause: error });
      }
      return existsSync(join(this.location, legacyTree)) ? this.readLegacyTree() : null;
    }
    if (this.lastWritten?.text === text) return this.lastWritten.state;
    return decodeStateFile(text, this.stateFile);
  }

  private write(state: NodeState, durability: "layout" | "tasks"): void {
    const temporary = `${this.stateFile}.tmp-${process.pid}`;
    const text = encodeStateFile(state);
    this.removeLeftovers();
    try {
      const fd = openSync(temporary, "w", 0o644);
      try {
        writeSync(fd, text);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temporary, this.stateFile);
      if (durability === "layout") {
        const directory = openSync(this.location, "r");
        try {
          fsyncSync(directory);
        } finally {
          closeSync(directory);
        }
      }
    } catch (error) {
      rmSync(temporary, { force: true });
      throw new CmkError("failure", `cannot write ${this.stateFile}: ${describeCause(error)}; the previous state is unchanged`, { cause: error });
    }
    this.lastWritten = { text, state };
    this.retireLegacyTree();
  }

  /** Temporary files of writers that died mid-write; safe to remove while we hold the lock. */
  private removeLeftovers(): void {
    for (const name of readdirSync(this.location)) {
      if (name.startsWith(`${stateFileName}.tmp-`)) rmSync(join(this.location, name), { force: true });
    }
  }

  /** CMK 1.4 layout: pools/<pool>/<socket>/<cpu-list>/tasks holding comma-separated PIDs. */
  private readLegacyTree(): NodeState {
    const root = join(this.location, legacyTree);
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

  /** After the first write in the new format, the 1.4 tree is kept as a backup, out of the way. */
  private retireLegacyTree(): void {
    const tree = join(this.location, legacyTree);
    if (!existsSync(tree)) return;
    let backup = `${tree}.cmk-1.4-backup`;
    for (let attempt = 1; existsSync(backup); attempt++) backup = `${tree}.cmk-1.4-backup.${attempt}`;
    renameSync(tree, backup);
  }
}
