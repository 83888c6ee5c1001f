// How far each chosen node has come, in one line a person can act on: "node-3: initialised, 8
// exclusive lists, advertised" once its state exists (and, when discover runs, the scheduler sees
// its cores), else what is missing and what the node agent's pod on it is doing (not scheduled,
// an image that cannot be pulled, an init container that fails). Pure: the node's state, its Node
// and its pod as read, in; the line out. Reading them is the caller's.
import { advertisedResources, exclusiveCoresResource } from "../advertisement.ts";
import type { NodeState } from "../node-state.ts";

/** What was read about one node. */
export interface NodeFacts {
  readonly node: string;
  /** The state as stored (undefined: none yet; a string: why it cannot be read); absent facts for a file store. */
  readonly state: NodeState | string | undefined;
  /** The Node's advertised exclusive cores (status.capacity), when it has any. */
  readonly advertised: string | undefined;
  /** The node agent's pod there, as the API shows it; undefined: none yet. */
  readonly pod: PodFacts | undefined;
}

export interface ContainerStatus {
  readonly name: string;
  readonly state?: {
    readonly waiting?: { readonly reason?: string; readonly message?: string };
    readonly terminated?: { readonly reason?: string; readonly exitCode?: number; readonly message?: string };
  };
  readonly ready?: boolean;
}

export interface PodFacts {
  readonly name: string;
  readonly phase?: string;
  readonly conditions?: readonly { readonly type: string; readonly status: string; readonly reason?: string; readonly message?: string }[];
  readonly initContainerStatuses?: readonly ContainerStatus[];
  readonly containerStatuses?: readonly ContainerStatus[];
}

export interface NodeProgress {
  readonly node: string;
  readonly done: boolean;
  readonly line: string;
}

/** What the node must show to be done: its state (the ConfigMap store) and, when discover runs, its advertised cores. */
export interface Expectation {
  readonly stateVisible: boolean;
  readonly advertises: boolean;
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

/** The first thing that keeps a container from running, in the API's words. */
function containerTrouble(kind: string, status: ContainerStatus): string | undefined {
  const waiting = status.state?.waiting;
  if (waiting?.reason !== undefined && waiting.reason !== "PodInitializing")
    return `${kind} ${status.name}: ${waiting.reason}${waiting.message ? ` (${waiting.message})` : ""}`;
  const ended = status.state?.terminated;
  if (ended !== undefined && ended.exitCode !== 0) return `${kind} ${status.name} exited ${ended.exitCode ?? "?"}${ended.message ? `: ${ended.message}` : ""}`;
  return undefined;
}

/** What the agent's pod (or another of cmk's, called `what`) is doing, as one phrase. */
export function podSummary(pod: PodFacts | undefined, what = "agent pod"): string {
  if (pod === undefined) return "no node agent pod on it yet";
  const unscheduled = pod.conditions?.find((condition) => condition.type === "PodScheduled" && condition.status === "False");
  if (unscheduled !== undefined) return `${what} ${pod.name} not scheduled: ${unscheduled.message ?? unscheduled.reason ?? "no reason given"}`;
  const troubles = [
    ...(pod.initContainerStatuses ?? []).map((status) => containerTrouble("init container", status)),
    ...(pod.containerStatuses ?? []).map((status) => containerTrouble("container", status)),
  ].filter((trouble) => trouble !== undefined);
  const ready = pod.conditions?.some((condition) => condition.type === "Ready" && condition.status === "True") ?? false;
  return `${what} ${pod.name} ${ready ? "ready" : (pod.phase ?? "Pending")}${troubles.length > 0 ? `, ${troubles.join("; ")}` : ""}`;
}

export function nodeProgress(facts: NodeFacts, expect: Expectation): NodeProgress {
  const pod = podSummary(facts.pod);
  const advertised = facts.advertised !== undefined;
  if (expect.stateVisible && typeof facts.state === "string")
    return { node: facts.node, done: false, line: `${facts.node}: its state cannot be read: ${facts.state}; ${pod}` };
  if (expect.stateVisible && facts.state === undefined) return { node: facts.node, done: false, line: `${facts.node}: not initialised yet; ${pod}` };
  const lists =
    facts.state !== undefined && typeof facts.state !== "string" ? Number(advertisedResources(facts.state)[exclusiveCoresResource]) : Number(facts.advertised);
  const initialised = `${facts.node}: initialised, ${plural(lists, "exclusive list")}`;
  if (expect.advertises && !advertised) return { node: facts.node, done: false, line: `${initialised}, not advertised to the scheduler yet; ${pod}` };
  if (!expect.stateVisible && !advertised) return { node: facts.node, done: false, line: `${facts.node}: not initialised yet; ${pod}` };
  return { node: facts.node, done: true, line: `${initialised}${advertised ? ", advertised" : ""}` };
}
