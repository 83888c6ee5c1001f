// A small typed client for the few REST calls cmk makes (get, create, update and patch of
// ConfigMaps, Nodes and cmk's report resources), over a few kept-alive HTTP/1.1 connections (http1.ts).
// Not @kubernetes/client-node: importing it takes about 370 ms, ten times cmk isolate's whole
// start-up, and isolate talks to the API server on every workload launch (README, "Kubernetes
// client"). Every failure becomes one line a user can act on: the verb, the object, the HTTP status
// and the server's own message. Only what may pass is transient (the server unreachable, 429, 5xx):
// an untrusted server certificate or a failing credential plugin is reported at once, not retried.
// An exec plugin's token is shared by concurrent requests and kept until its expirationTimestamp,
// or until the server refuses it (401), when the plugin runs again, as kubectl's client does.
import { type ExecFileException, execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { rootCertificates } from "node:tls";
import { CmkError, describeCause } from "../../core/errors.ts";
import { Http1Connections } from "./http1.ts";
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

  /** `transient` defaults to what the status says: not reached, 429 or 5xx. */
  constructor(request: ApiRequest, status: number, message: string, cause?: unknown, transient?: boolean) {
    super("api", message, cause === undefined ? {} : { cause });
    this.status = status;
    this.verb = request.verb;
    this.transient = transient ?? (status === 0 || status === 429 || status >= 500);
  }
}

/** OpenSSL's and Node's codes for a server certificate that does not verify: no retry will change it. */
const untrustedCertificate = new Set([
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_DECRYPT_CERT_SIGNATURE",
  "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY",
  "CERT_SIGNATURE_FAILURE",
  "CERT_NOT_YET_VALID",
  "CERT_HAS_EXPIRED",
  "ERROR_IN_CERT_NOT_BEFORE_FIELD",
  "ERROR_IN_CERT_NOT_AFTER_FIELD",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "CERT_CHAIN_TOO_LONG",
  "CERT_REVOKED",
  "INVALID_CA",
  "PATH_LENGTH_EXCEEDED",
  "INVALID_PURPOSE",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "HOSTNAME_MISMATCH",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/** A bearer token and whether it was kept from an earlier request (so a 401 may mean it went stale). */
interface Bearer {
  readonly token: string | undefined;
  readonly kept: boolean;
}

interface ExecToken {
  readonly token: string;
  readonly expires: number;
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
  private pool: Http1Connections | undefined;
  /** The server URL's own path (a proxy's prefix), put before every request's path. */
  private readonly basePath: string;
  private execToken: ExecToken | undefined;
  /** The plugin's run in progress, which concurrent requests wait for instead of starting their own. */
  private execRun: Promise<ExecToken> | undefined;

  constructor(access: ClusterAccess) {
    this.access = access;
    this.server = access.server;
    this.source = access.source;
    this.basePath = new URL(access.server).pathname.replace(/\/+$/, "");
  }

  /** Sends a request; any HTTP status comes back as a response, an unreachable server as an ApiError. */
  async send<T = unknown>(request: ApiRequest): Promise<ApiResponse<T>> {
    const bearer = await this.bearerToken(request);
    const response = await this.attempt<T>(request, bearer.token);
    if (response.status === 401 && this.access.credentials.kind === "exec" && bearer.token !== undefined) {
      // The server no longer takes the plugin's token (revoked, or expired early): run the plugin
      // again, and send once more when the refused token was an old one (a 401 changed nothing).
      if (this.execToken?.token === bearer.token) this.execToken = undefined;
      if (bearer.kept) return this.attempt<T>(request, (await this.bearerToken(request)).token);
    }
    return response;
  }

  private async attempt<T>(request: ApiRequest, token: string | undefined): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { Accept: "application/json", "User-Agent": "cmk" };
    if (token !== undefined) headers["Authorization"] = `Bearer ${token}`;
    const payload = request.body === undefined ? undefined : typeof request.body === "string" ? request.body : JSON.stringify(request.body);
    if (payload !== undefined) headers["Content-Type"] = request.contentType ?? "application/json";
    headers["Content-Length"] = String(payload === undefined ? 0 : Buffer.byteLength(payload));
    let response: Awaited<ReturnType<Http1Connections["request"]>>;
    try {
      response = await this.connections().request({
        method: methods[request.verb],
        path: this.basePath + request.path,
        headers,
        body: payload,
        timeoutMs: request.timeoutMs ?? 10_000,
      });
    } catch (error) {
      throw this.unreachable(request, error);
    }
    const retryAfter = Number(response.headers["retry-after"]);
    return {
      status: response.status,
      body: parseBody(response.body.toString("utf8"), response.headers["content-type"]) as T,
      retryAfterSeconds: Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined,
    };
  }

  /** Sends a request and returns its body when the status is 2xx; anything else is an ApiError. */
  async call<T = unknown>(request: ApiRequest): Promise<T> {
    const response = await this.send<T>(request);
    if (response.status < 200 || response.status > 299) throw unexpectedResponse(request, response);
    return response.body;
  }

  /** Closes the kept-alive connections, so the process can exit at once. */
  close(): void {
    this.pool?.close();
  }

  private connections(): Http1Connections {
    if (this.pool === undefined) {
      const url = new URL(this.server);
      const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
      const credentials = this.access.credentials;
      const servername = this.access.tlsServerName ?? (isIP(host) === 0 ? host : undefined);
      this.pool = new Http1Connections({
        host,
        port: url.port === "" ? 443 : Number(url.port),
        ...(servername === undefined ? {} : { servername }),
        ...(this.access.ca === undefined ? publicRoots() : { ca: this.access.ca }),
        ...(credentials.kind === "certificate" ? { cert: credentials.cert, key: credentials.key } : {}),
      });
    }
    return this.pool;
  }

  private async bearerToken(request: ApiRequest): Promise<Bearer> {
    const credentials = this.access.credentials;
    switch (credentials.kind) {
      case "token":
        return { token: credentials.token, kept: false };
      case "token-file":
        try {
          return { token: readFileSync(credentials.path, "utf8").trim(), kept: false };
        } catch (error) {
          throw new ApiError(request, 0, `cannot read the token file ${credentials.path} (${this.source}): ${describeCause(error)}`, error, false);
        }
      case "exec":
        return this.tokenFromPlugin(credentials.plugin, request);
      default:
        return { token: undefined, kept: false };
    }
  }

  /** The exec plugin's token: kept until it expires (renewed 10 s early), one run of the plugin for all who wait. */
  private async tokenFromPlugin(plugin: ExecPlugin, request: ApiRequest): Promise<Bearer> {
    if (this.execToken !== undefined && Date.now() < this.execToken.expires) return { token: this.execToken.token, kept: true };
    this.execRun ??= this.runPlugin(plugin, request).finally(() => {
      this.execRun = undefined;
    });
    const fresh = await this.execRun;
    return { token: fresh.token, kept: false };
  }

  private async runPlugin(plugin: ExecPlugin, request: ApiRequest): Promise<ExecToken> {
    const which = `the credential plugin ${plugin.command} (${this.source})`;
    const execInfo = JSON.stringify({ apiVersion: plugin.apiVersion, kind: "ExecCredential", spec: { interactive: false } });
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        plugin.command,
        [...plugin.args],
        { env: { ...process.env, ...plugin.env, KUBERNETES_EXEC_INFO: execInfo }, timeout: pluginTimeoutMs, maxBuffer: 1 << 20 },
        (error, out, err) => {
          if (error === null) {
            resolve(out);
            return;
          }
          const said = err.trim().split("\n")[0];
          reject(new ApiError(request, 0, `${which} failed: ${howPluginFailed(error)}${said ? `: ${said}` : ""}`, error, false));
        },
      );
    });
    let credential: unknown;
    try {
      credential = JSON.parse(stdout);
    } catch (error) {
      throw new ApiError(request, 0, `${which} printed no ExecCredential JSON on its standard output`, error, false);
    }
    const status = typeof credential === "object" && credential !== null ? (credential as { status?: unknown }).status : undefined;
    if (typeof status !== "object" || status === null) {
      throw new ApiError(request, 0, `${which} printed no ExecCredential JSON with a status on its standard output`, undefined, false);
    }
    const { token, expirationTimestamp, clientCertificateData } = status as { token?: unknown; expirationTimestamp?: unknown; clientCertificateData?: unknown };
    if (typeof token !== "string" || token === "") {
      throw new ApiError(
        request,
        0,
        clientCertificateData === undefined
          ? `${which} gave no status.token; cmk takes a bearer token from a plugin`
          : `${which} gave a client certificate, and cmk takes only a bearer token from a plugin; put the certificate in the kubeconfig (client-certificate-data, client-key-data) instead`,
        undefined,
        false,
      );
    }
    const expiry = typeof expirationTimestamp === "string" ? Date.parse(expirationTimestamp) : Number.NaN;
    this.execToken = { token, expires: Number.isFinite(expiry) ? expiry - 10_000 : Number.POSITIVE_INFINITY };
    return this.execToken;
  }

  private unreachable(request: ApiRequest, error: unknown): ApiError {
    if (error instanceof ApiError) return error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== undefined && untrustedCertificate.has(code)) {
      // Node's own advice ("try running Node.js with --use-system-ca") is not one a cmk user can take.
      const cause = describeCause(error).replace(/; if the root CA is installed locally.*$/, "");
      return new ApiError(
        request,
        0,
        `cannot ${request.verb} ${request.what}: the API server ${this.server} is not trusted: ${cause}; check the certificate authority and server name of ${this.source}`,
        error,
        false,
      );
    }
    return new ApiError(request, 0, `cannot ${request.verb} ${request.what}: the API server ${this.server} did not answer: ${describeCause(error)}`, error);
  }
}

const pluginTimeoutMs = 30_000;

/**
 * The authorities a kubeconfig without its own CA trusts: Node's, and those of NODE_EXTRA_CA_CERTS,
 * which the launchers keep from cmk's runtime (every TLS start-up would read the file) and give
 * back to the environment; read here only when needed, and ignored when unreadable, as Node does.
 */
function publicRoots(): { ca?: string[] } {
  const extra = process.env["NODE_EXTRA_CA_CERTS"];
  if (extra === undefined || extra === "") return {};
  try {
    return { ca: [...rootCertificates, readFileSync(extra, "utf8")] };
  } catch {
    return {};
  }
}

/** Why execFile failed, in one line (its own message repeats the command and the whole standard error). */
function howPluginFailed(error: ExecFileException): string {
  if (error.killed === true && error.signal === "SIGTERM") return `no answer within ${pluginTimeoutMs / 1000} s`;
  if (error.signal !== undefined && error.signal !== null) return `killed by ${error.signal}`;
  if (typeof error.code === "number") return `exit status ${error.code}`;
  if (error.code === "ENOENT") return "no such command (is it installed, and on PATH?)";
  return describeCause(error);
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
