// A separate process that uses the file store, for tests of concurrency and crashes.
// Usage: store-worker.ts <conf-dir> append <first-pid> <count>   (adds fake tasks to the infra list;
//                                                               prints "writing" after the first)
//        store-worker.ts <conf-dir> hold                         (takes the lock, prints "locked", sleeps)
import { FileStateStore } from "../../src/adapters/file-store/store.ts";
import { acquireLock } from "../../src/adapters/flock.ts";
import { mapTasks } from "../../src/core/node-state.ts";

const [confDir, action, first, count] = process.argv.slice(2) as [string, string, string?, string?];
if (action === "hold") {
  await acquireLock(`${confDir}/lock`, 5);
  process.stdout.write("locked\n");
  setInterval(() => {}, 1000);
} else if (action === "append") {
  const store = new FileStateStore(confDir, 60);
  for (let index = 0; index < Number(count); index++) {
    const task = String(Number(first) + index);
    await store.update((current) => {
      if (current === null) throw new Error("no state");
      // Task bookkeeping, as isolate writes it: atomic, without fsync.
      return { state: mapTasks(current, (pool, list) => (pool === "infra" ? [...list.tasks, task] : list.tasks)), result: undefined, durability: "tasks" };
    });
    if (index === 0) process.stdout.write("writing\n");
  }
}
