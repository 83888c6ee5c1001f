// The admission webhook's decision, pure: an AdmissionReview's text in, the answer out. A Pod that
// asks for CMK cores (a container's or init container's request or limit of
// cmk.intel.com/exclusive-cores or exclusive-non-isolcpus-cores), or that carries the annotation
// cmk.intel.com/mutate: "true", gets the mutations file's fragments and, per container that asks,
// CMK_NUM_CORES from its request, as JSON-patch operations that add only what the pod lacks (a
// second review of the mutated pod yields none). A pod whose CMK request differs from its limit,
// whose count is not a positive whole number, or whose own CMK_NUM_CORES says another count is
// denied with a message kubectl shows. A body that is no AdmissionReview of a Pod is a bad request
// with its reason; nothing a client sends can make this throw anything else.
import { isObject, type Json, type JsonObject, type MergeResult, type Mutations, mergeFragment, numCoresVariable, type PatchOperation } from "./mutations.ts";

/** The largest review the webhook reads; larger bodies are refused (413) before they are parsed. */
export const maxReviewBytes = 3 * 1024 * 1024;

/** The extended resources of cmk discover, in the order CMK took CMK_NUM_CORES from them. */
export const cmkResources = ["cmk.intel.com/exclusive-cores", "cmk.intel.com/exclusive-non-isolcpus-cores"] as const;
export const mutateAnnotation = "cmk.intel.com/mutate";
/** The annotation values that ask for the mutations without a CMK resource (CMK's). */
const mutateValues = new Set(["true", "True", "1"]);

/** The AdmissionReview versions answered, each echoed in its own response. */
export const reviewVersions = ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"] as const;

export interface AdmissionResponse {
  readonly uid: string;
  readonly allowed: boolean;
  readonly patchType?: "JSONPatch";
  /** Base64 of the JSON patch. */
  readonly patch?: string;
  readonly status?: { readonly code: number; readonly reason: string; readonly message: string };
  /** Shown by kubectl as "Warning: ..." lines. */
  readonly warnings?: readonly string[];
}

/** What was decided, for the log and for tests. */
export type Decision = "mutated" | "unchanged" | "denied";

export type ReviewOutcome =
  | {
      readonly ok: true;
      readonly decision: Decision;
      /** The pod as logs name it: namespace/name (generateName pods: namespace/prefix*). */
      readonly pod: string;
      /** The patch's operations (empty unless mutated). */
      readonly operations: readonly PatchOperation[];
      /** The response body to send, serialised. */
      readonly body: string;
      /** Why it was denied, or what was left as the pod had it. */
      readonly message: string | undefined;
    }
  | { readonly ok: false; readonly reason: string };

function badRequest(reason: string): ReviewOutcome {
  return { ok: false, reason };
}

/** Reviews one AdmissionReview body (the request's text). */
export function reviewAdmission(body: string, mutations: Mutations): ReviewOutcome {
  let review: Json;
  try {
    review = JSON.parse(body) as Json;
  } catch (error) {
    return badRequest(`the body is not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!isObject(review)) return badRequest("the body is not an AdmissionReview: expected a JSON object");
  const apiVersion = review["apiVersion"];
  if (review["kind"] !== "AdmissionReview") return badRequest(`the body is not an AdmissionReview: its kind is ${JSON.stringify(review["kind"] ?? null)}`);
  if (typeof apiVersion !== "string" || !(reviewVersions as readonly string[]).includes(apiVersion)) {
    return badRequest(
      `AdmissionReview apiVersion ${JSON.stringify(apiVersion ?? null)} is not answered: use ${reviewVersions.join(" or ")} (admissionReviewVersions of the webhook configuration)`,
    );
  }
  const request = review["request"];
  if (!isObject(request)) return badRequest("the AdmissionReview has no request");
  const uid = request["uid"];
  if (typeof uid !== "string" || uid === "") return badRequest("the AdmissionReview's request has no uid");
  const kind = request["kind"];
  if (!isObject(kind) || kind["kind"] !== "Pod" || (kind["group"] ?? "") !== "" || kind["version"] !== "v1") {
    return badRequest(
      `the review is not of a Pod (request.kind is ${JSON.stringify(kind ?? null)}): cmk webhook mutates pods only; register it for resources ["pods"] of apiGroups [""]`,
    );
  }
  const respond = (decision: Decision, pod: string, response: Omit<AdmissionResponse, "uid">, operations: readonly PatchOperation[] = []): ReviewOutcome => ({
    ok: true,
    decision,
    pod,
    operations,
    message: response.status?.message ?? response.warnings?.join("; "),
    body: JSON.stringify({ apiVersion, kind: "AdmissionReview", response: { uid, ...response } }),
  });
  const subResource = request["subResource"];
  // Only a pod's creation is mutated: its spec is immutable afterwards, and subresources (binding, ephemeralcontainers, status) are other objects.
  if (request["operation"] !== "CREATE" || (typeof subResource === "string" && subResource !== "")) {
    return respond("unchanged", podName(request, undefined), { allowed: true });
  }
  const pod = request["object"];
  const shape = podShapeProblem(pod);
  if (shape !== undefined) return badRequest(`request.object is not a Pod: ${shape}`);
  const object = pod as JsonObject;
  const name = podName(request, object);
  const containers = containerGroups(object);
  const counts: { readonly path: string; readonly container: JsonObject; readonly label: string; readonly count: number | undefined }[] = [];
  const problems: string[] = [];
  for (const group of containers) {
    group.list.forEach((container, index) => {
      const asked = containerCount(container, group.label, problems);
      counts.push({ path: `/spec/${group.field}/${index}`, container, label: `${group.label} "${String(container["name"])}"`, count: asked });
    });
  }
  if (problems.length > 0) {
    return respond("denied", name, { allowed: false, status: { code: 400, reason: "BadRequest", message: `cmk: ${problems.join("; ")}` } });
  }
  const metadata = object["metadata"] as JsonObject | undefined;
  const annotations = isObject(metadata?.["annotations"]) ? (metadata["annotations"] as JsonObject) : undefined;
  const annotated = annotations !== undefined && Object.hasOwn(annotations, mutateAnnotation) && mutateValues.has(String(annotations[mutateAnnotation]));
  if (!annotated && counts.every((entry) => entry.count === undefined)) return respond("unchanged", name, { allowed: true });

  const result: MergeResult = { operations: [], warnings: [] };
  for (const key of ["metadata", "spec"] as const) {
    const fragment = mutations.perPod[key];
    if (fragment === undefined) continue;
    mergeFragment(object[key], fragment, `/${key}`, (at) => ["pod", key, ...at].join("."), result, []);
  }
  for (const { path, container, label, count } of counts) {
    const fragment: JsonObject = { ...mutations.perContainer };
    if (count !== undefined) {
      const env = Array.isArray(fragment["env"]) ? fragment["env"] : [];
      fragment["env"] = [...env, { name: numCoresVariable, value: String(count) }];
    }
    mergeFragment(container, fragment, path, (at) => [label, ...at].join(" "), result, []);
  }
  const warnings = result.warnings.length > 0 ? { warnings: result.warnings.map((warning) => `cmk: ${warning}`) } : {};
  if (result.operations.length === 0) return respond("unchanged", name, { allowed: true, ...warnings });
  const patch = Buffer.from(JSON.stringify(result.operations)).toString("base64");
  return respond("mutated", name, { allowed: true, patchType: "JSONPatch", patch, ...warnings }, result.operations);
}

interface ContainerGroup {
  readonly field: "containers" | "initContainers";
  readonly label: string;
  readonly list: readonly JsonObject[];
}

function containerGroups(pod: JsonObject): ContainerGroup[] {
  const spec = pod["spec"] as JsonObject;
  const groups: ContainerGroup[] = [
    { field: "initContainers", label: "init container", list: [] },
    { field: "containers", label: "container", list: [] },
  ];
  return groups.map((group) => ({ ...group, list: (Array.isArray(spec[group.field]) ? spec[group.field] : []) as JsonObject[] }));
}

/** What makes a request's object unusable as a Pod, or undefined when it is one. */
function podShapeProblem(pod: Json | undefined): string | undefined {
  if (!isObject(pod)) return "it is missing or not an object";
  if (pod["metadata"] !== undefined && !isObject(pod["metadata"])) return "metadata is not an object";
  const spec = pod["spec"];
  if (!isObject(spec)) return "it has no spec";
  if (!Array.isArray(spec["containers"])) return "spec.containers is not a list";
  for (const field of ["containers", "initContainers"] as const) {
    const list = spec[field];
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) return `spec.${field} is not a list`;
    for (const [index, container] of list.entries()) {
      if (!isObject(container)) return `spec.${field}[${index}] is not an object`;
      const resources = container["resources"];
      if (resources !== undefined && resources !== null && !isObject(resources)) return `spec.${field}[${index}].resources is not an object`;
      for (const part of ["requests", "limits"] as const) {
        const amounts = isObject(resources) ? resources[part] : undefined;
        if (amounts !== undefined && amounts !== null && !isObject(amounts)) return `spec.${field}[${index}].resources.${part} is not an object`;
      }
      const env = container["env"];
      if (env !== undefined && env !== null && !Array.isArray(env)) return `spec.${field}[${index}].env is not a list`;
    }
  }
  return undefined;
}

function podName(request: JsonObject, pod: JsonObject | undefined): string {
  const metadata = pod !== undefined && isObject(pod["metadata"]) ? pod["metadata"] : {};
  const namespace = typeof request["namespace"] === "string" ? request["namespace"] : typeof metadata["namespace"] === "string" ? metadata["namespace"] : "";
  const name =
    typeof metadata["name"] === "string" && metadata["name"] !== ""
      ? metadata["name"]
      : typeof metadata["generateName"] === "string"
        ? `${metadata["generateName"]}*`
        : typeof request["name"] === "string"
          ? request["name"]
          : "?";
  return namespace === "" ? name : `${namespace}/${name}`;
}

/** A quantity that is a positive whole number ("2", or 2), else undefined. */
function wholeCount(value: Json | undefined): number | undefined {
  const text = typeof value === "number" ? String(value) : typeof value === "string" ? value.trim() : undefined;
  if (text === undefined || !/^[1-9]\d{0,5}$/.test(text)) return undefined;
  return Number(text);
}

/**
 * The CMK cores a container asks for (its request, else its limit, of the first CMK resource it
 * names), undefined when it asks for none; its problems (request and limit differ, not a positive
 * whole number, a CMK_NUM_CORES of its own that says otherwise) are appended to `problems`.
 */
function containerCount(container: JsonObject, label: string, problems: string[]): number | undefined {
  const name = `${label} "${String(container["name"] ?? "?")}"`;
  const resources = isObject(container["resources"]) ? container["resources"] : {};
  const requests = isObject(resources["requests"]) ? resources["requests"] : {};
  const limits = isObject(resources["limits"]) ? resources["limits"] : {};
  let count: number | undefined;
  for (const resource of cmkResources) {
    const request = Object.hasOwn(requests, resource) ? requests[resource] : undefined;
    const limit = Object.hasOwn(limits, resource) ? limits[resource] : undefined;
    if ((request === undefined || request === null) && (limit === undefined || limit === null)) continue;
    const given = request ?? limit;
    const value = wholeCount(given ?? null);
    if (value === undefined) {
      problems.push(`${name} asks for ${resource}: ${JSON.stringify(given)}, which is not a positive whole number of cores; write a count such as "1"`);
      continue;
    }
    if (request !== undefined && request !== null && limit !== undefined && limit !== null && wholeCount(limit) !== value) {
      problems.push(
        `${name} requests ${resource}: ${JSON.stringify(request)} but limits it to ${JSON.stringify(limit)}; cores a container holds alone are requested and limited alike (give the limit only, or make both equal)`,
      );
      continue;
    }
    count ??= value;
  }
  if (count === undefined) return undefined;
  const env = Array.isArray(container["env"]) ? container["env"] : [];
  for (const entry of env) {
    if (!isObject(entry) || entry["name"] !== numCoresVariable) continue;
    if (entry["valueFrom"] !== undefined && entry["valueFrom"] !== null) {
      problems.push(
        `${name} takes ${numCoresVariable} from valueFrom, which cannot be checked against its request of ${count} cores; remove it (the webhook sets ${numCoresVariable}=${count})`,
      );
    } else if (String(entry["value"] ?? "").trim() !== String(count)) {
      problems.push(
        `${name} sets ${numCoresVariable}=${JSON.stringify(entry["value"] ?? "")} but asks for ${count} cmk cores; remove ${numCoresVariable} (the webhook sets it from the request) or make it ${count}`,
      );
    }
  }
  return count;
}
