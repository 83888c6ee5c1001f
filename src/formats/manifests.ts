// Kubernetes objects as the YAML files people read and `kubectl apply -f` takes: several documents
// separated by `---`, each under a comment that says what it is for, multi-line strings (a
// configuration file inside a ConfigMap) as literal blocks. One writer for `cmk cluster-init
// --dry-run` and for the files under deploy/ (scripts/write-manifests.ts), so both say the same.
import type { Json, JsonObject } from "../core/mutations.ts";
import { emitYaml, type YamlValue } from "./yaml.ts";

/** An object and the comment written above it (lines without the leading `# `). */
export interface Manifest {
  readonly comment?: string;
  readonly object: JsonObject;
}

/** JSON as YAML values: objects become mappings in their key order. */
export function jsonToYaml(value: Json): YamlValue {
  if (Array.isArray(value)) return value.map(jsonToYaml);
  if (typeof value === "object" && value !== null) return new Map(Object.entries(value).map(([key, item]) => [key, jsonToYaml(item)]));
  return value;
}

function commentLines(text: string | undefined): string {
  if (text === undefined) return "";
  return text
    .split("\n")
    .map((line) => (line === "" ? "#\n" : `# ${line}\n`))
    .join("");
}

/** The documents of `manifests`, each under its comment, after the file's `header` comment. */
export function manifestText(manifests: readonly Manifest[], header?: string): string {
  const documents = manifests.map((manifest) => `${commentLines(manifest.comment)}${emitYaml(jsonToYaml(manifest.object), { literalBlocks: true })}`);
  return `${commentLines(header)}${documents.join("---\n")}`;
}
