// A small typed client for the few REST calls cmk makes (get, create, update and patch of
// ConfigMaps, Nodes and cmk's report resources), over node:https with one keep-alive connection.
// Not @kubernetes/client-node: importing it takes about 370 ms, ten times cmk isolate's whole
// start-up, and isolate talks to the API server on every workload launch (README, "Kubernetes
// client"). Every failure becomes one line a user can act on: the verb, the object, the HTTP status
// and the server's own message.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { Agent, request as httpsRequest } from "node:https";
import { CmkError, describeCause } from "../../core/errors.ts";
import type { ClusterAccess, ExecPlugin } from "./kubeconfig.ts";

export type Verb = "get" | "list" | "create" | "update" | "patch" | "delete";

const methods: Readonly<Record<Verb, string>> = { get: "GET", list: "GET", create: "POST", update: "PUT", patch: "PATCH", delete: "DELETE" };

export interface ApiRequest {
  readonly verb: Verb;
  /** The path below the server, e.g. /api/v1/namespaces/default/configmaps/cmk-config-node1. */
  readonly path: string;
  /** The object as a user names it, for messages ("configmap default/cmk-config-node1"). */
  readonly what: string;
  readonly body?: unknown;
  /** Defaults to application/json; PATCH names its patch type. */
  readonly contentType?: string;
  /** Milliseconds before the request is abandoned (default 10 s). */
  readonly timeoutMs?: number;
}

export interface ApiResponse<T = unknown> {
  readonly status: number;
  readonly body: T;
  /** Seconds the server asked us to wait (429, 503), when it said so. */
  readonly retryAfterSeconds: number | undefined;
}

/** A failed API call: the status (0 when the server was not reached) and whether trying again may help. */
export class ApiError extends CmkError {
  readonly status: number;
  readonly verb: Verb;
  readonly transient: boolean;

  constructor(request: ApiRequest, status: number, message: string, cause?: unknown) {
    super("api", message, cause === undefined ? {} : { cause });
    this.status = status;
    this.verb = request.verb;
    this.transient = status === 0 || status === 429 || status >= 500;
  }
}

interface StatusBody {
  readonly kind?: string;
  readonly message?: string;
  readonly reason?: string;
}

/** The one-line error for a response the caller did not expect. */
export function unexpectedResponse(request: ApiRequest, response: ApiResponse): ApiError {
  const body = response.body as StatusBody | string | null;
  const serverSays = typeof body === "string" ? body.trim().split("\n")[0] : body?.message;
  const reason = typeof body === "object" && body?.reason !== undefined ? ` ${body.reason}` : "";
  return new ApiError(
    request,
    response.status,
    `cannot ${request.verb} ${request.what}: HTTP ${response.status}${reason}${serverSays ? `: ${serverSays}` : ""}${hintFor(response.status)}`,
  );
}

function hintFor(status: number): string {
  if (status === 401) return " (the credentials were refused: check the kubeconfig's user or the pod's service-account token)";
  if (status === 403) return " (grant it through the Role in deploy/, or use an account that has it)";
  return "";
}

export class KubeClient {
  readonly server: string;
  readonly source: string;
  private readonly access: ClusterAccess;
  private agent: Agent | undefined;
  private execToken: { readonly token: string; readonly expires: number } | undefined;

  constructor(access: ClusterAccess) {
    this.access = access;
    this.server = access.server;
    this.source = access.source;
  }

  /** Sends a request; any HTTP status comes back as a response, an unreachable server as an ApiError. */
  async send<T = unknown>(request: ApiRequest): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { Accept: "application/json", "User-Agent": "cmk" };
    const token = await this.bearerToken(request);
    if (token !== undefined) headers["Authorization"] = `Bearer ${token}`;
    const payload = request.body === undefined ? undefined : typeof request.body === "string" ? request.body : JSON.stringify(request.body);
    if (payload !== undefined) {
      headers["Content-Type"] = request.contentType ?? "application/json";
      headers["Content-Length"] = String(Buffer.byteLength(payload));
    }
    const url = new URL(this.server + request.path);
    return new Promise((resolve, reject) => {
      const req = httpsRequest(url, { method: methods[request.verb], headers, agent: this.connection(), timeout: request.timeoutMs ?? 10_000 }, (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("error", (error) => reject(this.unreachable(request, error)));
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const retryAfter = Number(response.headers["retry-after"]);
          resolve({
            status: response.statusCode ?? 0,
            body: parseBody(text, response.headers["content-type"]) as T,
            retryAfterSeconds: Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined,
          });
        });
      });
      req.on("timeout", () => req.destroy(new Error(`no answer within ${((request.timeoutMs ?? 10_000) / 1000).toFixed(1)} s`)));
      req.on("error", (error) => reject(this.unreachable(request, error)));
      req.end(payload);
    });
  }

  /** Sends a request and returns its body when the status is 2xx; anything else is an ApiError. */
  async call<T = unknown>(request: ApiRequest): Promise<T> {
    const response = await this.send<T>(request);
    if (response.status < 200 || response.status > 299) throw unexpectedResponse(request, response);
    return response.body;
  }

  /** Closes the kept-alive connection, so the process can exit at once. */
  close(): void {
    this.agent?.destroy();
    this.agent = undefined;
  }

  private connection(): Agent {
    if (this.agent === undefined) {
      const credentials = this.access.credentials;
      this.agent = new Agent({
        keepAlive: true,
        maxSockets: 4,
        ...(this.access.ca === undefined ? {} : { ca: this.access.ca }),
        ...(this.access.tlsServerName === undefined ? {} : { servername: this.access.tlsServerName }),
        ...(credentials.kind === "certificate" ? { cert: credentials.cert, key: credentials.key } : {}),
      });
    }
    return this.agent;
  }

  private async bearerToken(request: ApiRequest): Promise<string | undefined> {
    const credentials = this.access.credentials;
    switch (credentials.kind) {
      case "token":
        return credentials.token;
      case "token-file":
        try {
          return readFileSync(credentials.path, "utf8").trim();
        } catch (error) {
          throw new ApiError(request, 0, `cannot read the token file ${credentials.path} (${this.source}): ${describeCause(error)}`, error);
        }
      case "exec":
        return this.tokenFromPlugin(credentials.plugin, request);
      default:
        return undefined;
    }
  }

  /** Runs the exec plugin once, and again when the token it gave has expired. */
  private async tokenFromPlugin(plugin: ExecPlugin, request: ApiRequest): Promise<string> {
    if (this.execToken !== undefined && Date.now() < this.execToken.expires) return this.execToken.token;
    const execInfo = JSON.stringify({ apiVersion: plugin.apiVersion, kind: "ExecCredential", spec: { interactive: false } });
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        plugin.command,
        [...plugin.args],
        { env: { ...process.env, ...plugin.env, KUBERNETES_EXEC_INFO: execInfo }, timeout: 30_000, maxBuffer: 1 << 20 },
        (error, out, err) => {
          if (error === null) resolve(out);
          else
            reject(
              new ApiError(
                request,
                0,
                `the credential plugin ${plugin.command} (${this.source}) failed: ${describeCause(error)}${err ? `: ${err.trim().split("\n")[0]}` : ""}`,
                error,
              ),
            );
        },
      );
    });
    let credential: { status?: { token?: string; expirationTimestamp?: string } };
    try {
      credential = JSON.parse(stdout) as typeof credential;
    } catch (error) {
      throw new ApiError(request, 0, `the credential plugin ${plugin.command} (${this.source}) printed no ExecCredential JSON`, error);
    }
    const token = credential.status?.token;
    if (typeof token !== "string" || token === "") {
      throw new ApiError(
        request,
        0,
        `the credential plugin ${plugin.command} (${this.source}) gave no status.token; cmk takes tokens from plugins, not certificates`,
      );
    }
    const expiry = Date.parse(credential.status?.expirationTimestamp ?? "");
    this.execToken = { token, expires: Number.isFinite(expiry) ? expiry - 10_000 : Number.POSITIVE_INFINITY };
    return token;
  }

  private unreachable(request: ApiRequest, error: unknown): ApiError {
    return error instanceof ApiError
      ? error
      : new ApiError(request, 0, `cannot ${request.verb} ${request.what}: the API server ${this.server} did not answer: ${describeCause(error)}`, error);
  }
}

function parseBody(text: string, contentType: string | undefined): unknown {
  if (text === "") return null;
  if (contentType?.includes("json") === true) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}
