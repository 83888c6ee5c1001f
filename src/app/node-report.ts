// The node report of cmk node-report (and of cmk agent --publish): this machine's topology as read
// now, the state's description, and the consistency checks, in CMK's JSON shape.
import { taskAffinityReader } from "../adapters/affinity.ts";
import { readHostTopology } from "../adapters/host-topology.ts";
import { userProcesses } from "../adapters/procfs.ts";
import { checkNames, type NodeChecks, runChecks } from "../core/checks.ts";
import { describeState, type Json } from "../core/describe.ts";
import { describeCause } from "../core/errors.ts";
import type { NodeState } from "../core/node-state.ts";
import type { StateStore } from "../core/state-store.ts";
import { sstBfCpus, type Topology } from "../core/topology.ts";
import type { Settings } from "./settings.ts";

export interface NodeReport {
  readonly topology: Topology;
  /** What reading the topology warned of. */
  readonly warnings: readonly string[];
  readonly state: NodeState | null;
  /** The state exists but cannot be read (a finding of the report, not a failure). */
  readonly unreadable: boolean;
  readonly checks: NodeChecks;
  /** The report as CMK's JSON: checks, description, topology. */
  readonly report: () => Json;
}

/** Reads the machine and the state, and checks them. */
export async function nodeReport(store: StateStore, settings: Settings): Promise<NodeReport> {
  const { topology, warnings } = readHostTopology(settings.sysRoot, settings.kernelFs, true);
  const { state, stateError, unreadable } = await readState(store);
  const actualOf = state === null ? () => null : taskAffinityReader(settings.procFs, state);
  // The host's cgroups, when this is the host (not a fake system root of the tests).
  const cgroupRoot = `${settings.sysRoot.replace(/\/+$/, "")}/sys/fs/cgroup`;
  const processes = state === null ? undefined : { all: userProcesses(settings.procFs, cgroupRoot), online: topology.online };
  const checks = runChecks({ state, stateError, location: store.location, isolcpus: topology.isolcpus, actualOf, processes });
  const report = (): Json => ({
    checks: checksJson(checks),
    description: state === null ? null : describeState(state, store.location),
    topology: topologyJson(topology),
  });
  return { topology, warnings, state, unreadable, checks, report };
}

function topologyJson(topology: Topology): Json {
  const highPriority = sstBfCpus(topology);
  const sockets: { [key: string]: Json } = {};
  for (const socket of topology.sockets) {
    sockets[String(socket.id)] = {
      id: socket.id,
      cores: socket.cores.map((core) => ({
        id: core.id,
        kernelCoreId: core.kernelCoreId,
        numaNode: core.numaNode,
        l3: core.l3,
        cpus: [...core.cpus].map((cpu) => ({ id: cpu, isolated: topology.isolcpus.has(cpu), ...(highPriority.has(cpu) ? { sst_bf: true } : {}) })),
      })),
    };
  }
  return { sockets };
}

/** CMK's `checks.<name>` with `ok` and `errors`, and `warnings`: ok only when a check found nothing. */
function checksJson(checks: NodeChecks): Json {
  const json: { [name: string]: Json } = {};
  for (const name of checkNames) {
    const { errors, warnings } = checks[name];
    json[name] = { errors: [...errors], ok: errors.length === 0 && warnings.length === 0, warnings: [...warnings] };
  }
  return json;
}

/** The state, or why it cannot be shown (`unreadable` when it exists but cannot be read): the report goes on without it. */
async function readState(store: StateStore): Promise<{ state: NodeState | null; stateError: string | null; unreadable: boolean }> {
  try {
    const state = await store.read();
    return { state, stateError: state === null ? "no state yet (run cmk init)" : null, unreadable: false };
  } catch (error) {
    return { state: null, stateError: describeCause(error), unreadable: true };
  }
}
