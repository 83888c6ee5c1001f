// A real Kubernetes control plane (etcd, kube-apiserver, kube-scheduler,
// kube-controller-manager) for integration tests. Process management lives in
// scripts/controlplane; this module starts one, talks to its API over TLS,
// registers Node objects (there is no kubelet), creates namespaces once the
// controllers have set them up, mints service-account tokens and tears
// everything down.
//
//   import { useControlPlane } from '../helpers/controlplane.ts';
//   const cp = useControlPlane();          // before()/after() hooks for this file
//   it('...', async () => { const res = await cp().request('GET', '/api/v1/namespaces'); });

import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, readFile } from "node:fs/promises";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { after, before } from "node:test";

const REPO_ROOT = path.resolve(import.meta.dirname, "..", "..");
const SCRIPT = path.join(REPO_ROOT, "scripts", "controlplane");
const KUBECTL = process.env["KUBECTL"] ?? "/usr/bin/kubectl";

export interface ApiResponse<T = unknown> {
  status: number;
  /** Parsed JSON, or the raw text when the response is not JSON (null when empty). */
  body: T;
}

export interface RequestOptions {
  /** Defaults to application/json. Use application/merge-patch+json etc. for PATCH. */
  contentType?: string;
  /** Authenticate with this bearer token instead of the admin client certificate. */
  token?: string;
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Taint {
  key: string;
  value?: string;
  effect: "NoSchedule" | "PreferNoSchedule" | "NoExecute";
}

export interface NodeOptions {
  /** Merged over the defaults cpu=4, memory=8Gi, pods=110. */
  capacity: Record<string, string>;
  /** Defaults to capacity. */
  allocatable?: Record<string, string>;
  labels?: Record<string, string>;
  taints?: Taint[];
  /** Ready condition; default true. As in a real cluster, a not-ready node
   * keeps the node.kubernetes.io/not-ready:NoSchedule taint that admission
   * puts on new nodes; a ready one has it removed (the node lifecycle
   * controller's job, which is turned off here since no kubelet heartbeats).
   * Either way the Node keeps this status and its taints until a test
   * changes them. */
  ready?: boolean;
}

export interface ControlPlane {
  dir: string;
  /** Path of the admin kubeconfig (client certificate in group system:masters). */
  kubeconfig: string;
  /** https://127.0.0.1:<port> */
  server: string;
  /** PEM of the cluster CA. */
  caCert: string;
  /** The client certificate the API server presents to admission webhooks that ask for one
   * (admission.yaml), and the file of the CA of its own that signed it: a webhook's --cafile. */
  webhookClient: { caFile: string; cert: string; key: string };
  /** How long `scripts/controlplane up` took, in milliseconds. */
  startupMs: number;
  request<T = unknown>(method: string, apiPath: string, body?: unknown, options?: RequestOptions): Promise<ApiResponse<T>>;
  /** Runs kubectl as admin, or with the given bearer token only. Never throws on a non-zero exit. */
  kubectl(args: readonly string[], options?: { input?: string; token?: string }): Promise<CommandResult>;
  registerNode(name: string, options: NodeOptions): Promise<KubeObject>;
  /** Creates a namespace and resolves once the service-account controller
   * has given it its `default` ServiceAccount (Pods are not admitted
   * without it). */
  createNamespace(name: string): Promise<void>;
  /** A bound token for namespace/serviceAccount via the TokenRequest API. */
  createToken(namespace: string, serviceAccount: string, options?: { expirationSeconds?: number; audiences?: string[] }): Promise<string>;
  /** A serving certificate signed by the cluster CA (so the API server trusts
   * it), e.g. for an admission webhook the test serves on 127.0.0.1.
   * Default SANs: IP:127.0.0.1, DNS:localhost. */
  issueServingCert(name: string, sans?: string[]): Promise<{ cert: string; key: string }>;
  /** Stops the processes and removes dir. Idempotent. */
  stop(): Promise<void>;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; [key: string]: unknown };
  [key: string]: unknown;
}

export interface StartOptions {
  /** Empty or missing directory for all state; default: a fresh temp dir. */
  dir?: string;
  /** Readiness timeout in seconds passed to the script (default 90). */
  timeoutSeconds?: number;
  /** Also start a real node (kubelet, containerd) under dir/node: `up --with-node` (scripts/node). */
  withNode?: boolean;
}

const running = new Set<string>();
let exitHookInstalled = false;

// Last resort if the test process exits without stop(): tear down
// synchronously. (A SIGKILLed test process is covered by the watchdog the
// script starts for CMK_CONTROLPLANE_OWNER_PID.)
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const dir of running) {
      spawnSync(SCRIPT, ["down", dir], { stdio: "ignore" });
    }
  });
}

function run(command: string, args: readonly string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    child.on("error", (err) => reject(new Error(`cannot run ${command}`, { cause: err })));
    child.on("close", (code, signal) => resolve({ code: code ?? (signal === null ? 1 : 128), stdout, stderr }));
    child.stdin.end(options.input ?? "");
  });
}

/** KEY=value lines (controlplane.env, node.env) as a map. */
export function parseEnvFile(text: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) env.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return env;
}

function required(env: Map<string, string>, key: string): string {
  const value = env.get(key);
  if (value === undefined) throw new Error(`controlplane.env lacks ${key}`);
  return value;
}

/** Starts a control plane (under options.dir, or a fresh temporary directory) and returns a client for it. */
export async function startControlPlane(options: StartOptions = {}): Promise<ControlPlane> {
  const dir = options.dir ?? (await mkdtemp(path.join(os.tmpdir(), "cmk-cp-")));
  const { kubeconfig, startupMs } = await bringUp(dir, options);
  const credentials = await readCredentials(dir);
  const agents: Agents = {
    admin: new https.Agent({ ca: credentials.caCert, cert: credentials.adminCert, key: credentials.adminKey, keepAlive: true }),
    token: new https.Agent({ ca: credentials.caCert, keepAlive: true }),
  };
  const request = requester(new URL(credentials.server), agents);
  return {
    dir,
    kubeconfig,
    server: credentials.server,
    caCert: credentials.caCert,
    webhookClient: credentials.webhookClient,
    startupMs,
    request,
    kubectl: (args, opts = {}) => kubectl(kubeconfig, credentials, args, opts),
    registerNode: (name, opts) => registerNode(request, name, opts),
    createNamespace: (name) => createNamespace(request, name),
    createToken: (namespace, serviceAccount, opts = {}) => createToken(request, namespace, serviceAccount, opts),
    issueServingCert: (name, sans = []) => issueServingCert(dir, name, sans),
    stop: stopper(dir, agents),
  };
}

/** What `scripts/controlplane up` records in controlplane.env for clients. */
interface Credentials {
  server: string;
  caFile: string;
  caCert: string;
  adminCert: string;
  adminKey: string;
  webhookClient: { caFile: string; cert: string; key: string };
}

/** The HTTPS agents of the two identities: admin (client certificate) and bearer token (CA only). */
interface Agents {
  admin: https.Agent;
  token: https.Agent;
}

type Request = ControlPlane["request"];

/** Runs `scripts/controlplane up <dir>` (tearing down on failure); returns the admin kubeconfig and how long it took. */
async function bringUp(dir: string, options: StartOptions): Promise<{ kubeconfig: string; startupMs: number }> {
  installExitHook();
  running.add(dir);
  const env: NodeJS.ProcessEnv = { ...process.env, CMK_CONTROLPLANE_OWNER_PID: String(process.pid) };
  if (options.timeoutSeconds !== undefined) env["CMK_CONTROLPLANE_TIMEOUT"] = String(options.timeoutSeconds);
  const startedAt = performance.now();
  const up = await run(SCRIPT, ["up", ...(options.withNode === true ? ["--with-node"] : []), dir], { env });
  const startupMs = Math.round(performance.now() - startedAt);
  if (up.code !== 0) {
    running.delete(dir);
    await run(SCRIPT, ["down", dir]);
    throw new Error(`scripts/controlplane up ${dir} failed with exit code ${up.code}`, {
      cause: new Error(up.stderr.trim()),
    });
  }
  return { kubeconfig: up.stdout.trim().split("\n").at(-1) ?? "", startupMs };
}

/** The server URL, the CA and the admin client certificate and key, read from the files controlplane.env names. */
async function readCredentials(dir: string): Promise<Credentials> {
  const vars = parseEnvFile(await readFile(path.join(dir, "controlplane.env"), "utf8"));
  const server = required(vars, "CMK_CONTROLPLANE_SERVER");
  const caFile = required(vars, "CMK_CONTROLPLANE_CA");
  const caCert = await readFile(caFile, "utf8");
  const adminCert = await readFile(required(vars, "CMK_CONTROLPLANE_ADMIN_CERT"), "utf8");
  const adminKey = await readFile(required(vars, "CMK_CONTROLPLANE_ADMIN_KEY"), "utf8");
  const webhookCaFile = required(vars, "CMK_CONTROLPLANE_WEBHOOK_CLIENT_CA");
  const webhookClient = {
    caFile: webhookCaFile,
    cert: await readFile(path.join(path.dirname(webhookCaFile), "client.crt"), "utf8"),
    key: await readFile(path.join(path.dirname(webhookCaFile), "client.key"), "utf8"),
  };
  return { server, caFile, caCert, adminCert, adminKey, webhookClient };
}

/** API requests as admin, or with only a bearer token; JSON responses come back parsed. */
function requester(base: URL, agents: Agents): Request {
  return function request<T = unknown>(method: string, apiPath: string, body?: unknown, opts: RequestOptions = {}): Promise<ApiResponse<T>> {
    const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
    const headers: Record<string, string> = { Accept: "application/json" };
    if (payload !== undefined) {
      headers["Content-Type"] = opts.contentType ?? "application/json";
      headers["Content-Length"] = String(Buffer.byteLength(payload));
    }
    if (opts.token !== undefined) headers["Authorization"] = `Bearer ${opts.token}`;
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          protocol: base.protocol,
          hostname: base.hostname,
          port: base.port,
          method,
          path: apiPath,
          headers,
          agent: opts.token === undefined ? agents.admin : agents.token,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("error", (err) => reject(new Error(`${method} ${apiPath}: reading response failed`, { cause: err })));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let parsed: unknown = text === "" ? null : text;
            if (text !== "" && (res.headers["content-type"] ?? "").includes("json")) {
              try {
                parsed = JSON.parse(text);
              } catch (err) {
                reject(new Error(`${method} ${apiPath}: invalid JSON in response`, { cause: err }));
                return;
              }
            }
            resolve({ status: res.statusCode ?? 0, body: parsed as T });
          });
        },
      );
      req.on("error", (err) => reject(new Error(`${method} ${apiPath} failed`, { cause: err })));
      req.end(payload);
    });
  };
}

/** The body of a 2xx response; any other status is an error naming `what`. */
async function expectOk<T>(what: string, res: Promise<ApiResponse<T>>): Promise<T> {
  const { status, body } = await res;
  if (status < 200 || status > 299) {
    throw new Error(`${what}: HTTP ${status}`, { cause: new Error(JSON.stringify(body)) });
  }
  return body;
}

/** Runs kubectl as admin, or with only the given bearer token. */
function kubectl(kubeconfig: string, credentials: Credentials, args: readonly string[], opts: { input?: string; token?: string }): Promise<CommandResult> {
  // With a token, leave the admin kubeconfig out entirely: kubectl would
  // otherwise also present the admin client certificate.
  const auth =
    opts.token === undefined
      ? ["--kubeconfig", kubeconfig]
      : ["--kubeconfig", "/dev/null", "--server", credentials.server, "--certificate-authority", credentials.caFile, "--token", opts.token];
  return run(KUBECTL, [...auth, ...args], opts.input === undefined ? {} : { input: opts.input });
}

/** Creates a Node object and gives it the status and taints a kubelet and the node lifecycle controller
 * (turned off here: scripts/controlplane says why) would. */
async function registerNode(request: Request, name: string, opts: NodeOptions): Promise<KubeObject> {
  const ready = opts.ready ?? true;
  const capacity = { cpu: "4", memory: "8Gi", pods: "110", ...opts.capacity };
  const taints: Taint[] = [...(opts.taints ?? [])];
  if (!ready) taints.push({ key: "node.kubernetes.io/not-ready", effect: "NoSchedule" });
  await expectOk(
    `create node ${name}`,
    request("POST", "/api/v1/nodes", {
      apiVersion: "v1",
      kind: "Node",
      metadata: { name, labels: { "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", ...opts.labels } },
      spec: { taints },
    }),
  );
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  await expectOk(
    `set status of node ${name}`,
    request(
      "PATCH",
      `/api/v1/nodes/${encodeURIComponent(name)}/status`,
      {
        status: {
          capacity,
          allocatable: opts.allocatable ?? capacity,
          conditions: [
            {
              type: "Ready",
              status: ready ? "True" : "False",
              reason: ready ? "KubeletReady" : "KubeletNotReady",
              message: "registered by the cmk test helper",
              lastHeartbeatTime: now,
              lastTransitionTime: now,
            },
          ],
          addresses: [{ type: "Hostname", address: name }],
        },
      },
      { contentType: "application/merge-patch+json" },
    ),
  );
  // The TaintNodesByCondition admission plugin gives every new Node the
  // not-ready taint; the node lifecycle controller (turned off here) would
  // lift it once the node reports Ready. Do its job.
  return expectOk<KubeObject>(
    `set taints of node ${name}`,
    request("PATCH", `/api/v1/nodes/${encodeURIComponent(name)}`, { spec: { taints } }, { contentType: "application/merge-patch+json" }),
  );
}

/** Creates a namespace and waits for the service-account controller to create its `default`
 * ServiceAccount. Right after `up` the controllers take a few seconds to start, hence the long wait. */
async function createNamespace(request: Request, name: string): Promise<void> {
  await expectOk(`create namespace ${name}`, request("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name } }));
  await eventually(
    `the service-account controller to create serviceaccount ${name}/default`,
    async () => {
      const res = await request("GET", `/api/v1/namespaces/${encodeURIComponent(name)}/serviceaccounts/default`);
      if (res.status === 404) return undefined;
      await expectOk(`get serviceaccount ${name}/default`, Promise.resolve(res));
      return true;
    },
    60_000,
  );
}

/** A bound token for namespace/serviceAccount from the TokenRequest API. */
async function createToken(
  request: Request,
  namespace: string,
  serviceAccount: string,
  opts: { expirationSeconds?: number; audiences?: string[] },
): Promise<string> {
  const spec: Record<string, unknown> = { expirationSeconds: opts.expirationSeconds ?? 3600 };
  if (opts.audiences !== undefined) spec["audiences"] = opts.audiences;
  const body = await expectOk<{ status?: { token?: string } }>(
    `token for ${namespace}/${serviceAccount}`,
    request("POST", `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(serviceAccount)}/token`, {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec,
    }),
  );
  const token = body.status?.token;
  if (token === undefined || token === "") throw new Error(`TokenRequest for ${namespace}/${serviceAccount} returned no token`);
  return token;
}

/** A serving certificate and key signed by the cluster CA, from `scripts/controlplane cert`. */
async function issueServingCert(dir: string, name: string, sans: string[]): Promise<{ cert: string; key: string }> {
  const res = await run(SCRIPT, ["cert", dir, name, ...sans]);
  if (res.code !== 0) {
    throw new Error(`scripts/controlplane cert ${name} failed with exit code ${res.code}`, { cause: new Error(res.stderr.trim()) });
  }
  const [certPath, keyPath] = res.stdout.trim().split("\n");
  if (certPath === undefined || keyPath === undefined) throw new Error(`scripts/controlplane cert printed ${JSON.stringify(res.stdout)}`);
  return { cert: await readFile(certPath, "utf8"), key: await readFile(keyPath, "utf8") };
}

/** stop(): closes the agents and runs `scripts/controlplane down` once, however often it is called. */
function stopper(dir: string, agents: Agents): () => Promise<void> {
  let stopped: Promise<void> | undefined;
  return () => {
    stopped ??= (async () => {
      agents.admin.destroy();
      agents.token.destroy();
      const down = await run(SCRIPT, ["down", dir]);
      running.delete(dir);
      if (down.code !== 0) {
        throw new Error(`scripts/controlplane down ${dir} failed with exit code ${down.code}`, { cause: new Error(down.stderr.trim()) });
      }
    })();
    return stopped;
  };
}

/** Start a control plane for a test or suite context and stop it in that
 * context's after hook, which runs even when the tests fail. */
export async function withControlPlane(t: { after(fn: () => Promise<void>): void }, options: StartOptions = {}): Promise<ControlPlane> {
  const cp = await startControlPlane(options);
  t.after(() => cp.stop());
  return cp;
}

/** File-level convenience: registers node:test before/after hooks that start
 * one control plane for the whole file; call the returned function inside
 * tests to get it. */
export function useControlPlane(options: StartOptions = {}): () => ControlPlane {
  let cp: ControlPlane | undefined;
  before(async () => {
    cp = await startControlPlane(options);
  });
  after(async () => {
    await cp?.stop();
  });
  return () => {
    if (cp === undefined) throw new Error("control plane not started (call the getter inside a test)");
    return cp;
  };
}

/** Poll fn until it returns a value other than undefined, or fail after timeoutMs. */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError });
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
