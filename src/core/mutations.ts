// What the admission webhook injects into a pod: CMK's mutations file (perPod, a fragment of the
// Pod; perContainer, a fragment of every container and init container), checked once when the
// file is loaded, and applied as targeted JSON-patch operations that add only what the pod lacks.
// Lists merge by identity (volumes, env, image pull secrets by name, volume mounts by mount path,
// tolerations by what they tolerate, scalar lists as sets), so a second review of a mutated pod
// yields no operation at all. Pure: JSON in, operations and warnings out.
import { CmkError } from "./errors.ts";

export type Json = null | boolean | number | string | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json;
}

/** One RFC 6902 operation; the webhook only ever adds or replaces. */
export interface PatchOperation {
  readonly op: "add" | "replace";
  readonly path: string;
  readonly value: Json;
}

export interface Mutations {
  /** Merged into the Pod: `metadata` and `spec` only. */
  readonly perPod: JsonObject;
  /** Merged into every container and init container. */
  readonly perContainer: JsonObject;
}

export const noMutations: Mutations = { perPod: {}, perContainer: {} };

/** The variable the webhook sets from a container's request; a mutations file may not set it. */
export const numCoresVariable = "CMK_NUM_CORES";

export function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A JSON pointer token: `~` and `/` escaped (annotation keys carry `/`). */
export function pointerToken(key: string | number): string {
  return String(key).replaceAll("~", "~0").replaceAll("/", "~1");
}

// ---- Loading the mutations file ---------------------------------------------------------------

/** What a mutations file may not inject, and why; each refusal names the key and the fix. */
const refusedPodSpecKeys: Readonly<Record<string, string>> = {
  serviceAccountName:
    "a webhook that names a service account hands the pod that account's token (the token volume is already in the pod and the kubelet fills it for whatever account the pod names); give workloads their account in their own spec",
  serviceAccount: "it is the deprecated name of serviceAccountName, which hands the pod that account's token; give workloads their account in their own spec",
  automountServiceAccountToken:
    "it cannot take effect: the ServiceAccount admission plugin runs before webhooks and has already added the token volume; set it in the pod's spec or on its ServiceAccount",
};

/**
 * The mutations of a mutations file's content (already read from YAML into JSON): `{mutations:
 * {perPod, perContainer}}`, CMK's format. A missing `mutations` key injects nothing, as in CMK.
 * Refused, with the reason: anything but metadata and spec in perPod, a service account, a
 * toleration of every taint, CMK_NUM_CORES, entries without their identity (a volume without a
 * name, a mount without a mount path), two entries with one identity, and annotation or label
 * values that are not strings.
 */
export function mutationsFrom(document: Json, source: string): Mutations {
  const fail = (message: string): never => {
    throw new CmkError("usage", `mutations file ${source}: ${message}`);
  };
  if (document === null) return noMutations;
  if (!isObject(document)) return fail("expected a mapping with the key mutations (perPod, perContainer)");
  const mutations = document["mutations"];
  if (mutations === undefined || mutations === null) return noMutations;
  if (!isObject(mutations)) return fail("mutations must be a mapping with perPod and perContainer");
  for (const key of Object.keys(mutations)) {
    if (key !== "perPod" && key !== "perContainer")
      fail(`mutations.${key} is not known: use perPod (merged into the pod) and perContainer (into each container)`);
  }
  const perPod = mutations["perPod"] ?? {};
  const perContainer = mutations["perContainer"] ?? {};
  if (!isObject(perPod)) return fail("mutations.perPod must be a mapping (metadata, spec)");
  if (!isObject(perContainer)) return fail("mutations.perContainer must be a mapping (env, volumeMounts, ...)");
  for (const [key, value] of Object.entries(perPod)) {
    if (key !== "metadata" && key !== "spec") fail(`mutations.perPod.${key} cannot be injected: only metadata and spec are merged into a pod`);
    if (!isObject(value)) fail(`mutations.perPod.${key} must be a mapping`);
  }
  const spec = perPod["spec"];
  if (isObject(spec)) {
    for (const [key, why] of Object.entries(refusedPodSpecKeys)) {
      if (Object.hasOwn(spec, key)) fail(`mutations.perPod.spec.${key} is refused: ${why}`);
    }
    const tolerations = spec["tolerations"];
    if (Array.isArray(tolerations)) {
      for (const toleration of tolerations) {
        if (isObject(toleration) && (toleration["key"] === undefined || toleration["key"] === "" || toleration["key"] === null)) {
          fail(
            'mutations.perPod.spec.tolerations: a toleration without a key tolerates every taint (unreachable and not-ready nodes, NoExecute included); name the taint, e.g. {key: cmk, operator: Equal, value: "true", effect: NoSchedule}',
          );
        }
      }
    }
  }
  const metadata = perPod["metadata"];
  if (isObject(metadata)) {
    for (const map of ["annotations", "labels"] as const) {
      const entries = metadata[map];
      if (entries === undefined) continue;
      if (!isObject(entries)) fail(`mutations.perPod.metadata.${map} must be a mapping of strings`);
      for (const [key, value] of Object.entries(entries as JsonObject)) {
        if (typeof value !== "string") fail(`mutations.perPod.metadata.${map}["${key}"] must be a string: quote it, e.g. "${String(value)}"`);
      }
    }
  }
  const env = perContainer["env"];
  if (Array.isArray(env) && env.some((entry) => isObject(entry) && entry["name"] === numCoresVariable)) {
    fail(`mutations.perContainer.env sets ${numCoresVariable}: the webhook sets it for each container from its cmk.intel.com request; remove it`);
  }
  checkLists(perPod, "mutations.perPod", fail);
  checkLists(perContainer, "mutations.perContainer", fail);
  return { perPod, perContainer };
}

/** Every list of the fragment: entries carry their identity, and no two share one. */
function checkLists(fragment: Json, where: string, fail: (message: string) => never): void {
  if (Array.isArray(fragment)) {
    const listName = where.slice(where.lastIndexOf(".") + 1);
    const rule = identityRule(listName);
    const seen: Json[] = [];
    fragment.forEach((entry, index) => {
      if (rule.field !== undefined && (!isObject(entry) || typeof entry[rule.field] !== "string" || entry[rule.field] === "")) {
        fail(`${where}[${index}] has no ${rule.field}: each entry of ${listName} is known by its ${rule.field}`);
      }
      if (seen.some((other) => rule.same(other, entry))) fail(`${where}[${index}] repeats an earlier entry of ${listName}`);
      seen.push(entry);
      checkLists(entry, `${where}[${index}]`, fail);
    });
  } else if (isObject(fragment)) {
    for (const [key, value] of Object.entries(fragment)) checkLists(value, `${where}.${key}`, fail);
  }
}

// ---- Merging -------------------------------------------------------------------------------------

/** How entries of a list are told apart: by a field, or (field undefined) by their whole value. */
interface IdentityRule {
  readonly field: string | undefined;
  /** Whether `existing` already stands for `wanted` (the same identity). */
  readonly same: (existing: Json, wanted: Json) => boolean;
  /** An existing entry that stands for a different wanted one is no conflict (a broader toleration). */
  readonly covers?: true;
}

function byField(field: string): IdentityRule {
  return { field, same: (existing, wanted) => isObject(existing) && isObject(wanted) && existing[field] === wanted[field] };
}

const byValue: IdentityRule = { field: undefined, same: (existing, wanted) => jsonEqual(existing, wanted) };

/** Whether an existing toleration already tolerates what a wanted one does (or is the same). */
function tolerates(existing: Json, wanted: Json): boolean {
  if (jsonEqual(existing, wanted)) return true;
  if (!isObject(existing) || !isObject(wanted)) return false;
  const text = (value: Json | undefined): string => (typeof value === "string" ? value : "");
  const operator = text(existing["operator"]) === "" ? "Equal" : text(existing["operator"]);
  const wantedOperator = text(wanted["operator"]) === "" ? "Equal" : text(wanted["operator"]);
  const keyCovered = text(existing["key"]) === "" ? operator === "Exists" : text(existing["key"]) === text(wanted["key"]);
  const effectCovered = text(existing["effect"]) === "" || text(existing["effect"]) === text(wanted["effect"]);
  const valueCovered = operator === "Exists" || (wantedOperator === "Equal" && text(existing["value"]) === text(wanted["value"]));
  const timeCovered = existing["tolerationSeconds"] === undefined || existing["tolerationSeconds"] === wanted["tolerationSeconds"];
  return keyCovered && effectCovered && valueCovered && timeCovered;
}

const identityRules: Readonly<Record<string, IdentityRule>> = {
  volumeMounts: byField("mountPath"),
  volumeDevices: byField("devicePath"),
  tolerations: { field: undefined, same: tolerates, covers: true },
};

function identityRule(listName: string): IdentityRule {
  return identityRules[listName] ?? (listName === "envFrom" ? byValue : nameOrValue);
}

/** Lists of named entries (volumes, env, containers, imagePullSecrets, ...) by name; others by value. */
const nameOrValue: IdentityRule = {
  field: undefined,
  same: (existing, wanted) =>
    isObject(wanted) && typeof wanted["name"] === "string" ? isObject(existing) && existing["name"] === wanted["name"] : jsonEqual(existing, wanted),
};

export function jsonEqual(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((item, index) => jsonEqual(item, b[index]));
  }
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => Object.hasOwn(b, key) && jsonEqual(a[key], b[key]));
}

/** Collects a merge's operations and the warnings of what it left as the pod has it. */
export interface MergeResult {
  readonly operations: PatchOperation[];
  readonly warnings: string[];
}

/** How a warning names a place in the pod: `spec.volumes`, `container "app" env`. */
export type Describe = (relative: readonly (string | number)[]) => string;

/**
 * Merges `fragment` into `target` (the value at `path` in the pod; undefined when absent) and
 * appends the operations that make the pod carry it. Mappings merge key by key; lists get the
 * entries they lack (by identity); a different scalar is replaced, as CMK did; a mismatch of
 * kinds (a mapping where the pod has a list) is left as the pod has it, with a warning.
 */
export function mergeFragment(
  target: Json | undefined,
  fragment: Json,
  path: string,
  describe: Describe,
  result: MergeResult,
  at: (string | number)[] = [],
): void {
  if (target === undefined) {
    result.operations.push({ op: "add", path, value: fragment });
    return;
  }
  if (target === null) {
    result.operations.push({ op: "replace", path, value: fragment });
    return;
  }
  if (isObject(fragment)) {
    if (!isObject(target)) {
      result.warnings.push(`${describe(at)} is not a mapping in the pod; left as it is`);
      return;
    }
    for (const [key, value] of Object.entries(fragment)) {
      mergeFragment(Object.hasOwn(target, key) ? target[key] : undefined, value, `${path}/${pointerToken(key)}`, describe, result, [...at, key]);
    }
    return;
  }
  if (Array.isArray(fragment)) {
    if (!Array.isArray(target)) {
      result.warnings.push(`${describe(at)} is not a list in the pod; left as it is`);
      return;
    }
    const rule = identityRule(String(at.at(-1) ?? ""));
    for (const entry of fragment) {
      const existing = target.find((candidate) => rule.same(candidate, entry));
      if (existing === undefined) {
        result.operations.push({ op: "add", path: `${path}/-`, value: entry });
      } else if (rule.covers !== true && !jsonEqual(existing, entry)) {
        result.warnings.push(`${describe(at)}: kept the pod's own ${entryName(entry, rule)}, which differs from what cmk injects`);
      }
    }
    return;
  }
  if (typeof target === "object") {
    result.warnings.push(`${describe(at)} is a ${Array.isArray(target) ? "list" : "mapping"} in the pod; left as it is`);
    return;
  }
  if (target !== fragment) result.operations.push({ op: "replace", path, value: fragment });
}

function entryName(entry: Json, rule: IdentityRule): string {
  if (!isObject(entry)) return JSON.stringify(entry);
  if (rule.field !== undefined) return `${rule.field} ${JSON.stringify(entry[rule.field])}`;
  return typeof entry["name"] === "string" ? `"${entry["name"]}"` : JSON.stringify(entry);
}
