// Planning a re-carve with running tasks (pure): who stays, who moves, and when it is refused.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { TaskLiveness } from "../../src/core/allocate.ts";
import { CpuSet } from "../../src/core/cpuset.ts";
import { CmkError } from "../../src/core/errors.ts";
import { cpuListsOf, mapTasks, type NodeState, stateFromLayout } from "../../src/core/node-state.ts";
import type { CpuList, PoolName } from "../../src/core/pools.ts";
import { planReconfigure } from "../../src/core/reconfigure.ts";

type Shape = Partial<Record<PoolName, Record<number, Record<string, string[]>>>>;

function state(shape: Shape): NodeState {
  const layout = new Map<PoolName, Map<number, CpuList[]>>();
  for (const [pool, sockets] of Object.entries(shape) as [PoolName, Record<number, Record<string, string[]>>][]) {
    layout.set(
      pool,
      new Map(Object.entries(sockets).map(([socket, lists]) => [Number(socket), Object.keys(lists).map((key) => ({ key, cpus: CpuSet.parse(key) }))])),
    );
  }
  return mapTasks(stateFromLayout(layout), (pool, list, socket) => shape[pool]?.[socket]?.[list.key] ?? []);
}

function view(result: NodeState): Shape {
  const out: Shape = {};
  for (const pool of result.pools.values()) {
    const sockets: Record<number, Record<string, string[]>> = {};
    for (const list of cpuListsOf(pool)) sockets[list.socket] = { ...sockets[list.socket], [list.key]: [...list.tasks] };
    out[pool.name] = sockets;
  }
  return out;
}

const allAlive: TaskLiveness = () => true;

describe("planReconfigure", () => {
  it("keeps an exclusive task whose list survives and moves shared tasks to their socket's new, wider list", () => {
    // Four exclusive cores and one shared core become two and two; the task on 4,12 keeps it.
    const current = state({
      exclusive: { 0: { "3,11": [], "4,12": ["3001"], "5,13": [], "6,14": [] } },
      shared: { 0: { "7,15": ["2000", "2001"] } },
      infra: { 0: { "0,8,1,9,2,10": [] } },
    });
    const carved = state({ exclusive: { 0: { "3,11": [], "4,12": [] } }, shared: { 0: { "6,14,7,15": [] } }, infra: { 0: { "0,8,1,9,2,10": [] } } });
    const plan = planReconfigure(current, carved, allAlive);
    assert.deepEqual(view(plan.state), {
      exclusive: { 0: { "3,11": [], "4,12": ["3001"] } },
      shared: { 0: { "6,14,7,15": ["2000", "2001"] } },
      infra: { 0: { "0,8,1,9,2,10": [] } },
    });
    assert.deepEqual(
      plan.moves.map((move) => [move.taskId, move.from.toString(), move.to.toString()]),
      [
        ["2000", "7,15", "6-7,14-15"],
        ["2001", "7,15", "6-7,14-15"],
      ],
    );
  });

  it("moves an exclusive task whose list is gone to a free list on the same socket first", () => {
    const current = state({ exclusive: { 0: { "1,9": ["10"] }, 1: { "5,13": ["11"] } }, infra: { 0: { "0,8": [] }, 1: { "4,12": [] } } });
    const carved = state({ exclusive: { 0: { "2,10": [] }, 1: { "6,14": [], "7,15": [] } }, infra: { 0: { "0,8": [] }, 1: { "4,12": [] } } });
    const plan = planReconfigure(current, carved, allAlive);
    assert.deepEqual(view(plan.state).exclusive, { 0: { "2,10": ["10"] }, 1: { "6,14": ["11"], "7,15": [] } });
  });

  it("refuses, naming the holders, when running exclusive tasks outnumber the new lists", () => {
    const current = state({ exclusive: { 0: { "1,9": ["10"], "2,10": ["11"] } }, infra: { 0: { "0,8": [] } } });
    const carved = state({ exclusive: { 0: { "1,9": [] } }, infra: { 0: { "0,8,2,10": [] } } });
    assert.throws(
      () => planReconfigure(current, carved, allAlive),
      (error: unknown) =>
        error instanceof CmkError && error.kind === "conflict" && /has 1 exclusive CPU lists but running tasks \(10, 11\) hold 2/.test(error.message),
    );
  });

  it("refuses when a pool with running tasks disappears", () => {
    const current = state({ exclusive: { 0: {} }, shared: { 0: { "3,11": ["12"] } }, infra: { 0: { "0,8": [] } } });
    const carved = state({ exclusive: { 0: {} }, shared: { 0: {} }, infra: { 0: { "0,8,3,11": [] } } });
    assert.throws(() => planReconfigure(current, carved, allAlive), /no shared CPU lists but running tasks \(12\) use that pool/);
  });

  it("drops dead tasks before planning, so they never block a re-carve", () => {
    const current = state({ exclusive: { 0: { "1,9": ["10"], "2,10": ["11"] } }, infra: { 0: { "0,8": [] } } });
    const carved = state({ exclusive: { 0: { "1,9": [] } }, infra: { 0: { "0,8,2,10": [] } } });
    const plan = planReconfigure(current, carved, (task) => task === "10");
    assert.deepEqual(view(plan.state).exclusive, { 0: { "1,9": ["10"] } });
    assert.deepEqual(
      plan.reclaimed.map((entry) => entry.pid),
      [11],
    );
    assert.deepEqual(plan.moves, []);
  });
});
