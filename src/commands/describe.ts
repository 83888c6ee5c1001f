// cmk describe: print the node's pools and tasks as JSON (default) or YAML.
import type { Context } from "../app/context.ts";
import { apiCalls, defaultNamespace, kubeClient, notInitialisedError, openStore } from "../app/stores.ts";
import { findOverlaps } from "../core/checks.ts";
import { describeHolders, describeState, type Json, naturalCompare, sortedJson } from "../core/describe.ts";
import { usageError } from "../core/errors.ts";
import { emitYaml, type YamlValue } from "../formats/yaml.ts";
import type { describeFlags, OptionsOf } from "./flags.ts";
import type { CommandResult } from "./table.ts";

function toYamlValue(value: Json): YamlValue {
  if (Array.isArray(value)) return value.map(toYamlValue);
  if (value !== null && typeof value === "object") {
    return new Map(
      Object.keys(value)
        .sort(naturalCompare)
        .map((key) => [key, toYamlValue(value[key] as Json)]),
    );
  }
  return value;
}

export async function run(options: OptionsOf<typeof describeFlags>, context: Context): Promise<CommandResult> {
  if (options.allNodes) return describeAllNodes(options, context);
  const store = await openStore(options, context);
  const state = await store.read();
  if (state === null) throw notInitialisedError(store);
  const description = describeState(state, store.location);
  print(description, options, context);
  // Shown as it is, so the overlap can be seen; but no state whose lists share a CPU passes for sound.
  const overlap = findOverlaps(state)[0];
  if (overlap === undefined) return 0;
  context.log.error(
    `${store.location}: CPU lists ${overlap.a} and ${overlap.b} share CPU ${overlap.cpus}; every other command refuses this state: correct the document, or run cmk init to carve afresh`,
  );
  return "invalid-state";
}

function print(description: Json, options: OptionsOf<typeof describeFlags>, context: Context): void {
  context.stdout(options.output === "json" ? `${sortedJson(description)}\n` : emitYaml(toYamlValue(description)));
}

/** Every node's pools and holders, from the ConfigMaps of --namespace; unreadable ones are shown and end with exit 3. */
async function describeAllNodes(options: OptionsOf<typeof describeFlags>, context: Context): Promise<CommandResult> {
  if (options.confDir !== undefined) throw usageError("--all-nodes reads every node's ConfigMap; it cannot be combined with --conf-dir");
  const namespace = options.namespace ?? defaultNamespace;
  const client = await kubeClient(options, context);
  const { listNodeStates } = await import("../adapters/kubernetes/configmap-store.ts");
  const entries = await listNodeStates(await apiCalls(client, context), namespace);
  const nodes: { [node: string]: Json } = {};
  for (const entry of entries) {
    if (entry.state === null) {
      nodes[entry.nodeName] = { error: entry.error ?? "no state yet (run cmk init)", path: entry.location };
      if (entry.error !== undefined) context.log.error(entry.error);
      continue;
    }
    const described = describeState(entry.state, entry.location) as { [key: string]: Json };
    nodes[entry.nodeName] = { ...described, holders: describeHolders(entry.state) };
  }
  print({ namespace, nodes }, options, context);
  return entries.some((entry) => entry.error !== undefined) ? "invalid-state" : 0;
}
