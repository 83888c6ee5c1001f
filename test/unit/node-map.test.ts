// renderNodeMap: every line fits the width it is given, whatever the node and width, unless one
// item alone is wider; each core carries its core id; failed checks mark their CPUs.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { carvePools } from "../../src/core/carve.ts";
import { runChecks } from "../../src/core/checks.ts";
import { CpuSet } from "../../src/core/cpuset.ts";
import { renderNodeMap } from "../../src/core/node-map.ts";
import { mapTasks, type NodeState, stateFromLayout } from "../../src/core/node-state.ts";
import { buildTopology, type CpuRecord, type Topology } from "../../src/core/topology.ts";

/** Sockets of two-thread cores, CPU = thread * cores + core, kernel core ids restarting per socket. */
function topology(sockets: number, coresPerSocket: number, isolcpus = ""): Topology {
  const cores = sockets * coresPerSocket;
  const records: CpuRecord[] = [];
  for (let core = 0; core < cores; core++) {
    for (let thread = 0; thread < 2; thread++) {
      const socket = Math.floor(core / coresPerSocket);
      records.push({ id: thread * cores + core, socket, die: 0, core: core % coresPerSocket, numaNode: socket, l3: socket });
    }
  }
  return buildTopology(records, CpuSet.parse(isolcpus));
}

function carved(node: Topology): NodeState {
  const request = {
    numExclusiveCores: 2,
    numSharedCores: 1,
    exclusiveMode: "packed",
    sharedMode: "packed",
    exclNonIsolcpus: null,
    sstBf: false,
    sstCp: false,
    socketId: null,
  } as const;
  return stateFromLayout(carvePools(node, request).layout);
}

const noActual = (): null => null;

describe("renderNodeMap", () => {
  it("fits every width from 20 to 160 columns, on a small node and a 4-socket one", () => {
    for (const node of [topology(1, 4), topology(4, 32, "4-15,132-143")]) {
      const state = carved(node);
      const checks = runChecks({ state, stateError: null, location: "/etc/cmk", isolcpus: node.isolcpus, actualOf: noActual });
      for (let width = 20; width <= 160; width += 7) {
        const lines = renderNodeMap({ topology: node, state, checks, notes: ['isolcpus item "x" is not a CPU list; it is ignored'] }, { colour: true, width });
        // Colour codes take no columns; the widest unbreakable piece is a pool-totals name column (25) with one figure (11).
        const visible = lines.map((line) => line.replace(/\x1b\[[0-9;]*m/g, ""));
        const limit = Math.max(width, 36);
        assert.deepEqual(
          visible.filter((line) => line.length > limit),
          [],
          `width ${width}, ${node.cores.length} cores`,
        );
      }
    }
  });

  it("labels cores with node-wide core ids and marks the CPUs of failed checks", () => {
    const node = topology(2, 2);
    // Core 3 is socket 1's second core (CPUs 3 and 7); a task on exclusive 0,4 runs on CPU 3.
    const held = mapTasks(carved(node), (pool, list) => (pool === "exclusive" && list.key === "0,4" ? ["42"] : list.tasks));
    const checks = runChecks({
      state: held,
      stateError: null,
      location: "/etc/cmk",
      isolcpus: CpuSet.empty,
      actualOf: (task) => (task === "42" ? CpuSet.of([3]) : null),
    });
    const text = renderNodeMap({ topology: node, state: held, checks, notes: [] }, { colour: false, width: 80 }).join("\n");
    assert.match(text, /^ {2}numa 0 {2}c0\[0E! 4E!\] c1\[1E {2}5E \]$/m);
    assert.match(text, /^ {2}numa 1 {2}c2\[2S {2}6S \] c3\[3I! 7I \]$/m);
    assert.match(text, /^checks: affinity FAILED, configDirectory ok, isolation warning$/m);
  });
});
