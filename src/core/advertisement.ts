// What a node tells the scheduler about its CPU pools (cmk discover): the count of exclusive CPU
// lists as an extended resource (and of exclusive-non-isolcpus lists when that pool exists), the
// label that marks cmk nodes, and the taint that keeps pods which did not ask for cmk away. Pure:
// it compares what the Node object has with what it should have and returns only the difference,
// so a second discover sends nothing.
import { cpuListsOf, type NodeState } from "./node-state.ts";

export const exclusiveCoresResource = "cmk.intel.com/exclusive-cores";
export const nonIsolcpusCoresResource = "cmk.intel.com/exclusive-non-isolcpus-cores";
export const cmkNodeLabel = "cmk.intel.com/cmk-node";
export const cmkTaint: Taint = { key: "cmk", value: "true", effect: "NoSchedule" };

export interface Taint {
  readonly key: string;
  readonly value?: string;
  readonly effect: string;
  readonly timeAdded?: string;
}

/** The parts of a Node discover reads. */
export interface NodeView {
  readonly labels: Readonly<Record<string, string>>;
  readonly taints: readonly Taint[];
  readonly capacity: Readonly<Record<string, string>>;
  readonly allocatable: Readonly<Record<string, string>>;
}

/** The extended resources the state advertises: one unit per CPU list of each exclusive pool. */
export function advertisedResources(state: NodeState): Record<string, string> {
  const count = (pool: "exclusive" | "exclusive-non-isolcpus"): number | undefined => {
    const found = state.pools.get(pool);
    return found === undefined ? undefined : [...cpuListsOf(found)].length;
  };
  const resources: Record<string, string> = { [exclusiveCoresResource]: String(count("exclusive") ?? 0) };
  const nonIsolcpus = count("exclusive-non-isolcpus");
  if (nonIsolcpus !== undefined) resources[nonIsolcpusCoresResource] = String(nonIsolcpus);
  return resources;
}

export interface NodeChanges {
  /** Resources to set in status.capacity and status.allocatable (the status subresource); null removes one. */
  readonly resources?: Readonly<Record<string, string | null>>;
  /** Labels to add; null removes one. */
  readonly labels?: Readonly<Record<string, string | null>>;
  /** The node's whole new taint list (a list cannot be merged: it replaces the old one). */
  readonly taints?: readonly Taint[];
}

/** What must change for `node` to advertise `resources`, carry the label and, when `taint`, the taint. */
export function nodeChanges(node: NodeView, resources: Readonly<Record<string, string>>, taint: boolean): NodeChanges {
  const stale = Object.fromEntries(Object.entries(resources).filter(([name, value]) => node.capacity[name] !== value || node.allocatable[name] !== value));
  const changes: { resources?: Record<string, string>; labels?: Record<string, string>; taints?: Taint[] } = {};
  if (Object.keys(stale).length > 0) changes.resources = stale;
  if (node.labels[cmkNodeLabel] !== "true") changes.labels = { [cmkNodeLabel]: "true" };
  const present = node.taints.some((entry) => entry.key === cmkTaint.key && entry.value === cmkTaint.value && entry.effect === cmkTaint.effect);
  if (taint && !present) changes.taints = [...node.taints.filter((entry) => entry.key !== cmkTaint.key), cmkTaint];
  return changes;
}

/** Whether there is nothing to change. */
export function noChanges(changes: NodeChanges): boolean {
  return changes.resources === undefined && changes.labels === undefined && changes.taints === undefined;
}

/** What must change for `node` to carry nothing of cmk's: the given labels, the cmk taint and cmk's extended resources removed. */
export function nodeWithdrawal(node: NodeView, labels: readonly string[]): NodeChanges {
  const changes: { resources?: Record<string, null>; labels?: Record<string, null>; taints?: Taint[] } = {};
  const resources = [exclusiveCoresResource, nonIsolcpusCoresResource].filter(
    (name) => node.capacity[name] !== undefined || node.allocatable[name] !== undefined,
  );
  if (resources.length > 0) changes.resources = Object.fromEntries(resources.map((name) => [name, null]));
  const present = labels.filter((label) => node.labels[label] !== undefined);
  if (present.length > 0) changes.labels = Object.fromEntries(present.map((label) => [label, null]));
  if (node.taints.some((entry) => entry.key === cmkTaint.key)) changes.taints = node.taints.filter((entry) => entry.key !== cmkTaint.key);
  return changes;
}
