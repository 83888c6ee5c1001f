// Why: a test that fails between spawning a long-running process (a reconcile loop, an agent, a
// held workload) and stopping it would leave that process running, and the test file's process
// would wait on it for ever: one such failure once held CI until its limit. Loaded into every
// test file (scripts/test passes it with --import, and the process helpers import it), this kills
// whatever the test file's process still has below it when that process exits; with
// --test-force-exit, it exits as soon as its tests are done.
import { readdirSync, readFileSync } from "node:fs";

/** The parent of every process this user can see, read from procfs. */
function parents(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // exited while we looked
    }
    // Fields after the command name, which may itself hold spaces and parentheses: state, ppid.
    const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
  }
  return children;
}

/** Every process below `root`, nearest first. */
export function descendantsOf(root: number): number[] {
  const children = parents();
  const found: number[] = [];
  const queue = [root];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    for (const child of children.get(next) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

function killDescendants(): void {
  for (const pid of descendantsOf(process.pid)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

const installed = Symbol.for("cmk.test.reapDescendants");
const registry = globalThis as { [installed]?: boolean };
if (registry[installed] !== true) {
  registry[installed] = true;
  process.on("exit", killDescendants);
}
