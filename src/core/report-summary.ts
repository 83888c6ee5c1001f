// The few numbers a published report carries beside the report itself, for `kubectl get
// cmk-nodereports` (and cmk-reconcilereports) to show a node at a glance: its pools, how many
// exclusive lists are free and held, how many problems its checks found; what reconcile freed.
import { checkNames, type NodeChecks } from "./checks.ts";
import { type NodeState, poolUsage } from "./node-state.ts";

export function nodeReportSummary(state: NodeState | null, checks: NodeChecks): Record<string, string | number> {
  const exclusive = state === null ? [] : poolUsage(state).filter((usage) => usage.pool === "exclusive");
  const held = exclusive.reduce((sum, usage) => sum + usage.allocatedCpuLists, 0);
  const lists = exclusive.reduce((sum, usage) => sum + usage.cpuLists, 0);
  return {
    pools: state === null ? "" : [...state.pools.keys()].sort().join(","),
    exclusiveFree: lists - held,
    exclusiveHeld: held,
    problems: checkNames.reduce((sum, name) => sum + checks[name].errors.length, 0),
  };
}

export function reconcileSummary(reclaimed: number, mismatched: number): Record<string, number> {
  return { reclaimed, mismatched };
}
