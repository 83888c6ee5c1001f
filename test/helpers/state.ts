// Node states written as literals, and the assertions the state tests share.
import assert from "node:assert/strict";
import { CpuSet } from "../../src/core/cpuset.ts";
import { CmkError } from "../../src/core/errors.ts";
import type { NodeState, PoolState, TaskRecord } from "../../src/core/node-state.ts";
import type { PoolName } from "../../src/core/pools.ts";

export type PoolSpec = Partial<Record<PoolName, Record<number, Record<string, string[]>>>>;

/** Builds a state from pool -> socket -> CPU-list key -> task ids, plus task records. */
export function state(pools: PoolSpec, tasks: Record<string, TaskRecord> = {}): NodeState {
  const map = new Map<PoolName, PoolState>();
  for (const [name, sockets] of Object.entries(pools) as [PoolName, Record<number, Record<string, string[]>>][]) {
    map.set(name, {
      name,
      sockets: new Map(
        Object.entries(sockets).map(([socket, lists]) => [
          Number(socket),
          Object.entries(lists).map(([key, held]) => ({ key, cpus: CpuSet.parse(key), tasks: held })),
        ]),
      ),
    });
  }
  return { pools: map, tasks: new Map(Object.entries(tasks)) };
}

/** The state's pools as pool -> socket -> key -> tasks, in state order. */
export function view(current: NodeState): PoolSpec {
  const out: PoolSpec = {};
  for (const [name, pool] of current.pools) {
    const sockets: Record<number, Record<string, string[]>> = {};
    for (const [socket, lists] of pool.sockets) sockets[socket] = Object.fromEntries(lists.map((list) => [list.key, [...list.tasks]]));
    out[name] = sockets;
  }
  return out;
}

/** A task record for `pid`, started at 1000 + pid, pinned unless `extra` says otherwise. */
export const rec = (pid: number, extra: Partial<TaskRecord> = {}): TaskRecord => ({ isolate: { pid, start: 1000 + pid }, affinity: true, ...extra });

/** Asserts that `run` throws a CmkError of `kind` whose message mentions every fragment. */
export function throwsMentioning(run: () => unknown, kind: string, ...fragments: string[]): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof CmkError, `expected a CmkError, got ${String(error)}`);
    assert.equal(error.kind, kind, error.message);
    for (const fragment of fragments)
      assert.ok(error.message.includes(fragment), `message ${JSON.stringify(error.message)} should mention ${JSON.stringify(fragment)}`);
    return true;
  });
}
