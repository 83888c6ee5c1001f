// How cmk finds the API server and who it is there: kubeconfig files (one, or KUBECONFIG's list
// merged as kubectl merges it) and the pod's service account, read from real files in a scratch
// directory. Nothing here reaches a network; test/integration/kube-client.test.ts connects.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { type ClusterAccess, type Credentials, inClusterAccess, inPod, kubeconfigAccess } from "../../src/adapters/kubernetes/kubeconfig.ts";
import { CmkError } from "../../src/core/errors.ts";
import { kubeconfigText } from "../helpers/kubeconfig.ts";

const scratch = mkdtempSync(join(tmpdir(), "cmk-kubeconfig-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

let counter = 0;
/** A fresh directory with `files` (path below it → content) written in it. */
function dirWith(files: Record<string, string> = {}): string {
  const dir = join(scratch, String(counter++));
  mkdirSync(dir);
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), content);
  }
  return dir;
}

/** A kubeconfig file `config` alone in a fresh directory (with `files` beside it); returns its path. */
function kubeconfig(text: string, files: Record<string, string> = {}): string {
  return join(dirWith({ ...files, config: text }), "config");
}

const b64 = (text: string): string => Buffer.from(text).toString("base64");
const pem = (what: string, label = "CERTIFICATE"): string => `-----BEGIN ${label}-----\n${b64(what)}\n-----END ${label}-----\n`;
const pemKey = (what: string): string => pem(what, "PRIVATE KEY");

/** One cluster, one user (whose body is `user`, indented by four) and a current context joining them. */
function single(user: string, cluster = "    server: https://10.0.0.1:6443\n"): string {
  return kubeconfigText({ server: "https://10.0.0.1:6443" }, user).replace("    server: https://10.0.0.1:6443\n", cluster);
}

function credentialsOf(path: string): Credentials {
  return kubeconfigAccess([path]).credentials;
}

/** Asserts that loading `paths` fails with one line of kind usage that matches every pattern. */
function assertRefused(paths: readonly string[], ...patterns: RegExp[]): string {
  let message = "";
  assert.throws(
    () => kubeconfigAccess(paths),
    (error: unknown) => {
      assert.ok(error instanceof CmkError, `expected a CmkError, got ${String(error)}`);
      assert.equal(error.kind, "usage");
      assert.doesNotMatch(error.message, /\n/, "messages are one line");
      for (const pattern of patterns) assert.match(error.message, pattern);
      message = error.message;
      return true;
    },
  );
  return message;
}

describe("kubeconfigAccess: one file", () => {
  it("takes the current context's cluster, user and namespace, not another context's", () => {
    const path = kubeconfig(`apiVersion: v1
kind: Config
current-context: prod
contexts:
- name: dev
  context:
    cluster: dev-cluster
    user: dev-user
    namespace: dev-ns
- name: prod
  context:
    cluster: prod-cluster
    user: prod-user
    namespace: cmk-system
clusters:
- name: dev-cluster
  cluster:
    server: https://dev.example:6443
- name: prod-cluster
  cluster:
    server: https://prod.example:6443/
    tls-server-name: kubernetes.default.svc
users:
- name: dev-user
  user:
    token: dev-token
- name: prod-user
  user:
    token: prod-token
`);
    const access = kubeconfigAccess([path]);
    assert.deepEqual(access, {
      server: "https://prod.example:6443",
      ca: undefined,
      tlsServerName: "kubernetes.default.svc",
      credentials: { kind: "token", token: "prod-token" },
      namespace: "cmk-system",
      source: `kubeconfig ${path}, context prod`,
    } satisfies ClusterAccess);
  });

  it("reads a context without a user or namespace as no credentials and no namespace", () => {
    const path = kubeconfig(`current-context: anonymous
contexts:
- name: anonymous
  context:
    cluster: c
clusters:
- name: c
  cluster:
    server: https://10.0.0.1:6443
`);
    const access = kubeconfigAccess([path]);
    assert.deepEqual(access.credentials, { kind: "none" });
    assert.equal(access.namespace, undefined);
  });

  it("reads a kubeconfig written as JSON", () => {
    const path = kubeconfig(
      JSON.stringify(
        {
          apiVersion: "v1",
          kind: "Config",
          "current-context": "ctx",
          contexts: [{ name: "ctx", context: { cluster: "c", user: "u" } }],
          clusters: [{ name: "c", cluster: { server: "https://10.0.0.1:6443" } }],
          users: [{ name: "u", user: { token: "json-token" } }],
        },
        null,
        2,
      ),
    );
    assert.deepEqual(credentialsOf(path), { kind: "token", token: "json-token" });
  });

  it("accepts a user or cluster entry written with an empty body (user:), as kubectl does", () => {
    const path = kubeconfig(`current-context: ctx
contexts:
- name: ctx
  context:
    cluster: c
    user: nobody
clusters:
- name: c
  cluster:
    server: https://10.0.0.1:6443
users:
- name: nobody
  user:
`);
    assert.deepEqual(credentialsOf(path), { kind: "none" });
  });
});

describe("kubeconfigAccess: KUBECONFIG's files merged as kubectl merges them", () => {
  // a names no current context; b names ctx and defines it, c names its own; a and b both define
  // cluster c and user u (a's win), b and c both define context ctx (b's wins).
  const a = kubeconfig(
    `clusters:
- name: c
  cluster:
    server: https://from-a.example:6443
    certificate-authority: ca.pem
users:
- name: u
  user:
    token: token-from-a
`,
    { "ca.pem": pem("ca of a") },
  );
  const b = kubeconfig(
    `current-context: ctx
contexts:
- name: ctx
  context:
    cluster: c
    user: u
    namespace: from-b
clusters:
- name: c
  cluster:
    server: https://from-b.example:6443
    certificate-authority: ca.pem
- name: only-b
  cluster:
    server: https://only-b.example:6443
users:
- name: u
  user:
    token: token-from-b
`,
    { "ca.pem": pem("ca of b") },
  );
  const c = kubeconfig(`current-context: ctx-c
contexts:
- name: ctx
  context:
    cluster: only-b
    namespace: from-c
- name: ctx-c
  context:
    cluster: only-b
    user: u
`);

  it("the first file to name a context, cluster or user wins; current-context comes from the first file that sets one", () => {
    const access = kubeconfigAccess([a, b, c]);
    assert.equal(access.server, "https://from-a.example:6443");
    // A relative path is resolved against the directory of the file that defined the entry.
    assert.equal(access.ca?.toString(), pem("ca of a"));
    assert.deepEqual(access.credentials, { kind: "token", token: "token-from-a" });
    assert.equal(access.namespace, "from-b");
    assert.equal(access.source, `kubeconfig ${a}:${b}:${c}, context ctx`);
  });

  it("in another order, other files win", () => {
    const access = kubeconfigAccess([c, b, a]);
    assert.equal(access.source, `kubeconfig ${c}:${b}:${a}, context ctx-c`);
    assert.equal(access.server, "https://only-b.example:6443");
    assert.deepEqual(access.credentials, { kind: "token", token: "token-from-b" });
    assert.equal(access.namespace, undefined);
    const bFirst = kubeconfigAccess([b, a]);
    assert.equal(bFirst.server, "https://from-b.example:6443");
    assert.equal(bFirst.ca?.toString(), pem("ca of b"));
  });

  it("an empty current-context does not count as set", () => {
    const empty = kubeconfig(`current-context: ""\n`);
    assert.equal(kubeconfigAccess([empty, b]).source, `kubeconfig ${empty}:${b}, context ctx`);
  });

  it("skips files that do not exist, and an empty file", () => {
    const missing = join(scratch, "missing", "config");
    const empty = kubeconfig("");
    const access = kubeconfigAccess([missing, empty, b]);
    assert.equal(access.server, "https://from-b.example:6443");
    assert.equal(access.source, `kubeconfig ${empty}:${b}, context ctx`);
  });

  it("refuses when none of the files exists, naming them", () => {
    const missing = [join(scratch, "nowhere", "one"), join(scratch, "nowhere", "two")];
    assertRefused(missing, new RegExp(`no kubeconfig at ${missing[0]}, ${missing[1]}`), /--kubeconfig=/);
    assertRefused([], /no kubeconfig/);
  });
});

describe("kubeconfigAccess: certificates, tokens and exec plugins", () => {
  it("resolves relative certificate-authority, client-certificate, client-key and tokenFile against the kubeconfig's directory", () => {
    const dir = dirWith({ "pki/ca.crt": pem("the ca"), "pki/client.crt": pem("the client"), "keys/client.key": pemKey("the key") });
    const withCert = join(dir, "with-cert");
    writeFileSync(
      withCert,
      single(
        "    client-certificate: pki/client.crt\n    client-key: ./keys/client.key\n",
        "    server: https://10.0.0.1:6443\n    certificate-authority: pki/ca.crt\n",
      ),
    );
    const access = kubeconfigAccess([withCert]);
    assert.equal(access.ca?.toString(), pem("the ca"));
    assert.deepEqual(access.credentials, { kind: "certificate", cert: Buffer.from(pem("the client")), key: Buffer.from(pemKey("the key")) });

    const withTokenFile = join(dir, "with-token-file");
    writeFileSync(withTokenFile, single("    tokenFile: secrets/token\n"));
    // The token file need not exist yet: it is read on each request.
    assert.deepEqual(credentialsOf(withTokenFile), { kind: "token-file", path: join(dir, "secrets/token") });
  });

  it("keeps absolute paths, and resolves a relative kubeconfig path from the working directory", () => {
    const pki = dirWith({ "ca.crt": pem("absolute ca") });
    const dir = dirWith({ "sub/ca.crt": pem("relative ca") });
    writeFileSync(
      join(dir, "sub/absolute"),
      single("    tokenFile: /run/token\n", `    server: https://10.0.0.1:6443\n    certificate-authority: ${pki}/ca.crt\n`),
    );
    writeFileSync(join(dir, "sub/relative"), single("    token: t\n", "    server: https://10.0.0.1:6443\n    certificate-authority: ca.crt\n"));
    writeFileSync(join(dir, "bare"), single("    token: t\n", "    server: https://10.0.0.1:6443\n    certificate-authority: sub/ca.crt\n"));
    const absolute = kubeconfigAccess([join(dir, "sub/absolute")]);
    assert.equal(absolute.ca?.toString(), pem("absolute ca"));
    assert.deepEqual(absolute.credentials, { kind: "token-file", path: "/run/token" });
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      assert.equal(kubeconfigAccess(["sub/relative"]).ca?.toString(), pem("relative ca"));
      assert.equal(kubeconfigAccess(["bare"]).ca?.toString(), pem("relative ca"));
    } finally {
      process.chdir(cwd);
    }
  });

  it("decodes the -data fields from base64, and prefers them to the file fields", () => {
    const path = kubeconfig(
      single(
        `    client-certificate-data: ${b64(pem("client"))}\n    client-key-data: ${b64(pemKey("key"))}\n    client-certificate: does-not-exist.crt\n`,
        `    server: https://10.0.0.1:6443\n    certificate-authority-data: ${b64(pem("ca"))}\n    certificate-authority: does-not-exist.crt\n`,
      ),
    );
    const access = kubeconfigAccess([path]);
    assert.equal(access.ca?.toString(), pem("ca"));
    assert.deepEqual(access.credentials, { kind: "certificate", cert: Buffer.from(pem("client")), key: Buffer.from(pemKey("key")) });
  });

  it("refuses -data that is not base64 of a PEM block, and a file that is not PEM, naming the field", () => {
    const rawPem = kubeconfig(
      single("    token: t\n", `    server: https://10.0.0.1:6443\n    certificate-authority-data: "${pem("ca").replaceAll("\n", "\\n")}"\n`),
    );
    assertRefused([rawPem], /cluster c: certificate-authority-data is not base64 of a PEM/, /base64 -w0/);
    const garbage = kubeconfig(single(`    client-certificate-data: ${b64(pem("client"))}\n    client-key-data: "not base64!"\n`));
    assertRefused([garbage], /user u: client-key-data is not base64 of a PEM/);
    const derFile = kubeconfig(single("    token: t\n", "    server: https://10.0.0.1:6443\n    certificate-authority: ca.der\n"), { "ca.der": "0\x82\x01\n" });
    assertRefused([derFile], new RegExp(`cluster c's certificate-authority ${join(derFile, "..")}/ca.der is not a PEM file`));
  });

  it("reads a token, and a token before a tokenFile as kubectl does", () => {
    assert.deepEqual(credentialsOf(kubeconfig(single("    token: abc.def.ghi\n"))), { kind: "token", token: "abc.def.ghi" });
    assert.deepEqual(credentialsOf(kubeconfig(single("    tokenFile: token\n    token: inline\n"))), { kind: "token", token: "inline" });
  });

  it("reads an exec plugin's command, arguments, environment list and apiVersion", () => {
    const path = kubeconfig(
      single(`    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
      args:
      - eks
      - get-token
      - --duration
      - 900
      env:
      - name: AWS_PROFILE
        value: prod
      - name: RETRIES
        value: 3
      interactiveMode: Never
`),
    );
    assert.deepEqual(credentialsOf(path), {
      kind: "exec",
      plugin: {
        command: "aws",
        args: ["eks", "get-token", "--duration", "900"],
        env: { AWS_PROFILE: "prod", RETRIES: "3" },
        apiVersion: "client.authentication.k8s.io/v1beta1",
      },
    });
  });

  it("defaults an exec plugin's apiVersion to v1 and its args and env to none", () => {
    const plugin = credentialsOf(kubeconfig(single("    exec:\n      command: /usr/local/bin/get-token\n")));
    assert.deepEqual(plugin, {
      kind: "exec",
      plugin: { command: "/usr/local/bin/get-token", args: [], env: {}, apiVersion: "client.authentication.k8s.io/v1" },
    });
  });

  it("resolves an exec command with a slash against the kubeconfig's directory, and leaves a bare name to PATH", () => {
    const path = kubeconfig(single("    exec:\n      command: ./bin/get-token\n"));
    const dir = join(path, "..");
    assert.deepEqual(credentialsOf(path), {
      kind: "exec",
      plugin: { command: join(dir, "bin/get-token"), args: [], env: {}, apiVersion: "client.authentication.k8s.io/v1" },
    });
    const bare = credentialsOf(kubeconfig(single("    exec:\n      command: gke-gcloud-auth-plugin\n")));
    assert.equal(bare.kind === "exec" ? bare.plugin.command : bare.kind, "gke-gcloud-auth-plugin");
  });

  it("refuses an exec plugin without a command, or with malformed args or env", () => {
    assertRefused([kubeconfig(single("    exec:\n      args: [x]\n"))], /user u: exec needs a command/);
    assertRefused([kubeconfig(single("    exec:\n      command: x\n      args: [[nested]]\n"))], /exec args must be a list of strings/);
    assertRefused([kubeconfig(single("    exec:\n      command: x\n      env: {A: b}\n"))], /exec env must be a list of name\/value entries/);
    assertRefused([kubeconfig(single("    exec:\n      command: x\n      env:\n      - name: A\n"))], /every exec env entry needs a name and a value/);
  });
});

describe("kubeconfigAccess: refusals that say what to change", () => {
  it("refuses insecure-skip-tls-verify: true", () => {
    const path = kubeconfig(single("    token: t\n", "    server: https://10.0.0.1:6443\n    insecure-skip-tls-verify: true\n"));
    assertRefused([path], new RegExp(`^kubeconfig ${path}: cluster c turns TLS verification off`), /insecure-skip-tls-verify/, /certificate-authority/);
    // false is harmless.
    const verified = kubeconfig(single("    token: t\n", "    server: https://10.0.0.1:6443\n    insecure-skip-tls-verify: false\n"));
    assert.equal(kubeconfigAccess([verified]).server, "https://10.0.0.1:6443");
  });

  it("refuses an http:// server", () => {
    const path = kubeconfig(single("    token: t\n", "    server: http://10.0.0.1:8080\n"));
    assertRefused([path], /server http:\/\/10\.0\.0\.1:8080 is not https:\/\//, /API server's https:\/\/ address/);
  });

  it("refuses a proxy-url, and ignores an empty one", () => {
    const path = kubeconfig(single("    token: t\n", "    server: https://10.0.0.1:6443\n    proxy-url: socks5://localhost:1080\n"));
    assertRefused([path], /cluster c uses proxy-url/, /remove proxy-url/);
    const empty = kubeconfig(single("    token: t\n", '    server: https://10.0.0.1:6443\n    proxy-url: ""\n'));
    assert.equal(kubeconfigAccess([empty]).server, "https://10.0.0.1:6443");
  });

  it("refuses an auth-provider", () => {
    const path = kubeconfig(single("    auth-provider:\n      name: gcp\n      config:\n        cmd-path: gcloud\n"));
    assertRefused([path], /user u uses an auth-provider/, /exec plugin/);
  });

  it("refuses a username and password", () => {
    assertRefused([kubeconfig(single("    username: admin\n    password: secret\n"))], /user u uses a username and password/, /token or .*certificate/);
    assertRefused([kubeconfig(single("    password: secret\n"))], /user u uses a username and password/);
  });

  it("refuses a client certificate without its key, and a key without its certificate", () => {
    const dir = dirWith({ "client.crt": pem("client"), "client.key": pemKey("key") });
    writeFileSync(join(dir, "cert-only"), single("    client-certificate: client.crt\n"));
    writeFileSync(join(dir, "key-only"), single(`    client-key-data: ${b64(pemKey("key"))}\n`));
    assertRefused([join(dir, "cert-only")], /user u has a client certificate but no key/, /give client-key or client-key-data/);
    assertRefused([join(dir, "key-only")], /user u has a client key but no certificate/, /give client-certificate or client-certificate-data/);
  });

  it("refuses a context that names an undefined cluster or user", () => {
    const noCluster = kubeconfig(single("    token: t\n").replace("cluster: c\n", "cluster: elsewhere\n"));
    assertRefused([noCluster], /context ctx names cluster "elsewhere", which is not defined/, /add it under clusters/);
    const noUser = kubeconfig(single("    token: t\n").replace("user: u\n", "user: someone\n"));
    assertRefused([noUser], /context ctx names user "someone", which is not defined/, /add it under users/);
    const clusterless = kubeconfig(single("    token: t\n").replace("    cluster: c\n", ""));
    assertRefused([clusterless], /context ctx has no cluster/);
  });

  it("refuses a missing current-context, or one that names no context", () => {
    const none = kubeconfig(single("    token: t\n").replace("current-context: ctx\n", ""));
    assertRefused([none], new RegExp(`^kubeconfig ${none} has no current-context`), /kubectl config use-context/);
    const undefinedContext = kubeconfig(single("    token: t\n").replace("current-context: ctx\n", "current-context: gone\n"));
    assertRefused([undefinedContext], /current-context "gone" is not among its contexts/, /use-context/);
  });

  it("reports a malformed file with its path and line", () => {
    const path = kubeconfig("apiVersion: v1\nclusters:\n- name: c\n   cluster: {}\n");
    const message = assertRefused([path], new RegExp(`^cannot read kubeconfig ${path}: line 4: `));
    assert.equal(message.split(path).length, 2, `the path once: ${message}`);
    assertRefused([kubeconfig("- just\n- a list\n")], /is not a mapping; is it a kubeconfig file\?/);
    assertRefused([kubeconfig("clusters: {c: {server: x}}\n")], /"clusters" must be a list/);
    assertRefused([kubeconfig("users:\n- user:\n    token: t\n")], /every entry of "users" needs a name and a user mapping/);
  });

  it("reports a referenced file that cannot be read, naming the field and the resolved path", () => {
    const path = kubeconfig(single("    token: t\n", "    server: https://10.0.0.1:6443\n    certificate-authority: missing-ca.crt\n"));
    assertRefused([path], new RegExp(`cannot read cluster c's certificate-authority at ${join(path, "..")}/missing-ca.crt: ENOENT`));
  });
});

describe("inClusterAccess and inPod: the pod's service account", () => {
  function accountDir(files: Record<string, string> = { token: "jwt\n", "ca.crt": pem("cluster ca"), namespace: "team-a\n" }): string {
    return dirWith(files);
  }

  it("reaches the service address with the mounted CA, re-reads the token file, and takes the pod's namespace", () => {
    const dir = accountDir();
    const access = inClusterAccess({ serviceHost: "10.96.0.1", servicePort: "443", serviceAccountDir: dir });
    assert.deepEqual(access, {
      server: "https://10.96.0.1:443",
      ca: Buffer.from(pem("cluster ca")),
      tlsServerName: undefined,
      credentials: { kind: "token-file", path: `${dir}/token` },
      namespace: "team-a",
      source: `the pod's service account (${dir})`,
    } satisfies ClusterAccess);
  });

  it("puts an IPv6 service host in brackets, and defaults the port to 443", () => {
    const dir = accountDir();
    assert.equal(inClusterAccess({ serviceHost: "fd00:10:96::1", servicePort: "6443", serviceAccountDir: dir }).server, "https://[fd00:10:96::1]:6443");
    assert.equal(
      inClusterAccess({ serviceHost: "kubernetes.default.svc", servicePort: undefined, serviceAccountDir: dir }).server,
      "https://kubernetes.default.svc:443",
    );
  });

  it("has no namespace without the namespace file", () => {
    const dir = accountDir({ token: "jwt", "ca.crt": pem("cluster ca") });
    assert.equal(inClusterAccess({ serviceHost: "10.96.0.1", servicePort: "443", serviceAccountDir: dir }).namespace, undefined);
  });

  it("refuses outside a pod, and without the CA certificate", () => {
    assert.throws(
      () => inClusterAccess({ serviceHost: undefined, servicePort: undefined, serviceAccountDir: accountDir() }),
      (error: unknown) => error instanceof CmkError && /KUBERNETES_SERVICE_HOST is not set.*--kubeconfig/.test(error.message),
    );
    const noCa = accountDir({ token: "jwt" });
    assert.throws(
      () => inClusterAccess({ serviceHost: "10.96.0.1", servicePort: "443", serviceAccountDir: noCa }),
      (error: unknown) => error instanceof CmkError && error.message.startsWith(`cannot read the service account's CA certificate at ${noCa}/ca.crt: ENOENT`),
    );
  });

  it("inPod: the service host is set and the token is mounted", () => {
    const dir = accountDir();
    assert.equal(inPod({ serviceHost: "10.96.0.1", servicePort: "443", serviceAccountDir: dir }), true);
    assert.equal(inPod({ serviceHost: undefined, servicePort: "443", serviceAccountDir: dir }), false);
    assert.equal(inPod({ serviceHost: "10.96.0.1", servicePort: "443", serviceAccountDir: accountDir({ "ca.crt": pem("ca") }) }), false);
  });
});
