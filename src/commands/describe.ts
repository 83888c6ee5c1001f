// cmk describe: print the node's pools and tasks as JSON (default) or YAML.
import type { Context } from "../app/context.ts";
import { notInitialisedError, openStore } from "../app/stores.ts";
import { describeState, type Json, naturalCompare, sortedJson } from "../core/describe.ts";
import { emitYaml, type YamlValue } from "../formats/yaml.ts";
import type { describeFlags, OptionsOf } from "./flags.ts";

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

export async function run(options: OptionsOf<typeof describeFlags>, context: Context): Promise<number> {
  const store = await openStore(options, context);
  const state = await store.read();
  if (state === null) throw notInitialisedError(store);
  const description = describeState(state, store.location);
  context.stdout(options.output === "json" ? `${sortedJson(description)}\n` : emitYaml(toYamlValue(description)));
  return 0;
}
