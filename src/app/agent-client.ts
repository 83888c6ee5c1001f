// The TypeScript side of `cmk isolate`'s conversation with a running `cmk agent`
// (docs/agent-protocol.md): one request, one reply, and the connection kept open as the lease on
// what was given. The native client of the launcher does the same without starting Node.js; this
// one serves every case that client leaves to the TypeScript path.
import { createConnection, type Socket } from "node:net";
import { type AllocateRequest, formatRequest, parseReply } from "../core/agent-protocol.ts";
import { CmkError, type ErrorKind } from "../core/errors.ts";
import { exitStatuses } from "./exit-statuses.ts";

export type AgentAnswer =
  /** Lists given: the CMK_CPUS_* variables, and the connection to keep open while they are used. */
  | { readonly kind: "allocated"; readonly env: Readonly<Record<string, string>>; readonly lease: Socket }
  /** No agent here, or not one for this store: do without it. */
  | { readonly kind: "no-agent"; readonly why: string };

/** Asks the agent at `path`; an agent's refusal (a pool exhausted, ...) is thrown as the CmkError it names. */
export async function askAgent(path: string, request: AllocateRequest, timeoutMs: number): Promise<AgentAnswer> {
  const socket = createConnection(path);
  const connected = await new Promise<string | null>((resolve) => {
    socket.once("connect", () => resolve(null));
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
  if (connected !== null) {
    socket.destroy();
    return { kind: "no-agent", why: `cannot connect to ${path}: ${connected}` };
  }
  const text = await new Promise<string>((resolve, reject) => {
    let received = "";
    const timer = setTimeout(() => reject(new CmkError("failure", `the agent at ${path} did not answer within ${(timeoutMs / 1000).toFixed(1)} s`)), timeoutMs);
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      received += chunk;
      if (received.endsWith("\n\n")) {
        clearTimeout(timer);
        resolve(received);
      }
    });
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(received);
    });
    socket.write(formatRequest(request));
  });
  const reply = parseReply(text);
  if (reply === null) {
    socket.destroy();
    throw new CmkError("failure", `the agent at ${path} answered something that is not a reply (${JSON.stringify(text.slice(0, 80))}); check its version`);
  }
  if (!reply.ok) {
    socket.destroy();
    if (reply.status === exitStatuses.usage) return { kind: "no-agent", why: `the agent at ${path} refused: ${reply.message}` };
    throw new CmkError(kindOf(reply.status), reply.message);
  }
  socket.removeAllListeners("data");
  socket.on("error", () => {});
  const env: Record<string, string> = {};
  for (const line of reply.body) {
    const equals = line.indexOf("=");
    if (equals > 0 && line.startsWith("CMK_CPUS_")) env[line.slice(0, equals)] = line.slice(equals + 1);
  }
  return { kind: "allocated", env, lease: socket };
}

function kindOf(status: number): ErrorKind {
  const found = (Object.entries(exitStatuses) as [ErrorKind, number][]).find(([, value]) => value === status);
  return found?.[0] ?? "failure";
}
