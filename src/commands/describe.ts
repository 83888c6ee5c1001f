// cmk describe: print the node's pools and tasks as JSON (default) or YAML.
import { choiceValue, type ParsedArgs } from "../cli/args.ts";
import { openStore, notInitialised, type Context } from "../cli/context.ts";
import { describeState, naturalCompare, sortedJson, type Json } from "../core/describe.ts";
import { emitYaml, type YamlValue } from "../formats/yaml.ts";

function toYamlValue(value: Json): YamlValue {
  if (Array.isArray(value)) return value.map(toYamlValue);
  if (value !== null && typeof value === "object") {
    return new Map(Object.keys(value).sort(naturalCompare).map((key) => [key, toYamlValue(value[key] as Json)]));
  }
  return value;
}

export async function run(args: ParsedArgs, context: Context): Promise<number> {
  const output = choiceValue("--output", args.values.get("output") as string, ["json", "yaml"] as const);
  const store = openStore(args, context);
  const state = await store.read();
  if (state === null) {
    throw notInitialised(store);
  }
  const description = describeState(state, store.location);
  context.stdout(output === "json" ? `${sortedJson(description)}\n` : emitYaml(toYamlValue(description)));
  return 0;
}
