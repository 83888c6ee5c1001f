// Where the API server is and who we are to it: a kubeconfig file (the --kubeconfig flag, else the
// first file of KUBECONFIG that exists; several files merge as kubectl merges them: the first file
// to name a context, cluster or user wins, and relative paths, an exec command with a slash
// included, are resolved against the directory of the file that names them), or the service
// account of the pod cmk runs in. Only what a node tool needs is supported: client certificates,
// bearer tokens (inline or from a file) and exec credential plugins; TLS is always verified, so a
// kubeconfig that turns verification off is refused with a message that says what to change.
import { existsSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { CmkError, describeCause } from "../../core/errors.ts";
import { parseYaml, type YamlValue } from "../../formats/yaml.ts";

/** How to authenticate: a client certificate, a bearer token, an exec plugin, or nothing. */
export type Credentials =
  | { readonly kind: "certificate"; readonly cert: string | Buffer; readonly key: string | Buffer }
  | { readonly kind: "token"; readonly token: string }
  | { readonly kind: "token-file"; readonly path: string }
  | { readonly kind: "exec"; readonly plugin: ExecPlugin }
  | { readonly kind: "none" };

export interface ExecPlugin {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly apiVersion: string;
}

export interface ClusterAccess {
  /** https://host:port, without a trailing slash. */
  readonly server: string;
  /** PEM of the CA that signs the server's certificate; undefined: the system's CAs. */
  readonly ca: string | Buffer | undefined;
  readonly tlsServerName: string | undefined;
  readonly credentials: Credentials;
  /** The namespace of the kubeconfig context or of the pod; undefined when neither names one. */
  readonly namespace: string | undefined;
  /** Where this came from, for messages ("kubeconfig /root/.kube/config, context admin"). */
  readonly source: string;
}

/** What the kubelet gives every container: the API server's service address and the account's mount. */
export interface PodEnvironment {
  readonly serviceHost: string | undefined;
  readonly servicePort: string | undefined;
  readonly serviceAccountDir: string;
}

/** Whether this process runs in a pod with a service-account token mounted. */
export function inPod(pod: PodEnvironment): boolean {
  return pod.serviceHost !== undefined && existsSync(`${pod.serviceAccountDir}/token`);
}

/** The pod's own service account: the API server from the environment, its token, CA and namespace. */
export function inClusterAccess(pod: PodEnvironment): ClusterAccess {
  const host = pod.serviceHost;
  if (host === undefined) throw accessError("KUBERNETES_SERVICE_HOST is not set, so this is not a pod; give --kubeconfig");
  const accountDir = pod.serviceAccountDir;
  const namespaceFile = `${accountDir}/namespace`;
  return {
    server: `https://${host.includes(":") ? `[${host}]` : host}:${pod.servicePort ?? "443"}`,
    ca: readFileOf(`${accountDir}/ca.crt`, "the service account's CA certificate"),
    tlsServerName: undefined,
    // Read on each use: the kubelet rotates a projected token in place.
    credentials: { kind: "token-file", path: `${accountDir}/token` },
    namespace: existsSync(namespaceFile) ? readFileOf(namespaceFile, "the pod's namespace").toString().trim() : undefined,
    source: `the pod's service account (${accountDir})`,
  };
}

/** The access a kubeconfig gives: `paths` are --kubeconfig's one file, or KUBECONFIG's list. */
export function kubeconfigAccess(paths: readonly string[]): ClusterAccess {
  const files = paths.filter((path) => path !== "");
  const present = files.filter((path) => existsSync(path));
  if (present.length === 0) throw accessError(`no kubeconfig at ${files.join(", ") || "(empty path)"}; give --kubeconfig=<file> of a cluster you can reach`);
  const merged = mergeKubeconfigs(present.map((path) => ({ path, document: readKubeconfig(path) })));
  return accessOf(merged, present.join(":"));
}

interface NamedEntries {
  readonly contexts: Map<string, Entry>;
  readonly clusters: Map<string, Entry>;
  readonly users: Map<string, Entry>;
  currentContext: string | undefined;
}

type Entry = ReadonlyMap<unknown, YamlValue> & { readonly base: string };

function readKubeconfig(path: string): YamlValue {
  const text = readFileOf(path, "the kubeconfig").toString("utf8");
  try {
    // The parser's messages start with their source, so this one reads "cannot read kubeconfig <path>: line 4: ...".
    return parseYaml(text, `cannot read kubeconfig ${path}`);
  } catch (error) {
    throw accessError(describeCause(error), error);
  }
}

function mergeKubeconfigs(documents: readonly { readonly path: string; readonly document: YamlValue }[]): NamedEntries {
  const merged: NamedEntries = { contexts: new Map(), clusters: new Map(), users: new Map(), currentContext: undefined };
  for (const { path, document } of documents) {
    if (document === null) continue;
    if (!(document instanceof Map)) throw accessError(`kubeconfig ${path} is not a mapping; is it a kubeconfig file?`);
    const base = dirname(path);
    const current = document.get("current-context");
    if (merged.currentContext === undefined && typeof current === "string" && current !== "") merged.currentContext = current;
    for (const [listKey, field, target] of [
      ["contexts", "context", merged.contexts],
      ["clusters", "cluster", merged.clusters],
      ["users", "user", merged.users],
    ] as const) {
      const list = document.get(listKey);
      if (list === undefined || list === null) continue;
      if (!Array.isArray(list)) throw accessError(`kubeconfig ${path}: "${listKey}" must be a list`);
      for (const item of list) {
        const name = item instanceof Map ? item.get("name") : undefined;
        // `user:` with nothing after it is an entry with no fields, as kubectl reads it.
        const body = item instanceof Map ? (item.get(field) ?? new Map()) : undefined;
        if (typeof name !== "string" || !(body instanceof Map))
          throw accessError(`kubeconfig ${path}: every entry of "${listKey}" needs a name and a ${field} mapping`);
        if (!target.has(name)) target.set(name, Object.assign(new Map(body), { base }));
      }
    }
  }
  return merged;
}

function accessOf(config: NamedEntries, paths: string): ClusterAccess {
  const contextName = config.currentContext;
  if (contextName === undefined) throw accessError(`kubeconfig ${paths} has no current-context; run kubectl config use-context <name>`);
  const context = config.contexts.get(contextName);
  if (context === undefined) {
    throw accessError(
      `kubeconfig ${paths}: current-context "${contextName}" is not among its contexts; run kubectl config use-context <name> with one that is`,
    );
  }
  const clusterName = stringField(context, "cluster", `context ${contextName}`, paths, true) as string;
  const cluster = config.clusters.get(clusterName);
  if (cluster === undefined) {
    throw accessError(
      `kubeconfig ${paths}: context ${contextName} names cluster "${clusterName}", which is not defined; add it under clusters or name a defined one`,
    );
  }
  const userName = stringField(context, "user", `context ${contextName}`, paths, false);
  const user = userName === undefined ? undefined : config.users.get(userName);
  if (userName !== undefined && user === undefined)
    throw accessError(`kubeconfig ${paths}: context ${contextName} names user "${userName}", which is not defined; add it under users or name a defined one`);
  const where = `cluster ${clusterName}`;
  if (cluster.get("insecure-skip-tls-verify") === true) {
    throw accessError(
      `kubeconfig ${paths}: ${where} turns TLS verification off (insecure-skip-tls-verify); cmk always verifies: give certificate-authority(-data) instead`,
    );
  }
  const proxy = cluster.get("proxy-url");
  if (proxy !== undefined && proxy !== null && proxy !== "")
    throw accessError(`kubeconfig ${paths}: ${where} uses proxy-url, which cmk does not support; remove proxy-url and reach the API server directly`);
  const server = (stringField(cluster, "server", where, paths, true) as string).replace(/\/+$/, "");
  if (!server.startsWith("https://")) {
    throw accessError(
      `kubeconfig ${paths}: ${where}: server ${server} is not https://; cmk speaks only TLS to the API server: give the API server's https:// address`,
    );
  }
  return {
    server,
    ca: pemOf(cluster, "certificate-authority", where, paths),
    tlsServerName: stringField(cluster, "tls-server-name", where, paths, false),
    credentials: user === undefined ? { kind: "none" } : credentialsOf(user, `user ${userName}`, paths),
    namespace: stringField(context, "namespace", `context ${contextName}`, paths, false),
    source: `kubeconfig ${paths}, context ${contextName}`,
  };
}

function credentialsOf(user: Entry, where: string, paths: string): Credentials {
  const cert = pemOf(user, "client-certificate", where, paths);
  const key = pemOf(user, "client-key", where, paths);
  if (cert !== undefined || key !== undefined) {
    if (key === undefined) throw accessError(`kubeconfig ${paths}: ${where} has a client certificate but no key; give client-key or client-key-data`);
    if (cert === undefined) {
      throw accessError(`kubeconfig ${paths}: ${where} has a client key but no certificate; give client-certificate or client-certificate-data`);
    }
    return { kind: "certificate", cert, key };
  }
  const token = stringField(user, "token", where, paths, false);
  if (token !== undefined) return { kind: "token", token };
  const tokenFile = stringField(user, "tokenFile", where, paths, false);
  if (tokenFile !== undefined) return { kind: "token-file", path: resolveFrom(user.base, tokenFile) };
  const exec = user.get("exec");
  if (exec instanceof Map) return { kind: "exec", plugin: execPluginOf(exec, user.base, where, paths) };
  if (user.get("auth-provider") !== undefined) {
    throw accessError(`kubeconfig ${paths}: ${where} uses an auth-provider, which Kubernetes removed; use the provider's exec plugin instead`);
  }
  if (user.get("username") !== undefined || user.get("password") !== undefined)
    throw accessError(`kubeconfig ${paths}: ${where} uses a username and password, which cmk does not send; use a token or certificate`);
  return { kind: "none" };
}

function execPluginOf(exec: ReadonlyMap<unknown, YamlValue>, base: string, where: string, paths: string): ExecPlugin {
  const named = exec.get("command");
  if (typeof named !== "string" || named === "") throw accessError(`kubeconfig ${paths}: ${where}: exec needs a command`);
  // As kubectl: a command with a slash is a path from the kubeconfig's directory, a bare name is looked up in PATH.
  const command = named.includes("/") ? resolveFrom(base, named) : named;
  const args = exec.get("args") ?? [];
  if (!Array.isArray(args) || !args.every((arg) => typeof arg === "string" || typeof arg === "number")) {
    throw accessError(`kubeconfig ${paths}: ${where}: exec args must be a list of strings`);
  }
  const env: Record<string, string> = {};
  const envList = exec.get("env") ?? [];
  if (!Array.isArray(envList)) throw accessError(`kubeconfig ${paths}: ${where}: exec env must be a list of name/value entries`);
  for (const item of envList) {
    const name = item instanceof Map ? item.get("name") : undefined;
    const value = item instanceof Map ? item.get("value") : undefined;
    if (typeof name !== "string" || value === undefined || value === null || typeof value === "object") {
      throw accessError(`kubeconfig ${paths}: ${where}: every exec env entry needs a name and a value`);
    }
    env[name] = String(value);
  }
  const apiVersion = exec.get("apiVersion");
  return { command, args: args.map(String), env, apiVersion: typeof apiVersion === "string" ? apiVersion : "client.authentication.k8s.io/v1" };
}

/**
 * `<field>-data` (base64 PEM) or `<field>` (a file path, relative to the kubeconfig's directory).
 * Either must hold PEM: anything else would fail later, at the first connection, in OpenSSL's words.
 */
function pemOf(entry: Entry, field: string, where: string, paths: string): Buffer | undefined {
  const data = stringField(entry, `${field}-data`, where, paths, false);
  if (data !== undefined) {
    const decoded = Buffer.from(data, "base64");
    if (!isPem(decoded)) {
      throw accessError(`kubeconfig ${paths}: ${where}: ${field}-data is not base64 of a PEM block; give the PEM file's base64 (base64 -w0 <file>)`);
    }
    return decoded;
  }
  const file = stringField(entry, field, where, paths, false);
  if (file === undefined) return undefined;
  const path = resolveFrom(entry.base, file);
  const content = readFileOf(path, `${where}'s ${field}`);
  if (!isPem(content)) throw accessError(`kubeconfig ${paths}: ${where}'s ${field} ${path} is not a PEM file; give the PEM (-----BEGIN ...) file`);
  return content;
}

function isPem(content: Buffer): boolean {
  return content.includes("-----BEGIN ");
}

function stringField(entry: Entry, field: string, where: string, paths: string, required: boolean): string | undefined {
  const value = entry.get(field);
  if (value === undefined || value === null || value === "") {
    if (required) throw accessError(`kubeconfig ${paths}: ${where} has no ${field}`);
    return undefined;
  }
  if (typeof value !== "string") throw accessError(`kubeconfig ${paths}: ${where}: ${field} must be a string`);
  return value;
}

function resolveFrom(base: string, path: string): string {
  return isAbsolute(path) ? path : join(base, path);
}

function readFileOf(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw accessError(`cannot read ${what} at ${path}: ${describeCause(error)}`, error);
  }
}

function accessError(message: string, cause?: unknown): CmkError {
  return new CmkError("usage", message, cause === undefined ? {} : { cause });
}
