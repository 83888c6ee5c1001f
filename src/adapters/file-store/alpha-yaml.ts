// cmk 2.0.0-alpha.1 kept the node state as YAML in <conf-dir>/state.yaml: the same document as
// state.json (`config` and `tasks`) in another text form. It is read as is, so an upgrade loses
// no pools and no running task, and kept as a backup once state.json replaces it.
import { decodeYamlStateFile } from "../../formats/state-document.ts";
import type { LegacyState } from "./legacy-state.ts";
import { readText } from "./read-text.ts";

const name = "state.yaml";

export const alphaYamlState: LegacyState = {
  name,
  backup: "state.yaml.cmk-2.0.0-alpha.1-backup",
  read(location) {
    const path = `${location}/${name}`;
    const text = readText(path);
    return text === null ? null : decodeYamlStateFile(text, path);
  },
};
