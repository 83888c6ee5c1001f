// The consistency checks node-report runs: overlapping CPU lists, CPUs outside isolcpus, tasks off their CPUs.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { findForeignPinned, findMaskMismatches, findOverlaps, findUnisolated } from "../../src/core/checks.ts";
import { CpuSet } from "../../src/core/cpuset.ts";
import { rec, state } from "../helpers/state.ts";

describe("consistency checks", () => {
  it("findOverlaps reports the shared CPUs within and between pools", () => {
    const current = state({ exclusive: { 0: { "1,2": [], "2,3": [], "4,12": [] } }, infra: { 0: { "0-4": [] } }, shared: { 0: { "5,13": [] } } });
    const found = findOverlaps(current)
      .map((overlap) => `${[overlap.a, overlap.b].sort().join(" & ")} = ${overlap.cpus}`)
      .sort();
    assert.deepEqual(found, [
      "exclusive:1,2 & exclusive:2,3 = 2",
      "exclusive:1,2 & infra:0-4 = 1-2",
      "exclusive:2,3 & infra:0-4 = 2-3",
      "exclusive:4,12 & infra:0-4 = 4",
    ]);
    assert.deepEqual(findOverlaps(state({ exclusive: { 0: { "1,9": [] }, 1: { "2,10": [] } }, infra: { 0: { "0,8": [] } } })), []);
  });

  it("findUnisolated reports exclusive and shared CPUs outside isolcpus, not infra", () => {
    const current = state({ exclusive: { 0: { "1,9": [], "3,11": [] } }, shared: { 0: { "2,10": [] } }, infra: { 0: { "0,8": [] } } });
    assert.deepEqual(
      findUnisolated(current, CpuSet.parse("1-2,9")).map((entry) => ({ pool: entry.pool, list: entry.list, cpus: entry.cpus.toString() })),
      [
        { pool: "exclusive", list: "3,11", cpus: "3,11" },
        { pool: "shared", list: "2,10", cpus: "10" },
      ],
    );
    assert.deepEqual(findUnisolated(current, CpuSet.empty), []);
  });

  it("findMaskMismatches reports pinned tasks running elsewhere, skipping --no-affinity tasks and dead ones", () => {
    const current = state(
      { exclusive: { 0: { "4,12": ["30"], "5,13": ["30"], "6,14": ["20"] } }, shared: { 0: { "3,11": ["10", "40"] } } },
      { "30": rec(30), "20": rec(20, { affinity: false }), "10": rec(10), "40": rec(40) },
    );
    const actual: Record<string, string> = { "30": "4-5,12", "20": "0-15", "10": "3,11" };
    const mismatches = findMaskMismatches(current, (taskId) => (actual[taskId] === undefined ? null : CpuSet.parse(actual[taskId])));
    assert.deepEqual(mismatches, [{ pid: 30, pool: "exclusive", cpus: "4,12,5,13", actualCpus: "4-5,12" }]);
    const allWrong = findMaskMismatches(current, () => CpuSet.of([0]));
    assert.deepEqual(
      allWrong.map((entry) => entry.pid),
      [10, 30, 40],
    );
  });

  it("findForeignPinned finds what another CPU manager confined to cmk's exclusive CPUs, and never cmk's own tasks, their descendants or unconfined processes", () => {
    const current = state(
      { exclusive: { 0: { "2,6": ["100"], "3,7": [] } }, shared: { 0: { "1,5": [] } }, infra: { 0: { "0,4": [] } } },
      { "100": rec(100, { child: { pid: 101, start: 2000 } }) },
    );
    const online = CpuSet.parse("0-7");
    const process = (pid: number, ppid: number, cpus: string | null) => ({ pid, ppid, name: `p${pid}`, cpus: cpus === null ? null : CpuSet.parse(cpus) });
    const found = findForeignPinned(
      current,
      [
        process(1, 0, "0-7"),
        process(100, 1, "0-7"), // cmk isolate (its cgroup is the pod's, on every CPU)
        process(101, 100, "2,6"), // its command, in a cgroup of its own
        process(102, 101, "2,6"), // a descendant
        process(200, 1, "3,7"), // a Guaranteed pod the kubelet gave an exclusive core
        process(201, 1, "1,3,5,7"), // shared and exclusive CPUs
        process(202, 1, "0,3"), // an infra CPU with it: not confined to cmk's CPUs
        process(203, 1, "1,5"), // shared CPUs only: no exclusive one taken
        process(204, 1, null), // no cpuset to read
      ],
      online,
    );
    assert.deepEqual(
      found.map(({ process, exclusive }) => `${process.pid}:${exclusive}`),
      ["200:3,7", "201:3,7"],
    );
  });
});
