// How cmk reconfigure_setup asks a node to change its pool sizes, and how the node answers: a
// ConfigMap cmk-reconfigure-<node> in cmk's namespace (CMK 1.5's name) whose `request` key holds
// the new carving and an id, and whose `result` key the node writes once it has reconfigured (or
// refused), under the same id. The node's agent looks for a request on each reconcile pass; where
// no agent answers, a pod on the node runs `cmk reconfigure --from-request`, the same code. Pure:
// the documents as JSON text, checked when read, and the line that reports a node's result.
import { CmkError } from "../errors.ts";

export interface Carving {
  readonly numExclusiveCores: number;
  readonly numSharedCores: number;
  readonly exclusiveMode: "packed" | "spread";
  readonly sharedMode: "packed" | "spread";
  /** Core ids of the exclusive-non-isolcpus pool; null for none. */
  readonly exclNonIsolcpus: readonly number[] | null;
}

export interface ReconfigureRequest {
  readonly id: string;
  readonly carving: Carving;
}

export interface MovedTask {
  readonly pid: number;
  readonly pool: string;
  readonly previousCpus: string;
  readonly cpus: string;
}

export interface ReconfigureResult {
  readonly id: string;
  /** done: the new pools are stored (moved tasks re-pinned, or `failed` lists what could not be); refused: nothing changed. */
  readonly outcome: "done" | "refused" | "failed";
  readonly message: string;
  readonly kept: number;
  readonly moved: readonly MovedTask[];
}

export const requestKey = "request";
export const resultKey = "result";

export function requestConfigMapName(node: string): string {
  return `cmk-reconfigure-${node}`;
}

function parseObject(text: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new CmkError("invalid-state", `${what} is not JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new CmkError("invalid-state", `${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
const isMode = (value: unknown): value is "packed" | "spread" => value === "packed" || value === "spread";

export function decodeRequest(text: string, what: string): ReconfigureRequest {
  const document = parseObject(text, what);
  const carving = document["carving"] as Record<string, unknown> | undefined;
  const ids = carving?.["exclNonIsolcpus"];
  const valid =
    typeof document["id"] === "string" &&
    carving !== undefined &&
    isCount(carving["numExclusiveCores"]) &&
    isCount(carving["numSharedCores"]) &&
    isMode(carving["exclusiveMode"]) &&
    isMode(carving["sharedMode"]) &&
    (ids === null || (Array.isArray(ids) && ids.every(isCount)));
  if (!valid)
    throw new CmkError(
      "invalid-state",
      `${what} is not a reconfigure request (id, and carving with numExclusiveCores, numSharedCores, exclusiveMode, sharedMode, exclNonIsolcpus)`,
    );
  return document as unknown as ReconfigureRequest;
}

export function encodeJson(value: ReconfigureRequest | ReconfigureResult): string {
  return JSON.stringify(value);
}

/** The result, or undefined when there is none or it is not one. */
export function decodeResult(text: string | undefined): ReconfigureResult | undefined {
  if (text === undefined) return undefined;
  try {
    const document = parseObject(text, "result");
    return typeof document["id"] === "string" && typeof document["outcome"] === "string" ? (document as unknown as ReconfigureResult) : undefined;
  } catch {
    return undefined;
  }
}

/** What reconfigure_setup prints for a node's result. */
export function resultLine(node: string, result: ReconfigureResult): string {
  if (result.outcome === "refused") return `${node}: refused, nothing changed: ${result.message}`;
  const moves = result.moved.map((move) => `task ${move.pid} ${move.pool} ${move.previousCpus} -> ${move.cpus}`);
  const summary = `${result.kept} task(s) kept, ${result.moved.length} moved${moves.length > 0 ? ` (${moves.join(", ")})` : ""}`;
  return result.outcome === "done" ? `${node}: reconfigured: ${summary}` : `${node}: reconfigured, but ${result.message}: ${summary}`;
}
