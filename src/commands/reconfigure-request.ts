// A node's side of cmk reconfigure_setup: find the request in ConfigMap cmk-reconfigure-<node>,
// reconfigure the node as `cmk reconfigure` would with the carving it names, and write the result
// back under the request's id, so reconfigure_setup can report what was kept, moved or refused.
// The node agent calls this on each reconcile pass (it runs on the node, in the host's PID
// namespace, and owns the state); `cmk reconfigure --from-request` calls it in the pod that
// reconfigure_setup starts on a node where no agent answers. A request already answered is left.
import type { KubeClient } from "../adapters/kubernetes/client.ts";
import type { KubeObject } from "../adapters/kubernetes/objects.ts";
import type { Context } from "../app/context.ts";
import { apiCalls, kubeClient, nodeNameOf } from "../app/stores.ts";
import {
  decodeRequest,
  decodeResult,
  encodeJson,
  type MovedTask,
  type ReconfigureRequest,
  type ReconfigureResult,
  requestConfigMapName,
  requestKey,
  resultKey,
} from "../core/cluster/reconfigure-request.ts";
import { CmkError, describeCause } from "../core/errors.ts";
import type { StateStore } from "../core/state-store.ts";
import { carvingFlags, defaultsOf, type OptionsOf, type reconfigureFlags } from "./flags.ts";
import { reconfigureNode } from "./reconfigure.ts";

export interface RequestPlace {
  readonly namespace: string;
  readonly node: string;
}

/** Reconfigures as asked; any refusal (tasks that do not fit, a node too small, a state that cannot be read) changed nothing. */
async function answer(request: ReconfigureRequest, store: StateStore, context: Context): Promise<ReconfigureResult> {
  const carving = request.carving;
  const options = {
    ...defaultsOf(carvingFlags),
    numExclusiveCores: carving.numExclusiveCores,
    numSharedCores: carving.numSharedCores,
    exclusiveMode: { mode: carving.exclusiveMode },
    sharedMode: { mode: carving.sharedMode },
    exclNonIsolcpus: carving.exclNonIsolcpus,
  };
  try {
    const outcome = await reconfigureNode(store, options, context);
    const moved = outcome.moved.map((entry) => entry.report as unknown as MovedTask & { error: string | null });
    const failed = moved.filter((move) => move.error !== null);
    const message =
      failed.length === 0 ? "" : `${failed.length} moved task(s) could not be re-pinned: ${failed.map((move) => `${move.pid}: ${move.error}`).join("; ")}`;
    return {
      id: request.id,
      outcome: failed.length === 0 ? "done" : "failed",
      message,
      kept: outcome.kept,
      moved: moved.map(({ pid, pool, previousCpus, cpus }) => ({ pid, pool, previousCpus, cpus })),
    };
  } catch (error) {
    if (!(error instanceof CmkError)) throw error;
    return { id: request.id, outcome: "refused", message: error.message, kept: 0, moved: [] };
  }
}

/** Serves the node's pending request, if any: "none" when there is none (or it was answered), else the outcome. */
export async function serveRequestOnce(
  client: KubeClient,
  store: StateStore,
  place: RequestPlace,
  context: Context,
): Promise<"none" | ReconfigureResult["outcome"]> {
  const { getObject, replaceObject } = await import("../adapters/kubernetes/objects.ts");
  const ref = { kind: "ConfigMap", name: requestConfigMapName(place.node), namespace: place.namespace };
  const object = await getObject(await apiCalls(client, context), ref);
  const data = (object?.["data"] ?? {}) as Record<string, string>;
  const text = data[requestKey];
  if (object === null || text === undefined) return "none";
  const request = decodeRequest(text, `configmap ${place.namespace}/${ref.name} key ${requestKey}`);
  if (decodeResult(data[resultKey])?.id === request.id) return "none";
  context.log.info(`reconfigure request ${request.id}: ${JSON.stringify(request.carving)}`);
  const result = await answer(request, store, context);
  const written = await replaceObject(await apiCalls(client, context), { ...object, data: { ...data, [resultKey]: encodeJson(result) } } as KubeObject);
  context.log[result.outcome === "done" ? "info" : "warning"](
    `reconfigure request ${request.id}: ${result.outcome}${result.message === "" ? "" : `: ${result.message}`}${written ? "" : " (the request changed meanwhile; answering the new one next)"}`,
  );
  return result.outcome;
}

/** `cmk reconfigure --from-request`: the request must be there; true when it was served without a failure. */
export async function serveReconfigureRequest(store: StateStore, options: OptionsOf<typeof reconfigureFlags>, context: Context): Promise<boolean> {
  const client = await kubeClient(options, context);
  try {
    const place = { namespace: options.namespace ?? "default", node: nodeNameOf(options, context) };
    const outcome = await serveRequestOnce(client, store, place, context);
    if (outcome === "none") context.log.info(`no unanswered request in configmap ${place.namespace}/${requestConfigMapName(place.node)}; nothing to do`);
    if (outcome === "refused") throw new CmkError("conflict", "the reconfigure request was refused; its result says why");
    return outcome !== "failed";
  } catch (error) {
    if (error instanceof CmkError) throw error;
    throw new CmkError("failure", `cannot serve the reconfigure request: ${describeCause(error)}`, { cause: error });
  } finally {
    client.close();
  }
}
