// A group's id from its name, as /etc/group lists it (the socket of cmk agent is given to a group
// whose members may connect). Numbers are taken as ids.
import { readFileSync } from "node:fs";
import { CmkError } from "../core/errors.ts";

export function groupId(nameOrId: string, groupFile = "/etc/group"): number {
  if (/^\d{1,10}$/.test(nameOrId)) return Number(nameOrId);
  let text = "";
  try {
    text = readFileSync(groupFile, "utf8");
  } catch {
    // No group file: the name cannot be found, as below.
  }
  for (const line of text.split("\n")) {
    const [name, , id] = line.split(":");
    if (name === nameOrId && id !== undefined && /^\d+$/.test(id)) return Number(id);
  }
  throw new CmkError("usage", `--socket-group=${nameOrId}: no such group in ${groupFile}; give a group name or a numeric id`);
}
