// The webhook's two files, CMK's formats: the server configuration (`--conf-file`: a `server`
// mapping with binding-address, port, cert, key and mutations) and the mutations file (CMK's
// `mutations: {perPod, perContainer}`), text in, typed values out; every refusal names the file
// and what to change. Relative paths in the configuration are taken from its own directory.
import { dirname, isAbsolute, join } from "node:path";
import { CmkError } from "../core/errors.ts";
import { type Json, type Mutations, mutationsFrom } from "../core/mutations.ts";
import { parseYaml, type YamlValue } from "./yaml.ts";

export interface WebhookServerConfig {
  readonly address: string;
  /** 0: a free port, chosen by the kernel. */
  readonly port: number;
  readonly certFile: string;
  readonly keyFile: string;
  readonly mutationsFile: string;
}

/** CMK's keys, all required. */
const serverKeys = ["binding-address", "port", "cert", "key", "mutations"] as const;

/** A YAML value as JSON: mappings become objects (keys as text), as the API server's objects are. */
export function yamlToJson(value: YamlValue): Json {
  if (value instanceof Map) return Object.fromEntries([...value].map(([key, item]) => [String(key), yamlToJson(item)]));
  if (Array.isArray(value)) return value.map(yamlToJson);
  return value;
}

function parse(text: string, source: string): YamlValue {
  try {
    return parseYaml(text, source);
  } catch (error) {
    throw new CmkError("usage", error instanceof Error ? error.message : String(error), { cause: error });
  }
}

/**
 * The server configuration in `text` (read from `source`). `checkAddress` validates the binding
 * address (the caller's IP-address rule); unknown keys are returned for a warning, not refused.
 */
export function parseWebhookConfig(
  text: string,
  source: string,
  checkAddress: (what: string, text: string) => string,
): { readonly config: WebhookServerConfig; readonly unknownKeys: readonly string[] } {
  const document = yamlToJson(parse(text, source));
  const fail = (message: string): never => {
    throw new CmkError("usage", `webhook configuration ${source}: ${message}`);
  };
  const server = typeof document === "object" && document !== null && !Array.isArray(document) ? document["server"] : undefined;
  if (typeof server !== "object" || server === null || Array.isArray(server)) {
    return fail(`expected a mapping "server" with the keys ${serverKeys.join(", ")}`);
  }
  const missing = serverKeys.filter((key) => server[key] === undefined || server[key] === null || server[key] === "");
  if (missing.length > 0)
    fail(`server.${missing.join(", server.")} ${missing.length === 1 ? "is" : "are"} missing (all of ${serverKeys.join(", ")} are required)`);
  const text_ = (key: (typeof serverKeys)[number]): string => {
    const value = server[key];
    if (typeof value !== "string" && typeof value !== "number") return fail(`server.${key} must be a string`);
    return String(value);
  };
  const portText = text_("port").trim();
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : Number.NaN;
  if (!(port >= 0 && port <= 65535))
    fail(`server.port=${JSON.stringify(server["port"])} is not a port: expected a whole number from 0 to 65535 (0 picks a free one)`);
  let address: string;
  try {
    address = checkAddress("server.binding-address", text_("binding-address"));
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error));
  }
  const base = dirname(source);
  const path = (key: "cert" | "key" | "mutations"): string => {
    const value = text_(key);
    return isAbsolute(value) ? value : join(base, value);
  };
  return {
    config: { address, port, certFile: path("cert"), keyFile: path("key"), mutationsFile: path("mutations") },
    unknownKeys: Object.keys(server).filter((key) => !(serverKeys as readonly string[]).includes(key)),
  };
}

/** The mutations in a mutations file's text (CMK's format); a refusal names the file and the key. */
export function parseMutations(text: string, source: string): Mutations {
  return mutationsFrom(yamlToJson(parse(text, source)), source);
}
