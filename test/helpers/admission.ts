// AdmissionReviews as the API server sends them, and what it does with the answer: the review of a
// pod's creation, the JSON patch applied as RFC 6902 says (written here, independently of cmk, so
// a patch that the API server would refuse fails here too), and the pods of deploy/.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Json, JsonObject } from "../../src/core/mutations.ts";
import { yamlToJson } from "../../src/formats/webhook-config.ts";
import { parseYaml } from "../../src/formats/yaml.ts";
import { repoRoot } from "./cmk.ts";

export type { Json, JsonObject };

export interface ReviewOptions {
  readonly apiVersion?: string;
  readonly operation?: string;
  readonly uid?: string;
  readonly namespace?: string;
}

let reviews = 0;

/** The AdmissionReview of creating `pod` (a uid of its own unless given). */
export function reviewOf(pod: Json, options: ReviewOptions = {}): JsonObject {
  return {
    apiVersion: options.apiVersion ?? "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: options.uid ?? `review-${++reviews}`,
      kind: { group: "", version: "v1", kind: "Pod" },
      resource: { group: "", version: "v1", resource: "pods" },
      requestKind: { group: "", version: "v1", kind: "Pod" },
      requestResource: { group: "", version: "v1", resource: "pods" },
      namespace: options.namespace ?? "default",
      operation: options.operation ?? "CREATE",
      userInfo: { username: "tester" },
      object: pod,
      oldObject: null,
      dryRun: false,
      options: { apiVersion: "meta.k8s.io/v1", kind: "CreateOptions" },
    },
  };
}

function unescapeToken(token: string): string {
  return token.replaceAll("~1", "/").replaceAll("~0", "~");
}

/** Applies an RFC 6902 patch (add, remove, replace, test) to a copy of `document`; throws where the API server would refuse it. */
export function applyPatch(document: Json, operations: readonly { op: string; path: string; value?: Json }[]): Json {
  const root = structuredClone(document);
  for (const operation of operations) {
    if (!operation.path.startsWith("/")) throw new Error(`patch path ${operation.path} does not start with /`);
    const tokens = operation.path.slice(1).split("/").map(unescapeToken);
    const last = tokens.pop() as string;
    let parent: Json = root;
    for (const token of tokens) {
      const next: Json | undefined = Array.isArray(parent)
        ? parent[Number(token)]
        : typeof parent === "object" && parent !== null && Object.hasOwn(parent, token)
          ? parent[token]
          : undefined;
      if (next === undefined) throw new Error(`patch ${operation.op} ${operation.path}: ${token} does not exist`);
      parent = next;
    }
    if (Array.isArray(parent)) {
      const index = last === "-" ? parent.length : Number(last);
      if (!Number.isInteger(index) || index < 0 || index > parent.length) throw new Error(`patch ${operation.op} ${operation.path}: bad index`);
      if (operation.op === "add") parent.splice(index, 0, structuredClone(operation.value as Json));
      else if (operation.op === "replace" && index < parent.length) parent[index] = structuredClone(operation.value as Json);
      else if (operation.op === "remove" && index < parent.length) parent.splice(index, 1);
      else throw new Error(`patch ${operation.op} ${operation.path}: not applicable`);
    } else if (typeof parent === "object" && parent !== null) {
      const exists = Object.hasOwn(parent, last);
      if (operation.op === "add") parent[last] = structuredClone(operation.value as Json);
      else if (operation.op === "replace" && exists) parent[last] = structuredClone(operation.value as Json);
      else if (operation.op === "remove" && exists) delete parent[last];
      else throw new Error(`patch ${operation.op} ${operation.path}: ${last} does not exist`);
    } else {
      throw new Error(`patch ${operation.op} ${operation.path}: the parent is not a container`);
    }
  }
  return root;
}

/** The JSON patch of an AdmissionReview response, decoded (empty when it carries none). */
export function patchOf(response: JsonObject): { op: string; path: string; value?: Json }[] {
  const patch = response["patch"];
  if (patch === undefined) return [];
  if (response["patchType"] !== "JSONPatch") throw new Error(`a patch without patchType JSONPatch: ${JSON.stringify(response)}`);
  return JSON.parse(Buffer.from(String(patch), "base64").toString("utf8")) as { op: string; path: string }[];
}

/** A YAML file of the repository as JSON (the first document). */
export function repoYaml(...path: string[]): JsonObject {
  return yamlToJson(parseYaml(readFileSync(join(repoRoot, ...path), "utf8"), path.join("/"))) as JsonObject;
}

/** The YAML documents of a multi-document file of the repository, as JSON. */
export function repoYamlDocuments(...path: string[]): JsonObject[] {
  return readFileSync(join(repoRoot, ...path), "utf8")
    .split(/^---$/m)
    .filter((text) => /^\w/m.test(text))
    .map((text) => yamlToJson(parseYaml(text, path.join("/"))) as JsonObject);
}
