// The Kubernetes client against a real API server: each way a kubeconfig says who cmk is (client
// certificate, token, token file, exec plugin) is checked by asking the server who it thinks we
// are (a SelfSubjectReview); refusals and plugin failures come back as one line; and a server
// whose certificate the kubeconfig's CA did not sign is refused at once. The test process serves
// HTTPS itself in some tests, so cmk runs there only as an asynchronous child (spawnCmk).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, it, mock } from "node:test";
import { ApiError, KubeClient } from "../../src/adapters/kubernetes/client.ts";
import { kubeconfigAccess } from "../../src/adapters/kubernetes/kubeconfig.ts";
import { collect, scratchDir, spawnCmk } from "../helpers/cmk.ts";
import { type KubeObject, useControlPlane } from "../helpers/controlplane.ts";
import { kubeconfigText } from "../helpers/kubeconfig.ts";

const cp = useControlPlane();
const scratch = scratchDir("kube-client");
const namespace = `kube-client-${process.pid}`;

/** Two service accounts that may read ConfigMaps in `namespace` and nothing else, and one ConfigMap. */
async function setUpAccounts(): Promise<void> {
  await cp().createNamespace(namespace);
  const created = async (path: string, body: unknown): Promise<void> => {
    const response = await cp().request("POST", path, body);
    assert.equal(response.status, 201, JSON.stringify(response.body));
  };
  for (const name of ["reader", "other"]) {
    await created(`/api/v1/namespaces/${namespace}/serviceaccounts`, { apiVersion: "v1", kind: "ServiceAccount", metadata: { name } });
  }
  await created(`/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/roles`, {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: { name: "configmap-reader" },
    rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["get"] }],
  });
  await created(`/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/rolebindings`, {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name: "configmap-readers" },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "configmap-reader" },
    subjects: ["reader", "other"].map((name) => ({ kind: "ServiceAccount", name, namespace })),
  });
  await created(`/api/v1/namespaces/${namespace}/configmaps`, {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "greeting" },
    data: { hello: "world" },
  });
}

const clients: KubeClient[] = [];
after(() => {
  for (const client of clients) client.close();
});

let dirs = 0;
/** A fresh directory below the scratch directory. */
function freshDir(): string {
  const dir = join(scratch, String(dirs++));
  mkdirSync(dir);
  return dir;
}

const account = (name: string): string => `system:serviceaccount:${namespace}:${name}`;

interface ClusterOptions {
  readonly server?: string;
  /** PEM of the CA the kubeconfig trusts; null: none (the system's CAs). Default: the cluster's. */
  readonly ca?: string | null;
  readonly tlsServerName?: string;
}

/** Writes `dir`/config: one context joining a cluster (the control plane by default) and a user whose fields are `user`. */
function writeKubeconfig(dir: string, user: string, cluster: ClusterOptions = {}): string {
  const ca = cluster.ca === undefined ? cp().caCert : cluster.ca;
  const path = join(dir, "config");
  writeFileSync(
    path,
    kubeconfigText(
      {
        server: cluster.server ?? cp().server,
        ...(ca === null ? {} : { ca }),
        ...(cluster.tlsServerName === undefined ? {} : { tlsServerName: cluster.tlsServerName }),
      },
      user,
    ),
  );
  return path;
}

function clientOf(kubeconfig: string): KubeClient {
  const client = new KubeClient(kubeconfigAccess([kubeconfig]));
  clients.push(client);
  return client;
}

interface UserInfo {
  readonly username: string;
  readonly groups?: readonly string[];
}

/** Who the API server takes the client for. */
async function whoami(client: KubeClient): Promise<UserInfo> {
  const review = await client.call<{ status: { userInfo: UserInfo } }>({
    verb: "create",
    path: "/apis/authentication.k8s.io/v1/selfsubjectreviews",
    what: "selfsubjectreview",
    body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
  });
  return review.status.userInfo;
}

async function greeting(client: KubeClient): Promise<string | undefined> {
  const configMap = await client.call<KubeObject & { data?: Record<string, string> }>({
    verb: "get",
    path: `/api/v1/namespaces/${namespace}/configmaps/greeting`,
    what: `configmap ${namespace}/greeting`,
  });
  return configMap.data?.["hello"];
}

/** Asserts that `promise` rejects with a one-line ApiError that matches every pattern; returns it. */
async function assertApiError(promise: Promise<unknown>, status: number, transient: boolean, ...patterns: RegExp[]): Promise<ApiError> {
  let caught: ApiError | undefined;
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ApiError, `expected an ApiError, got ${String(error)}`);
    assert.doesNotMatch(error.message, /\n/, "messages are one line");
    for (const pattern of patterns) assert.match(error.message, pattern);
    assert.equal(error.status, status);
    assert.equal(error.transient, transient);
    caught = error;
    return true;
  });
  return caught as ApiError;
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

describe("KubeClient", () => {
  // In a suite: a file-level hook would run at once, beside the control plane's start.
  before(setUpAccounts);

  describe("the kubeconfig's user, as the API server sees it", () => {
    it("a client certificate: the admin kubeconfig", async () => {
      const client = clientOf(cp().kubeconfig);
      const me = await whoami(client);
      assert.equal(me.username, "cmk-admin");
      assert.ok(me.groups?.includes("system:masters"), JSON.stringify(me));
      assert.equal(await greeting(client), "world");
    });

    it("a bearer token minted for a service account", async () => {
      const token = await cp().createToken(namespace, "reader");
      const client = clientOf(writeKubeconfig(freshDir(), `    token: ${token}\n`));
      assert.equal((await whoami(client)).username, account("reader"));
      assert.equal(await greeting(client), "world");
    });

    it("a 403 is one line naming the verb, the object, HTTP 403 and the server's message; a 401 says the credentials were refused", async () => {
      const token = await cp().createToken(namespace, "reader");
      const client = clientOf(writeKubeconfig(freshDir(), `    token: ${token}\n`));
      const forbidden = client.call({
        verb: "get",
        path: "/api/v1/namespaces/default/configmaps/cmk-config-node1",
        what: "configmap default/cmk-config-node1",
      });
      await assertApiError(
        forbidden,
        403,
        false,
        new RegExp(
          `^cannot get configmap default/cmk-config-node1: HTTP 403 Forbidden: configmaps "cmk-config-node1" is forbidden: ${escapeRegExp(`User "${account("reader")}" cannot get resource "configmaps" in API group "" in the namespace "default"`)}`,
        ),
        /grant it through the Role in deploy\//,
      );
      const stranger = clientOf(writeKubeconfig(freshDir(), "    token: not-a-token\n"));
      await assertApiError(
        greeting(stranger),
        401,
        false,
        new RegExp(`^cannot get configmap ${namespace}/greeting: HTTP 401 Unauthorized`),
        /credentials were refused/,
      );
    });

    it("a tokenFile, read again for each request: rewritten between two, the second request is the new account's", async () => {
      const dir = freshDir();
      const tokenFile = join(dir, "token");
      writeFileSync(tokenFile, `${await cp().createToken(namespace, "reader")}\n`);
      // Relative to the kubeconfig's directory, not to the working directory.
      const client = clientOf(writeKubeconfig(dir, "    tokenFile: token\n"));
      assert.equal((await whoami(client)).username, account("reader"));
      writeFileSync(tokenFile, await cp().createToken(namespace, "other"));
      assert.equal((await whoami(client)).username, account("other"));
      rmSync(tokenFile);
      await assertApiError(whoami(client), 0, false, new RegExp(`^cannot read the token file ${escapeRegExp(tokenFile)} \\(kubeconfig .*\\): ENOENT`));
    });
  });

  /** A credential plugin in `dir`: it counts its runs, keeps its arguments and KUBERNETES_EXEC_INFO, and prints the file its first argument names. */
  function writePlugin(dir: string): void {
    const plugin = join(dir, "plugin.sh");
    writeFileSync(
      plugin,
      `#!/bin/sh
echo run >> "$PLUGIN_DIR/runs"
printf '%s\\n' "$*" > "$PLUGIN_DIR/args"
printf '%s' "$KUBERNETES_EXEC_INFO" > "$PLUGIN_DIR/exec-info"
cat "$PLUGIN_DIR/$1"
`,
    );
    chmodSync(plugin, 0o755);
  }

  /** A kubeconfig beside the plugin, naming it by a relative path; `output` is the file the plugin prints. */
  function pluginKubeconfig(dir: string, output = "credential.json", cluster: ClusterOptions = {}): string {
    writePlugin(dir);
    return writeKubeconfig(
      dir,
      `    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./plugin.sh
      args:
      - ${output}
      env:
      - name: PLUGIN_DIR
        value: ${dir}
      interactiveMode: Never
`,
      cluster,
    );
  }

  /** What the plugin prints next: an ExecCredential with `token`, valid until `expires` when given. */
  function writeCredential(dir: string, token: string, expires?: Date): void {
    const status = expires === undefined ? { token } : { token, expirationTimestamp: expires.toISOString() };
    writeFileSync(join(dir, "credential.json"), JSON.stringify({ apiVersion: "client.authentication.k8s.io/v1", kind: "ExecCredential", status }));
  }

  const runsOf = (dir: string): number => (existsSync(join(dir, "runs")) ? readFileSync(join(dir, "runs"), "utf8").split("\n").length - 1 : 0);

  describe("exec credential plugins", () => {
    it("runs once for two requests while the token's expirationTimestamp is ahead, and again once it has passed", async () => {
      const dir = freshDir();
      const hour = 3_600_000;
      // Only Date is mocked: the client's clock, not the server's or the sockets' timers.
      mock.timers.enable({ apis: ["Date"], now: Date.now() });
      try {
        writeCredential(dir, await cp().createToken(namespace, "reader"), new Date(Date.now() + hour));
        const client = clientOf(pluginKubeconfig(dir));
        assert.equal((await whoami(client)).username, account("reader"));
        assert.equal((await whoami(client)).username, account("reader"));
        assert.equal(runsOf(dir), 1);
        // It was given its arguments, its environment and what kubectl tells a plugin.
        assert.equal(readFileSync(join(dir, "args"), "utf8"), "credential.json\n");
        assert.deepEqual(JSON.parse(readFileSync(join(dir, "exec-info"), "utf8")), {
          apiVersion: "client.authentication.k8s.io/v1",
          kind: "ExecCredential",
          spec: { interactive: false },
        });

        writeCredential(dir, await cp().createToken(namespace, "other"), new Date(Date.now() + 2 * hour));
        mock.timers.tick(hour - 60_000);
        assert.equal((await whoami(client)).username, account("reader"), "a token a minute from expiry was not kept");
        assert.equal(runsOf(dir), 1);
        mock.timers.tick(60_001);
        assert.equal((await whoami(client)).username, account("other"), "an expired token was used");
        assert.equal(runsOf(dir), 2);
      } finally {
        mock.timers.reset();
      }
    });

    it("runs once for requests sent together", async () => {
      const dir = freshDir();
      writeCredential(dir, await cp().createToken(namespace, "reader"), new Date(Date.now() + 3_600_000));
      const client = clientOf(pluginKubeconfig(dir));
      const answers = await Promise.all([whoami(client), whoami(client), greeting(client)]);
      assert.deepEqual(
        answers.map((answer) => (typeof answer === "object" ? answer.username : answer)),
        [account("reader"), account("reader"), "world"],
      );
      assert.equal(runsOf(dir), 1);
    });

    it("runs again after the server refuses its token (401), though the token had no expiry", async () => {
      const dir = freshDir();
      writeCredential(dir, "revoked-token");
      const client = clientOf(pluginKubeconfig(dir));
      const refused = await client.send({ verb: "get", path: "/api", what: "the API" });
      assert.equal(refused.status, 401);
      writeCredential(dir, await cp().createToken(namespace, "reader"));
      assert.equal((await whoami(client)).username, account("reader"));
      assert.equal(runsOf(dir), 2);
    });

    it("a kept token the server starts to refuse is replaced within the same request", async () => {
      // A server that takes one token at a time, as a real one does after a revocation.
      const { cert, key } = await cp().issueServingCert("token-checker");
      const seen: string[] = [];
      let accepted = "first";
      const server = createServer({ cert, key }, (request, response) => {
        const token = (request.headers.authorization ?? "").replace(/^Bearer /, "");
        seen.push(token);
        response.writeHead(token === accepted ? 200 : 401, { "Content-Type": "application/json" });
        response.end(JSON.stringify(token === accepted ? { kind: "APIVersions" } : { kind: "Status", reason: "Unauthorized", message: "Unauthorized" }));
      });
      try {
        const dir = freshDir();
        writeCredential(dir, "first");
        const client = clientOf(pluginKubeconfig(dir, "credential.json", { server: await serve(server) }));
        assert.equal((await client.send({ verb: "get", path: "/api", what: "the API" })).status, 200);
        accepted = "second";
        writeCredential(dir, "second");
        assert.equal((await client.send({ verb: "get", path: "/api", what: "the API" })).status, 200);
        assert.deepEqual(seen, ["first", "first", "second"]);
        assert.equal(runsOf(dir), 2);
      } finally {
        server.close();
      }
    });

    it("a plugin that fails, prints no ExecCredential, gives a certificate or is missing: one line, not retried", async () => {
      const dir = freshDir();
      const kubeconfig = pluginKubeconfig(dir, "output");
      const which = `the credential plugin ${escapeRegExp(join(dir, "plugin.sh"))} \\(kubeconfig ${escapeRegExp(kubeconfig)}, context ctx\\)`;
      const outputs: [string, RegExp][] = [
        ["Please log in at https://login.example/\n", new RegExp(`^${which} printed no ExecCredential JSON on its standard output$`)],
        ["null\n", new RegExp(`^${which} printed no ExecCredential JSON with a status`)],
        [JSON.stringify({ kind: "ExecCredential", status: {} }), new RegExp(`^${which} gave no status.token`)],
        [
          JSON.stringify({
            kind: "ExecCredential",
            status: { clientCertificateData: "-----BEGIN CERTIFICATE-----", clientKeyData: "-----BEGIN PRIVATE KEY-----" },
          }),
          new RegExp(`^${which} gave a client certificate, and cmk takes only a bearer token from a plugin; put the certificate in the kubeconfig`),
        ],
      ];
      for (const [output, pattern] of outputs) {
        writeFileSync(join(dir, "output"), output);
        await assertApiError(whoami(clientOf(kubeconfig)), 0, false, pattern);
      }
      // Failing: its exit status and the first line of its standard error.
      writeFileSync(
        join(dir, "plugin.sh"),
        '#!/bin/sh\necho run >> "$PLUGIN_DIR/runs"\necho "error: you must be logged in to the server" >&2\necho "run: login --sso" >&2\nexit 3\n',
      );
      await assertApiError(whoami(clientOf(kubeconfig)), 0, false, new RegExp(`^${which} failed: exit status 3: error: you must be logged in to the server$`));
      rmSync(join(dir, "plugin.sh"));
      await assertApiError(whoami(clientOf(kubeconfig)), 0, false, new RegExp(`^${which} failed: no such command`));
    });

    it("cmk fails at once with exit 11 when the plugin fails, running it once", async () => {
      const dir = freshDir();
      const kubeconfig = pluginKubeconfig(dir);
      writeFileSync(join(dir, "plugin.sh"), '#!/bin/sh\necho run >> "$PLUGIN_DIR/runs"\necho "error: token expired, log in again" >&2\nexit 1\n');
      const started = performance.now();
      const run = await collect(spawnCmk(["describe", `--kubeconfig=${kubeconfig}`, "--node-name=node-1"], { CMK_LOCK_TIMEOUT: "20" }));
      assert.equal(run.status, 11, run.stderr);
      assert.match(run.stderr, /failed: exit status 1: error: token expired, log in again\n$/);
      assert.equal(runsOf(dir), 1);
      assert.ok(performance.now() - started < 10_000, "it retried until CMK_LOCK_TIMEOUT");
    });
  });

  /** Starts `server` on a loopback port; returns its https:// address. */
  async function serve(server: Server): Promise<string> {
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  describe("TLS, always verified", () => {
    it("refuses a server whose certificate the kubeconfig's CA did not sign, at once, and takes one it did sign", async () => {
      const dir = freshDir();
      execFileSync(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:prime256v1",
          "-nodes",
          "-keyout",
          join(dir, "rogue.key"),
          "-out",
          join(dir, "rogue.crt"),
          "-days",
          "1",
          "-subj",
          "/CN=rogue-apiserver",
          "-addext",
          "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        { stdio: "ignore" },
      );
      let answered = 0;
      const handler = (_request: unknown, response: { writeHead(status: number, headers: Record<string, string>): void; end(body: string): void }): void => {
        answered++;
        response.writeHead(200, { "Content-Type": "application/json" });
        response.end(JSON.stringify({ kind: "APIVersions" }));
      };
      const rogue = createServer({ cert: readFileSync(join(dir, "rogue.crt")), key: readFileSync(join(dir, "rogue.key")) }, handler);
      const genuine = createServer(await cp().issueServingCert("genuine-apiserver"), handler);
      try {
        const rogueServer = await serve(rogue);
        const kubeconfig = writeKubeconfig(dir, "    token: secret-token\n", { server: rogueServer });
        await assertApiError(
          clientOf(kubeconfig).send({ verb: "get", path: "/api", what: "the API" }),
          0,
          false,
          new RegExp(
            `^cannot get the API: the API server ${escapeRegExp(rogueServer)} is not trusted: DEPTH_ZERO_SELF_SIGNED_CERT: self-signed certificate; check the certificate authority and server name of kubeconfig ${escapeRegExp(kubeconfig)}, context ctx$`,
          ),
        );
        assert.equal(answered, 0, "the token went to a server nobody vouched for");
        // The same server with a certificate from the cluster's CA is taken: only the signer differed.
        const genuineClient = clientOf(writeKubeconfig(freshDir(), "    token: secret-token\n", { server: await serve(genuine) }));
        assert.equal((await genuineClient.send({ verb: "get", path: "/api", what: "the API" })).status, 200);
        assert.equal(answered, 1);

        // cmk reports it at once (exit 11), rather than retrying until CMK_LOCK_TIMEOUT.
        const started = performance.now();
        const run = await collect(spawnCmk(["describe", `--kubeconfig=${kubeconfig}`, "--node-name=node-1"], { CMK_LOCK_TIMEOUT: "20" }));
        assert.equal(run.status, 11, run.stderr);
        assert.match(run.stderr, /is not trusted: DEPTH_ZERO_SELF_SIGNED_CERT: self-signed certificate; check the certificate authority/);
        assert.ok(performance.now() - started < 10_000, "it retried until CMK_LOCK_TIMEOUT");
      } finally {
        rogue.close();
        genuine.close();
      }
    });

    it("without certificate-authority, trusts only the system's CAs, which did not sign the cluster's", async () => {
      const client = clientOf(writeKubeconfig(freshDir(), `    token: ${await cp().createToken(namespace, "reader")}\n`, { ca: null }));
      await assertApiError(whoami(client), 0, false, /is not trusted: UNABLE_TO_VERIFY_LEAF_SIGNATURE|is not trusted: UNABLE_TO_GET_ISSUER_CERT_LOCALLY/);
    });

    it("without certificate-authority, also trusts NODE_EXTRA_CA_CERTS, which the launchers keep from cmk's runtime", async () => {
      const dir = freshDir();
      const kubeconfig = writeKubeconfig(dir, `    token: ${await cp().createToken(namespace, "reader")}\n`, { ca: null });
      writeFileSync(join(dir, "cluster-ca.pem"), cp().caCert);
      const flags = ["describe", `--kubeconfig=${kubeconfig}`, `--namespace=${namespace}`, "--node-name=no-such-node"];
      const trusted = await collect(spawnCmk(flags, { NODE_EXTRA_CA_CERTS: join(dir, "cluster-ca.pem") }));
      // The server answered (this node has no ConfigMap): the TLS handshake passed.
      assert.doesNotMatch(trusted.stderr, /not trusted/);
      assert.match(trusted.stderr, /cmk-config-no-such-node/);
      const untrusted = await collect(spawnCmk(flags));
      assert.equal(untrusted.status, 11, untrusted.stderr);
      assert.match(untrusted.stderr, /is not trusted/);
    });

    it("checks the certificate against tls-server-name when the kubeconfig gives one", async () => {
      const token = await cp().createToken(namespace, "reader");
      const named = clientOf(writeKubeconfig(freshDir(), `    token: ${token}\n`, { tlsServerName: "kubernetes.default.svc" }));
      assert.equal((await whoami(named)).username, account("reader"));
      const misnamed = clientOf(writeKubeconfig(freshDir(), `    token: ${token}\n`, { tlsServerName: "wrong.example" }));
      await assertApiError(whoami(misnamed), 0, false, /is not trusted: ERR_TLS_CERT_ALTNAME_INVALID: .*wrong\.example/);
    });
  });
});
