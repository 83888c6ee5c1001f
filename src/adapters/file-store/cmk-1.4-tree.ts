// CMK 1.4 kept the node state as a directory tree in the conf dir,
// pools/<pool>/<socket>/<cpu-list>/tasks, each tasks file holding comma-separated PIDs (and
// pools/<pool>/exclusive a 0 or 1 that the pool's name says already). It is read as is, as the
// pool document it spells out, and kept as a backup once state.json replaces it. CMK recorded no
// task identities, so its tasks have none. Like CMK, the reader takes only directories as pools,
// sockets and CPU lists: any other file there (CMK's own test trees have a stray
// pools/exclusive/0/tasks) is skipped, with a warning naming it, and never becomes state.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { CmkError, describeCause } from "../../core/errors.ts";
import type { NodeState } from "../../core/node-state.ts";
import { readPoolDocument } from "../../formats/state-document.ts";
import type { YamlKey, YamlMap } from "../../formats/yaml.ts";
import type { LegacyState } from "./legacy-state.ts";

const name = "pools";

export const cmk14TreeState: LegacyState = {
  name,
  backup: "pools.cmk-1.4-backup",
  read(location, notice) {
    const root = join(location, name);
    if (!existsSync(root)) return null;
    let document: YamlMap;
    try {
      document = treeDocument(root, (path) => notice(`skipping ${path} in the CMK 1.4 tree: not a directory, so CMK never read it as state`));
    } catch (error) {
      throw new CmkError("invalid-state", `cannot read the CMK 1.4 configuration tree ${root}: ${describeCause(error)}`, { cause: error });
    }
    return { pools: readPoolDocument(document, root), tasks: new Map() } satisfies NodeState;
  },
};

/** pool -> socket -> CPU list -> tasks, as the tree spells it (sockets numeric where they are numbers). */
function treeDocument(root: string, skipped: (path: string) => void): YamlMap {
  const document: YamlMap = new Map();
  for (const pool of subdirectories(root, skipped)) {
    const sockets: YamlMap = new Map();
    // A pool's `exclusive` file is CMK's own: expected, so not reported.
    const besidesExclusive = (path: string): void => {
      if (!path.endsWith("/exclusive")) skipped(path);
    };
    for (const socket of subdirectories(join(root, pool), besidesExclusive)) {
      sockets.set(socketKey(socket), cpuLists(join(root, pool, socket), skipped));
    }
    document.set(pool, sockets);
  }
  return document;
}

function cpuLists(socketDir: string, skipped: (path: string) => void): YamlMap {
  const lists: YamlMap = new Map();
  for (const list of subdirectories(socketDir, skipped)) {
    const tasksFile = join(socketDir, list, "tasks");
    const text = existsSync(tasksFile) ? readFileSync(tasksFile, "utf8").trim() : "";
    lists.set(list, text === "" ? [] : text.split(",").map((task) => task.trim()));
  }
  return lists;
}

/** The directories in `dir`, sorted; `skipped` hears of every other entry. */
function subdirectories(dir: string, skipped: (path: string) => void): string[] {
  return readdirSync(dir)
    .sort()
    .filter((entry) => {
      const directory = statSync(join(dir, entry)).isDirectory();
      if (!directory) skipped(join(dir, entry));
      return directory;
    });
}

function socketKey(name: string): YamlKey {
  return /^\d+$/.test(name) ? Number(name) : name;
}
