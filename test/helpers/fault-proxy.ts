// A fault proxy between cmk and the real API server, on loopback. Why: the ConfigMap store's
// promises (a change is all or nothing, transient failures are retried within CMK_LOCK_TIMEOUT,
// a failure is one line naming what failed) are about what a real API server does when it is
// overloaded, partitioned or slow, and a real control plane does none of that on demand. The
// proxy terminates TLS with a serving certificate from the control plane's own CA (so cmk trusts
// it through an ordinary kubeconfig), and re-sends each request to the real API server with the
// admin client certificate, unless the fault the test chose for that request says otherwise: an
// HTTP status of its own (409, 429 with Retry-After, 500), a delay, the connection dropped before
// the request reaches the server, or dropped after the server carried it out (the answer lost:
// the write happened, the writer cannot know). Tests keep their own processes asynchronous while
// it serves (spawnCmk and collect, never runCmk: a blocked event loop would stall the proxy).
import { writeFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { Agent, createServer, request as httpsRequest, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { kubeconfigAccess } from "../../src/adapters/kubernetes/kubeconfig.ts";
import type { ControlPlane } from "./controlplane.ts";
import { kubeconfigText } from "./kubeconfig.ts";

/** What the proxy does with one request. */
export type Fault =
  | { readonly kind: "pass" }
  /** Answers with this status and a Kubernetes Status body, without asking the server. */
  | { readonly kind: "status"; readonly status: number; readonly retryAfter?: number; readonly message?: string }
  /** Waits, then passes the request on. */
  | { readonly kind: "delay"; readonly ms: number }
  /** Drops the connection before the server sees the request. */
  | { readonly kind: "drop" }
  /** Passes the request on, then drops the connection instead of answering. */
  | { readonly kind: "drop-after" };

export interface ProxiedRequest {
  /** 0, 1, 2, ... in the order requests arrived. */
  readonly index: number;
  readonly verb: "get" | "list" | "create" | "update" | "patch" | "delete";
  readonly path: string;
  /** When it arrived, on performance.now()'s clock. */
  readonly at: number;
  /** What the proxy did with it. */
  fault: Fault["kind"];
  /** The status the client got (0: none, the connection was dropped). */
  status: number;
}

export type FaultPolicy = (request: ProxiedRequest) => Fault;

export interface FaultProxy {
  /** https://127.0.0.1:<port> */
  readonly url: string;
  /** A kubeconfig naming the proxy as the server, with the admin client certificate. */
  readonly kubeconfig: string;
  /** Every request so far. */
  readonly requests: readonly ProxiedRequest[];
  /** Changes what the proxy does from the next request on. */
  setPolicy(policy: FaultPolicy): void;
  close(): Promise<void>;
}

export const pass: FaultPolicy = () => ({ kind: "pass" });

const reasons: Readonly<Record<number, string>> = {
  409: "Conflict",
  429: "TooManyRequests",
  500: "InternalError",
  503: "ServiceUnavailable",
};

/** Starts a proxy in front of `cp`'s API server; `dir` holds its kubeconfig. */
export async function startFaultProxy(cp: ControlPlane, dir: string, policy: FaultPolicy = pass): Promise<FaultProxy> {
  const access = kubeconfigAccess([cp.kubeconfig]);
  const credentials = access.credentials;
  if (credentials.kind !== "certificate") throw new Error("the admin kubeconfig has no client certificate");
  const upstream = new URL(cp.server);
  const agent = new Agent({ ca: access.ca, cert: credentials.cert, key: credentials.key, keepAlive: true, maxSockets: 64 });
  const { cert, key } = await cp.issueServingCert("fault-proxy");
  const requests: ProxiedRequest[] = [];
  let current = policy;

  const server: Server = createServer({ cert, key }, (incoming, outgoing) => {
    const request: ProxiedRequest = {
      index: requests.length,
      verb: verbOf(incoming.method ?? "GET", incoming.url ?? "/"),
      path: incoming.url ?? "/",
      at: performance.now(),
      fault: "pass",
      status: 0,
    };
    requests.push(request);
    const fault = current(request);
    request.fault = fault.kind;
    const chunks: Buffer[] = [];
    incoming.on("data", (chunk: Buffer) => chunks.push(chunk));
    incoming.on("end", () => {
      const body = Buffer.concat(chunks);
      switch (fault.kind) {
        case "status":
          request.status = fault.status;
          answer(outgoing, fault);
          return;
        case "drop":
          incoming.socket.destroy();
          return;
        case "delay":
          setTimeout(() => forward(incoming, body, outgoing, request, false), fault.ms).unref();
          return;
        default:
          forward(incoming, body, outgoing, request, fault.kind === "drop-after");
      }
    });
  });

  function forward(incoming: IncomingMessage, body: Buffer, outgoing: ServerResponse, request: ProxiedRequest, dropAnswer: boolean): void {
    if (incoming.socket.destroyed) return; // the client gave up waiting
    const headers = { ...incoming.headers };
    delete headers["host"];
    delete headers["connection"];
    const upstreamRequest = httpsRequest(
      { hostname: upstream.hostname, port: upstream.port, method: incoming.method, path: incoming.url, headers, agent },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => {
          if (dropAnswer) {
            incoming.socket.destroy();
            return;
          }
          request.status = response.statusCode ?? 0;
          const answerHeaders = { ...response.headers };
          delete answerHeaders["connection"];
          delete answerHeaders["transfer-encoding"];
          answerHeaders["content-length"] = String(Buffer.concat(chunks).length);
          outgoing.writeHead(response.statusCode ?? 502, answerHeaders);
          outgoing.end(Buffer.concat(chunks));
        });
      },
    );
    upstreamRequest.on("error", () => incoming.socket.destroy());
    upstreamRequest.end(body);
  }

  server.listen(0, "127.0.0.1");
  await new Promise<void>((resolve) => server.once("listening", resolve));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const kubeconfig = join(dir, `fault-proxy-${(server.address() as AddressInfo).port}.kubeconfig`);
  writeFileSync(
    kubeconfig,
    kubeconfigText(
      { server: url, ca: cp.caCert },
      `    client-certificate-data: ${Buffer.from(credentials.cert).toString("base64")}\n    client-key-data: ${Buffer.from(credentials.key).toString("base64")}\n`,
    ),
  );
  return {
    url,
    kubeconfig,
    requests,
    setPolicy: (next) => {
      current = next;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
        agent.destroy();
      }),
  };
}

/** A Kubernetes Status answer, as the API server (or a proxy before it) sends one. */
function answer(outgoing: ServerResponse, fault: Extract<Fault, { kind: "status" }>): void {
  const reason = reasons[fault.status] ?? "InternalError";
  const body = JSON.stringify({
    kind: "Status",
    apiVersion: "v1",
    status: "Failure",
    message: fault.message ?? `injected by the fault proxy: ${reason}`,
    reason,
    code: fault.status,
  });
  const headers: Record<string, string> = { "Content-Type": "application/json", "Content-Length": String(Buffer.byteLength(body)) };
  if (fault.retryAfter !== undefined) headers["Retry-After"] = String(fault.retryAfter);
  outgoing.writeHead(fault.status, headers);
  outgoing.end(body);
}

function verbOf(method: string, url: string): ProxiedRequest["verb"] {
  switch (method) {
    case "POST":
      return "create";
    case "PUT":
      return "update";
    case "PATCH":
      return "patch";
    case "DELETE":
      return "delete";
    default:
      // A collection's path ends in its resource (…/configmaps), an object's in its name.
      return /\/configmaps(\?|$)/.test(url) ? "list" : "get";
  }
}

/** A policy that applies `fault` to the requests `matches` picks, at most `times` times (all when omitted), and passes the rest. */
export function faultOn(matches: (request: ProxiedRequest) => boolean, fault: Fault, times = Number.POSITIVE_INFINITY): FaultPolicy {
  let applied = 0;
  return (request) => {
    if (applied < times && matches(request)) {
      applied++;
      return fault;
    }
    return { kind: "pass" };
  };
}
