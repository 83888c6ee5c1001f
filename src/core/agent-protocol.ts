// The agent protocol of docs/agent-protocol.md, version 1, as pure functions: a request line to a
// typed request (or the one-line error the agent replies with), and replies to text. The agent and
// the TypeScript client share this; the native client speaks the same text.
import { CmkError, type ErrorKind } from "./errors.ts";
import { isPoolName, type PoolName, poolNames } from "./pools.ts";

export const protocolVersion = "CMK/1";
/** The longest request line, newline included. */
export const maxRequestBytes = 4096;

export interface AllocateRequest {
  readonly operation: "allocate";
  readonly pool: PoolName;
  readonly count: number;
  /** -1: any socket. */
  readonly socket: number;
  readonly affinity: boolean;
  readonly argv0: string;
  /** The store the client's flags name (an absolute conf dir), when they name one. */
  readonly store: string | undefined;
}

export type AgentRequest = AllocateRequest | { readonly operation: "status" } | { readonly operation: "describe" };

/** Reads one request line (without its newline); a malformed one is a usage CmkError saying what is wrong. */
export function parseRequest(line: string): AgentRequest {
  const [version, operation, ...fields] = line.split(" ");
  if (version !== protocolVersion) {
    throw new CmkError(
      "usage",
      `unsupported protocol ${JSON.stringify((version ?? "").slice(0, 16))}: this agent speaks ${protocolVersion} (docs/agent-protocol.md)`,
    );
  }
  const values = new Map<string, string>();
  for (const field of fields) {
    const equals = field.indexOf("=");
    if (equals <= 0) throw new CmkError("usage", `malformed field ${JSON.stringify(field.slice(0, 32))}: fields are key=value`);
    const key = field.slice(0, equals);
    if (values.has(key)) throw new CmkError("usage", `field ${key} given twice`);
    values.set(key, percentDecode(field.slice(equals + 1), key));
  }
  switch (operation) {
    case "allocate":
      return allocateRequest(values);
    case "status":
    case "describe":
      refuseUnknown(values, []);
      return { operation };
    default:
      throw new CmkError("usage", `unknown operation ${JSON.stringify((operation ?? "").slice(0, 32))}: allocate, status or describe`);
  }
}

function allocateRequest(values: ReadonlyMap<string, string>): AllocateRequest {
  refuseUnknown(values, ["pool", "count", "socket", "affinity", "argv0", "store"]);
  const pool = values.get("pool");
  if (pool === undefined || !isPoolName(pool)) {
    throw new CmkError("usage", `pool=${pool ?? ""} is not a pool: one of ${poolNames.join(", ")}`, { field: "pool" });
  }
  const count = integerField(values, "count", 1, 1, 8192);
  const socket = integerField(values, "socket", -1, -1, 65535);
  const affinity = values.get("affinity") ?? "1";
  if (affinity !== "0" && affinity !== "1") throw new CmkError("usage", `affinity=${affinity} must be 1 or 0`);
  return { operation: "allocate", pool, count, socket, affinity: affinity === "1", argv0: values.get("argv0") ?? "", store: values.get("store") };
}

function refuseUnknown(values: ReadonlyMap<string, string>, known: readonly string[]): void {
  for (const key of values.keys()) if (!known.includes(key)) throw new CmkError("usage", `unknown field ${JSON.stringify(key.slice(0, 32))}`);
}

function integerField(values: ReadonlyMap<string, string>, key: string, fallback: number, min: number, max: number): number {
  const text = values.get(key);
  if (text === undefined) return fallback;
  const value = /^-?\d{1,6}$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= min && value <= max)) throw new CmkError("usage", `${key}=${text.slice(0, 16)} must be a whole number from ${min} to ${max}`);
  return value;
}

function percentDecode(text: string, key: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new CmkError("usage", `field ${key} is not percent-encoded UTF-8`);
  }
}

/** A value as a request field: percent-encoded, so it never holds a space or a newline. */
export function percentEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function formatRequest(request: AgentRequest): string {
  if (request.operation !== "allocate") return `${protocolVersion} ${request.operation}\n`;
  const fields = [
    `pool=${request.pool}`,
    `count=${request.count}`,
    `socket=${request.socket}`,
    `affinity=${request.affinity ? 1 : 0}`,
    `argv0=${percentEncode(request.argv0)}`,
    ...(request.store === undefined ? [] : [`store=${percentEncode(request.store)}`]),
  ];
  return `${protocolVersion} allocate ${fields.join(" ")}\n`;
}

/** A success: the status line, the body lines, the empty line. */
export function formatOk(body: readonly string[]): string {
  return `${protocolVersion} ok\n${body.map((line) => `${line}\n`).join("")}\n`;
}

/** A failure with the exit status `cmk isolate` would end with, and one line of message. */
export function formatError(status: number, message: string): string {
  return `${protocolVersion} error ${status} ${message.replace(/[\r\n]+/g, " ")}\n\n`;
}

export type Reply = { readonly ok: true; readonly body: readonly string[] } | { readonly ok: false; readonly status: number; readonly message: string };

/** Reads a whole reply (status line to the empty line); null when the text is not one. */
export function parseReply(text: string): Reply | null {
  if (!text.endsWith("\n\n")) return null;
  const [status = "", ...body] = text.slice(0, -2).split("\n");
  if (status === `${protocolVersion} ok`) return { ok: true, body };
  const failure = /^CMK\/1 error (\d{1,3}) (.*)$/.exec(status);
  if (failure === null || body.length > 0) return null;
  return { ok: false, status: Number(failure[1]), message: failure[2] ?? "" };
}

/** The kinds an agent's failure can have, for a client that maps the status back. */
export type ReplyKind = ErrorKind;
