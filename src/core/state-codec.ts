// The text forms of the node state: the file store's single YAML document, whose `config` key
// holds CMK's pool document and `tasks` key the task identities beside it.
import { CmkError } from "./errors.ts";
import { poolDocument, readPoolDocument, readTaskDocument, taskDocument, type NodeState } from "./node-state.ts";
import { emitYaml, parseYaml, type YamlKey, type YamlValue } from "./yaml.ts";

const header = "# cmk node state. `config` is CMK's pool document (pool -> socket -> CPU list -> task PIDs);\n# `tasks` records each task's host PIDs and start times. Change it with cmk commands, not by hand.\n";

export function encodeStateFile(state: NodeState): string {
  const document = new Map<YamlKey, YamlValue>([["config", poolDocument(state)]]);
  const tasks = taskDocument(state);
  if (tasks.size > 0) document.set("tasks", tasks);
  return header + emitYaml(document);
}

export function decodeStateFile(text: string, source: string): NodeState {
  const document = parseYaml(text, source);
  if (!(document instanceof Map) || !document.has("config")) {
    throw new CmkError("invalid-state", `${source}: not a cmk state file (no "config" mapping at the top); restore it from its backup or remove it and run cmk init`);
  }
  for (const key of document.keys()) {
    if (key !== "config" && key !== "tasks") {
      throw new CmkError("invalid-state", `${source}: unexpected top-level key "${String(key)}"; only "config" and "tasks" belong here`);
    }
  }
  const pools = readPoolDocument(document.get("config") as YamlValue, source);
  const tasks = readTaskDocument(document.get("tasks"), source);
  return { pools, tasks };
}
