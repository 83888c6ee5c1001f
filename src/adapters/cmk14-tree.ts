// Writes the node state as CMK 1.4's configuration directory, the way back for a rollback: once
// cmk has written its state, the CMK 1.4 tree it migrated from is kept only as a backup, and CMK
// 1.4 cannot read state.json. The tree is built under a temporary name beside the target and
// renamed into place, so the target name never holds half a tree, and a target that already has
// content is never touched.
//   <target>/lock                                   empty; CMK 1.4 flocks it
//   <target>/pools/<pool>/exclusive                 "1" for exclusive pools, "0" for shared ones
//   <target>/pools/<pool>/<socket>/<cpu-list>/tasks  task PIDs joined by commas, no newline
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { CmkError, describeCause, usageError } from "../core/errors.ts";
import { cpuListsOf, type NodeState } from "../core/node-state.ts";
import { isExclusivePool } from "../core/pools.ts";

/** What the export wrote, for the command's report. */
export interface Cmk14Export {
  readonly target: string;
  readonly cpuLists: number;
  readonly tasks: number;
}

/**
 * Writes `state` as a CMK 1.4 configuration directory at `target`, which must not exist yet or be
 * an empty directory, and must lie outside `confDir` (the state's own directory).
 */
export function writeCmk14Tree(state: NodeState, target: string, confDir: string): Cmk14Export {
  const destination = resolve(target);
  checkTarget(destination, resolve(confDir));
  const temporary = join(dirname(destination), `.${basename(destination)}.cmk-export-${process.pid}`);
  try {
    mkdirSync(temporary, { mode: 0o755 });
  } catch (error) {
    throw new CmkError("failure", `cannot create ${temporary}: ${describeCause(error)}; choose a --to in a writable directory`, { cause: error });
  }
  try {
    const written = writeTree(state, temporary);
    renameSync(temporary, destination);
    syncDirectory(dirname(destination));
    return { target: destination, ...written };
  } catch (error) {
    rmSync(temporary, { recursive: true, force: true });
    if (error instanceof CmkError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOTEMPTY" || code === "EEXIST") throw notEmpty(destination);
    throw new CmkError("failure", `cannot write the CMK 1.4 tree at ${destination}: ${describeCause(error)}; nothing was left under that name`, {
      cause: error,
    });
  }
}

/** Refuses a target that exists with content, is not a directory, has no parent, or lies in the conf dir. */
function checkTarget(destination: string, confDir: string): void {
  const inside = relative(confDir, destination);
  const outside = inside === ".." || inside.startsWith("../") || inside.startsWith("/");
  if (!outside) {
    throw usageError(`--to=${destination} is inside --conf-dir=${confDir}; write the CMK 1.4 tree to a directory outside it`);
  }
  try {
    if (!statSync(dirname(destination)).isDirectory())
      throw usageError(`--to=${destination}: ${dirname(destination)} is not a directory; choose a --to whose parent is one`);
  } catch (error) {
    if (error instanceof CmkError) throw error;
    throw usageError(`--to=${destination}: its parent ${dirname(destination)} does not exist; create it first`);
  }
  let entries: string[];
  try {
    entries = readdirSync(destination);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return;
    if (code === "ENOTDIR") throw usageError(`--to=${destination} is a file; choose a new or empty directory`);
    throw new CmkError("failure", `cannot read ${destination}: ${describeCause(error)}`, { cause: error });
  }
  if (entries.length > 0) throw notEmpty(destination);
}

function notEmpty(destination: string): CmkError {
  return usageError(`--to=${destination} is not empty and is left as it is; choose a new or empty directory`);
}

/** The tree under `root` (already created), every file and directory synced. */
function writeTree(state: NodeState, root: string): { cpuLists: number; tasks: number } {
  writeFile(join(root, "lock"), "");
  const pools = makeDirectory(join(root, "pools"));
  let cpuLists = 0;
  const tasks = new Set<string>();
  for (const pool of state.pools.values()) {
    const poolDir = makeDirectory(join(pools, pool.name));
    writeFile(join(poolDir, "exclusive"), isExclusivePool(pool.name) ? "1" : "0");
    // Every socket gets its directory, empty or not, as CMK 1.4's init made them.
    for (const socket of pool.sockets.keys()) makeDirectory(join(poolDir, String(socket)));
    for (const list of cpuListsOf(pool)) {
      const listDir = makeDirectory(join(poolDir, String(list.socket), list.key));
      writeFile(join(listDir, "tasks"), list.tasks.join(","));
      syncDirectory(listDir);
      cpuLists++;
      for (const task of list.tasks) tasks.add(task);
    }
    for (const socket of pool.sockets.keys()) syncDirectory(join(poolDir, String(socket)));
    syncDirectory(poolDir);
  }
  syncDirectory(pools);
  syncDirectory(root);
  return { cpuLists, tasks: tasks.size };
}

function makeDirectory(path: string): string {
  mkdirSync(path, { mode: 0o755 });
  return path;
}

function writeFile(path: string, text: string): void {
  const fd = openSync(path, "wx", 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function syncDirectory(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
