// cmk's cluster objects as text: the webhook's two configuration files (CMK's server.yaml and
// mutations file) that its ConfigMap carries, the files under deploy/, and what `cmk cluster-init
// --dry-run` prints. The objects come from core/cluster, the YAML from formats/manifests.ts; this
// module only joins the two, so the committed files and cluster-init cannot disagree.
import { clusterObjects, deployFiles, namespaceObject } from "../core/cluster/manifests.ts";
import type { ClusterSpec } from "../core/cluster/spec.ts";
import { mutationsComment, mutationsDocument, serverConfigDocument, type WebhookFiles } from "../core/cluster/webhook.ts";
import type { JsonObject } from "../core/mutations.ts";
import { manifestText } from "../formats/manifests.ts";

/** Below each file's header: where it comes from. */
const generatedNote = "(Written by scripts/write-manifests.ts from src/core/cluster/: edit those, not this file.)";

/** The webhook's files; its mutations file is deploy/webhook-mutations.yaml, byte for byte, when the install directory is the default. */
export function webhookFiles(spec: ClusterSpec): WebhookFiles {
  return {
    serverYaml: manifestText([{ object: serverConfigDocument() }]),
    mutationsYaml: manifestText([{ object: mutationsDocument(spec) }], `${mutationsComment}\n${generatedNote}`),
  };
}

/** What cluster-init applies, in order (the namespace apart). */
export function clusterManifests(spec: ClusterSpec): JsonObject[] {
  return clusterObjects(spec, webhookFiles(spec));
}

/** Each file under deploy/ and its text. */
export function deployFileTexts(spec: ClusterSpec): { readonly name: string; readonly text: string }[] {
  return deployFiles(spec, webhookFiles(spec)).map((file) => ({
    name: file.name,
    text: manifestText(file.objects, `${file.header}\n(Written by scripts/write-manifests.ts from src/core/cluster/: edit those, not this file.)`),
  }));
}

/** cluster-init --dry-run: every object, the namespace first, under a comment naming the nodes it would label. */
export function dryRunText(spec: ClusterSpec, nodes: string): string {
  const header = `cmk cluster-init --dry-run: the objects it would apply in namespace ${spec.namespace}, in order.\nIt would also label ${nodes} cmk.intel.com/agent=true.`;
  return manifestText(
    [namespaceObject(spec), ...clusterManifests(spec)].map((object) => ({ object })),
    header,
  );
}
