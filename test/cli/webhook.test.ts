// cmk webhook as the API server, a prober and an attacker see it: a real `cmk webhook` process on
// 127.0.0.1 with certificates made by openssl, asked over HTTPS by this test (never with a
// synchronous spawn while the server must answer). What each path and method answers; bodies that
// are too large, not JSON or not a Pod review; 50 reviews at once; client certificates when
// --insecure=false; TLS below 1.2 refused; the mutations file and the certificate reloaded when
// they change (and the last good kept when the new one is bad); SIGTERM with a drain delay;
// configuration errors as one line with their exit status.
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { createServer } from "node:net";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { type TLSSocket, connect as tlsConnect } from "node:tls";
import { applyPatch, type JsonObject, patchOf, reviewOf } from "../helpers/admission.ts";
import { collect, freePort, repoRoot, runCmk, scratchDir, spawnCmk, startServing, waitFor } from "../helpers/cmk.ts";
import { type Issued, issue, makeCa } from "../helpers/tls.ts";

const dir = scratchDir("webhook");
const shippedMutations = join(repoRoot, "deploy", "webhook-mutations.yaml");

interface Pki {
  ca: Issued;
  server: Issued;
  rotated: Issued;
  client: Issued;
  stranger: Issued;
}
let pki: Pki;

before(async () => {
  const ca = await makeCa(dir, "ca");
  const otherCa = await makeCa(dir, "other-ca");
  pki = {
    ca,
    server: await issue(dir, ca, "server", "server"),
    rotated: await issue(dir, ca, "rotated", "server"),
    client: await issue(dir, ca, "apiserver", "client"),
    stranger: await issue(dir, otherCa, "stranger", "client"),
  };
});

interface Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
  /** The fingerprint of the certificate the server presented. */
  readonly served: string;
}

interface Ask {
  readonly method?: string;
  readonly body?: string | Buffer;
  readonly headers?: Record<string, string>;
  readonly client?: Issued;
  readonly maxVersion?: "TLSv1.1" | "TLSv1.2" | "TLSv1.3";
  /** Send the body in chunks without a Content-Length. */
  readonly chunked?: boolean;
}

/** One HTTPS request on a connection of its own, verifying the server against the test CA. */
function ask(port: number, path: string, options: Ask = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const body = options.body;
    const headers: Record<string, string> = { ...(body === undefined ? {} : { "Content-Type": "application/json" }), ...options.headers };
    if (body !== undefined && options.chunked !== true) headers["Content-Length"] = String(Buffer.byteLength(body));
    const sent = httpsRequest(
      {
        host: "127.0.0.1",
        port,
        path,
        method: options.method ?? (body === undefined ? "GET" : "POST"),
        headers,
        ca: pki.ca.cert,
        agent: false,
        timeout: 10_000,
        ...(options.maxVersion === undefined ? {} : { maxVersion: options.maxVersion, minVersion: "TLSv1" as const }),
        ...(options.client === undefined ? {} : { cert: options.client.cert, key: options.client.key }),
      },
      (response) => {
        let text = "";
        const served = (response.socket as TLSSocket).getPeerX509Certificate()?.fingerprint256 ?? "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (text += chunk));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: text, served }));
      },
    );
    sent.on("timeout", () => sent.destroy(new Error(`${path} timed out`)));
    sent.on("error", reject);
    if (body !== undefined && options.chunked === true) {
      const buffer = Buffer.from(body);
      for (let offset = 0; offset < buffer.length; offset += 1 << 20) sent.write(buffer.subarray(offset, offset + (1 << 20)));
      sent.end();
    } else sent.end(body);
  });
}

const asksForCores = {
  metadata: { name: "app", namespace: "default" },
  spec: {
    containers: [
      { name: "app", image: "x", resources: { requests: { "cmk.intel.com/exclusive-cores": "2" }, limits: { "cmk.intel.com/exclusive-cores": "2" } } },
    ],
  },
};

function reviewBody(uid = "uid-1", pod: JsonObject = asksForCores): string {
  return JSON.stringify(reviewOf(pod, { uid }));
}

/** The env of the first container after applying the answer's patch. */
function envAfter(answer: Answer, pod: JsonObject = asksForCores): Record<string, unknown> {
  const response = (JSON.parse(answer.body) as { response: JsonObject }).response;
  const patched = applyPatch(pod, patchOf(response)) as { spec: { containers: { env?: { name: string; value: string }[] }[] } };
  return Object.fromEntries((patched.spec.containers[0]?.env ?? []).map((variable) => [variable.name, variable.value]));
}

let instances = 0;

interface Running {
  readonly child: ChildProcess;
  readonly port: number;
  readonly dir: string;
  /** Everything the process wrote to stderr so far. */
  log(): string;
  stop(): Promise<{ status: number | null; stderr: string }>;
}

/** Starts cmk webhook with its own copies of the files; resolves once it serves. */
async function startWebhook(flags: readonly string[] = ["--insecure=true"], mutations = readFileSync(shippedMutations, "utf8")): Promise<Running> {
  const home = join(dir, `instance-${instances++}`);
  mkdirSync(home);
  copyFileSync(pki.server.certFile, join(home, "tls.crt"));
  copyFileSync(pki.server.keyFile, join(home, "tls.key"));
  writeFileSync(join(home, "mutations.yaml"), mutations);
  const port = await freePort();
  writeFileSync(
    join(home, "server.yaml"),
    `server:\n  binding-address: 127.0.0.1\n  port: ${port}\n  cert: tls.crt\n  key: tls.key\n  mutations: mutations.yaml\n`,
  );
  const { child, stderr, exited } = await startServing(["webhook", `--conf-file=${join(home, "server.yaml")}`, ...flags], {}, /serving admission reviews on/);
  return {
    child,
    port,
    dir: home,
    log: stderr,
    stop: async () => {
      // One SIGTERM only: a second one, as from an impatient operator, ends the process at once.
      if (child.exitCode === null && child.signalCode === null && !child.killed) child.kill("SIGTERM");
      const result = await exited;
      return { status: result.status, stderr: stderr() };
    },
  };
}

describe("cmk webhook --insecure=true", () => {
  let webhook: Running;
  before(async () => {
    webhook = await startWebhook();
  });

  it("answers a review of a pod asking for cores with its patch, echoing the uid", async () => {
    const answer = await ask(webhook.port, "/mutate?timeout=5s", { body: reviewBody("abc-123") });
    assert.equal(answer.status, 200, answer.body);
    assert.match(String(answer.headers["content-type"]), /^application\/json/);
    const review = JSON.parse(answer.body) as { apiVersion: string; kind: string; response: JsonObject };
    assert.equal(review.apiVersion, "admission.k8s.io/v1");
    assert.equal(review.kind, "AdmissionReview");
    assert.equal(review.response["uid"], "abc-123");
    assert.equal(review.response["patchType"], "JSONPatch");
    assert.deepEqual(envAfter(answer), { CMK_AGENT_SOCKET: "/var/lib/cmk/agent.sock", CMK_NUM_CORES: "2" });
    assert.match(webhook.log(), /INFO:cmk:mutated pod default\/app: \d+ patch operations/);
  });

  it("answers probes, and only POST /mutate otherwise", async () => {
    assert.deepEqual([(await ask(webhook.port, "/healthz")).status, (await ask(webhook.port, "/readyz")).status], [200, 200]);
    const head = await ask(webhook.port, "/readyz", { method: "HEAD" });
    assert.equal(head.status, 200);
    const get = await ask(webhook.port, "/mutate");
    assert.equal(get.status, 405);
    assert.equal(get.headers["allow"], "POST");
    assert.equal((await ask(webhook.port, "/healthz", { method: "POST", body: "{}" })).status, 405);
    for (const path of ["/", "/mutate/", "/validate", "/metrics", "/mutatex"]) {
      const answer = await ask(webhook.port, path, { method: "POST", body: reviewBody() });
      assert.equal(answer.status, 404, path);
      assert.match(answer.body, /cmk webhook serves POST \/mutate/);
    }
  });

  it("refuses what is not a review of a pod with 400 and the reason, and goes on serving", async () => {
    const cases: [string, RegExp][] = [
      ["{not json", /^the body is not JSON/],
      [JSON.stringify({ apiVersion: "admission.k8s.io/v2", kind: "AdmissionReview", request: {} }), /apiVersion "admission.k8s.io\/v2" is not answered/],
      [JSON.stringify({ ...reviewOf(asksForCores), request: { uid: "u", kind: { group: "", version: "v1", kind: "Secret" } } }), /not of a Pod/],
    ];
    for (const [body, reason] of cases) {
      const answer = await ask(webhook.port, "/mutate", { body });
      assert.equal(answer.status, 400, body);
      assert.match(answer.body, reason);
    }
    assert.equal((await ask(webhook.port, "/mutate", { body: "{}", headers: { "Content-Type": "text/plain" } })).status, 415);
    // Not even HTTP: Node's parser answers 400 and the server goes on.
    const garbage = await new Promise<string>((resolve) => {
      const socket = tlsConnect({ host: "127.0.0.1", port: webhook.port, ca: pki.ca.cert }, () => socket.write("\u0000\u0001 NOT HTTP\r\n\r\n"));
      let text = "";
      socket.on("data", (chunk: Buffer) => (text += chunk.toString()));
      // The server closes after its answer; a reset after it is no failure here.
      socket.on("error", () => {});
      socket.on("close", () => resolve(text));
    });
    assert.match(garbage, /^HTTP\/1.1 400 Bad Request/);
    assert.match(webhook.log(), /WARNING:cmk:bad review from 127.0.0.1:\d+: the body is not JSON/);
    assert.equal((await ask(webhook.port, "/mutate", { body: reviewBody() })).status, 200);
  });

  it("refuses a body above 3 MiB with 413, whether announced or streamed, and goes on serving", async () => {
    const huge = JSON.stringify({ ...reviewOf(asksForCores), padding: "x".repeat(3 * 1024 * 1024) });
    const announced = await ask(webhook.port, "/mutate", { body: huge });
    assert.equal(announced.status, 413);
    assert.equal(announced.headers["connection"], "close");
    const streamed = await ask(webhook.port, "/mutate", { body: huge, chunked: true }).catch((error: unknown) => error);
    // The server answers 413 as soon as the limit is passed and closes; the client may still be writing then.
    if (!(streamed instanceof Error)) assert.equal((streamed as Answer).status, 413);
    const justUnder = JSON.stringify({ ...reviewOf(asksForCores, { uid: "big" }), padding: "x".repeat(3 * 1024 * 1024 - 2000) });
    const fits = await ask(webhook.port, "/mutate", { body: justUnder });
    assert.equal(fits.status, 200, fits.body.slice(0, 200));
    assert.equal((await ask(webhook.port, "/mutate", { body: reviewBody() })).status, 200);
  });

  it("answers 50 reviews at once, each with its own uid", async () => {
    const answers = await Promise.all(Array.from({ length: 50 }, (_, index) => ask(webhook.port, "/mutate", { body: reviewBody(`uid-${index}`) })));
    answers.forEach((answer, index) => {
      assert.equal(answer.status, 200);
      assert.equal((JSON.parse(answer.body) as { response: JsonObject }).response["uid"], `uid-${index}`);
    });
  });

  it("speaks TLS 1.2 and 1.3, never 1.1", async () => {
    assert.equal((await ask(webhook.port, "/healthz", { maxVersion: "TLSv1.2" })).status, 200);
    await assert.rejects(ask(webhook.port, "/healthz", { maxVersion: "TLSv1.1" }));
  });

  it("reloads the mutations file when it changes, keeps the last good one when the new one does not load", async () => {
    const file = join(webhook.dir, "mutations.yaml");
    const original = readFileSync(file, "utf8");
    writeFileSync(file, original.replace("    - name: CMK_AGENT_SOCKET\n", "    - name: EXTRA\n      value: here\n    - name: CMK_AGENT_SOCKET\n"));
    await waitFor(
      "the new mutations",
      async () => (envAfter(await ask(webhook.port, "/mutate", { body: reviewBody() }))["EXTRA"] === "here" ? true : undefined),
      10,
      50,
    );
    assert.match(webhook.log(), /INFO:cmk:reloaded the mutations from .*mutations.yaml/);
    // A file that would hand pods a service account is refused; the one before stays.
    writeFileSync(file, `${original}\n`.replace("    spec:\n", "    spec:\n      serviceAccountName: powerful\n"));
    await waitFor(
      "the refusal in the log",
      async () => (/keeping the mutations loaded before: .*serviceAccountName is refused/.test(webhook.log()) ? true : undefined),
      10,
      50,
    );
    assert.equal(envAfter(await ask(webhook.port, "/mutate", { body: reviewBody() }))["EXTRA"], "here");
    // An atomic replacement (a ConfigMap volume swaps a link; editors rename) is seen too.
    writeFileSync(join(webhook.dir, "next.yaml"), original);
    renameSync(join(webhook.dir, "next.yaml"), file);
    await waitFor(
      "the original mutations again",
      async () => (envAfter(await ask(webhook.port, "/mutate", { body: reviewBody() }))["EXTRA"] === undefined ? true : undefined),
      10,
      50,
    );
    // A ConfigMap volume: the file is a link into ..data, a link the kubelet replaces atomically.
    const withExtra = (value: string): string =>
      original.replace("    - name: CMK_AGENT_SOCKET\n", `    - name: EXTRA\n      value: ${value}\n    - name: CMK_AGENT_SOCKET\n`);
    const extra = async (): Promise<unknown> => envAfter(await ask(webhook.port, "/mutate", { body: reviewBody() }))["EXTRA"];
    for (const [version, value] of [
      ["..2026_12_01", "one"],
      ["..2026_12_02", "two"],
    ] as const) {
      mkdirSync(join(webhook.dir, version));
      writeFileSync(join(webhook.dir, version, "mutations.yaml"), withExtra(value));
      symlinkSync(version, join(webhook.dir, "..data_tmp"));
      renameSync(join(webhook.dir, "..data_tmp"), join(webhook.dir, "..data"));
      if (value === "one") {
        symlinkSync("..data/mutations.yaml", join(webhook.dir, "link.tmp"));
        renameSync(join(webhook.dir, "link.tmp"), file);
      }
      await waitFor(`the mutations of ${version}`, async () => ((await extra()) === value ? true : undefined), 10, 50);
    }
  });

  it("serves a new certificate and key once their files change, and keeps the old pair while the new one is not a pair", async () => {
    const before = (await ask(webhook.port, "/healthz")).served;
    assert.equal(before, new X509Certificate(pki.server.cert).fingerprint256);
    // First the certificate alone: it does not match the old key, so the old pair stays.
    writeFileSync(join(webhook.dir, "tls.crt"), pki.rotated.cert);
    await waitFor(
      "the refusal of the half-written pair",
      async () => (/keeping the serving certificate loaded before: .*do not make a pair/.test(webhook.log()) ? true : undefined),
      10,
      50,
    );
    assert.equal((await ask(webhook.port, "/healthz")).served, before);
    writeFileSync(join(webhook.dir, "tls.key"), pki.rotated.key);
    const rotated = new X509Certificate(pki.rotated.cert).fingerprint256;
    await waitFor("the rotated certificate", async () => ((await ask(webhook.port, "/healthz")).served === rotated ? true : undefined), 10, 50);
    assert.match(webhook.log(), /INFO:cmk:reloaded the serving certificate CN=rotated/);
  });

  it("ends on SIGTERM with status 0, and stops listening", async () => {
    const { status, stderr } = await webhook.stop();
    assert.equal(status, 0, stderr);
    assert.match(stderr, /INFO:cmk:stopping\n$/);
    await assert.rejects(ask(webhook.port, "/healthz"));
  });
});

describe("cmk webhook with client certificates (--insecure=false, the default)", () => {
  let webhook: Running;
  before(async () => {
    webhook = await startWebhook([`--cafile=${pki.ca.certFile}`]);
  });

  it("answers reviews from a client with a certificate --cafile signed", async () => {
    const answer = await ask(webhook.port, "/mutate", { body: reviewBody(), client: pki.client });
    assert.equal(answer.status, 200, answer.body);
  });

  it("refuses a client without a certificate, or with one another CA signed, with 403", async () => {
    const cases: [Issued | undefined, RegExp][] = [
      [undefined, /; none was presented: give the API server a client certificate for webhooks .* or run cmk webhook with --insecure=true/],
      [pki.stranger, /; CN=stranger does not verify: UNABLE_TO_VERIFY_LEAF_SIGNATURE/],
    ];
    for (const [client, why] of cases) {
      const answer = await ask(webhook.port, "/mutate", { body: reviewBody(), ...(client === undefined ? {} : { client }) });
      assert.equal(answer.status, 403, answer.body);
      assert.match(answer.body, /^a client certificate signed by the webhook's --cafile is required; /);
      assert.match(answer.body, why);
      assert.equal(answer.body.includes("CMK_NUM_CORES"), false);
    }
    assert.match(webhook.log(), /WARNING:cmk:refused a review from 127.0.0.1:\d+: a client certificate signed by --cafile .* is required; none was presented/);
  });

  it("lets probes without a certificate reach /healthz and /readyz (a kubelet has none)", async () => {
    assert.equal((await ask(webhook.port, "/healthz")).status, 200);
    assert.equal((await ask(webhook.port, "/readyz")).status, 200);
  });

  it("--insecure=False is CMK's spelling of the same", async () => {
    const cmkSpelling = await startWebhook([`--cafile=${pki.ca.certFile}`, "--insecure=False"]);
    try {
      assert.equal((await ask(cmkSpelling.port, "/mutate", { body: reviewBody() })).status, 403);
    } finally {
      await cmkSpelling.stop();
    }
  });

  it("after SIGTERM with --shutdown-delay, says 503 on /readyz and still answers reviews, then exits 0", async () => {
    const draining = await startWebhook([`--cafile=${pki.ca.certFile}`, "--shutdown-delay=1.5"]);
    draining.child.kill("SIGTERM");
    await waitFor("readyz 503", async () => ((await ask(draining.port, "/readyz")).status === 503 ? true : undefined), 10, 50);
    assert.match((await ask(draining.port, "/readyz")).body, /not ready: shutting down/);
    assert.equal((await ask(draining.port, "/mutate", { body: reviewBody(), client: pki.client })).status, 200);
    const { status, stderr } = await draining.stop();
    assert.equal(status, 0, stderr);
    assert.match(stderr, /stopping: answering reviews for 1.5 more seconds/);
  });

  it("says 503 on /readyz once its certificate has expired", async () => {
    const expired = await issue(dir, pki.ca, "expired", "server", 0);
    const short = await startWebhook(["--insecure=true"]);
    try {
      writeFileSync(join(short.dir, "tls.key"), expired.key);
      writeFileSync(join(short.dir, "tls.crt"), expired.cert);
      await waitFor("the expired certificate", async () => (/reloaded the serving certificate CN=expired/.test(short.log()) ? true : undefined), 10, 50);
      const readyz = await new Promise<Answer>((resolve, reject) => {
        const sent = httpsRequest({ host: "127.0.0.1", port: short.port, path: "/readyz", rejectUnauthorized: false, agent: false }, (response) => {
          let body = "";
          response.on("data", (chunk: Buffer) => (body += chunk.toString()));
          response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body, served: "" }));
        });
        sent.on("error", reject);
        sent.end();
      });
      assert.equal(readyz.status, 503);
      assert.match(readyz.body, /not ready: the serving certificate expired at .*; renew .*tls.crt/);
    } finally {
      await short.stop();
      await webhook.stop();
    }
  });
});

describe("cmk webhook refuses to start, in one line, with its exit status", () => {
  function files(name: string, config: string, mutations = "mutations: {}\n"): string {
    const home = join(dir, `bad-${name}`);
    mkdirSync(home);
    copyFileSync(pki.server.certFile, join(home, "tls.crt"));
    copyFileSync(pki.server.keyFile, join(home, "tls.key"));
    writeFileSync(join(home, "mutations.yaml"), mutations);
    writeFileSync(join(home, "server.yaml"), config);
    return join(home, "server.yaml");
  }
  const good = "server:\n  binding-address: 127.0.0.1\n  port: 0\n  cert: tls.crt\n  key: tls.key\n  mutations: mutations.yaml\n";

  const cases: [string, () => string[], number, RegExp][] = [
    ["without --conf-file", () => [], 2, /^ERROR:cmk:cmk webhook needs --conf-file=<file>/],
    ["with a bad --insecure", () => [`--conf-file=${files("insecure", good)}`, "--insecure=maybe"], 2, /--insecure=maybe is not valid: expected true or false/],
    [
      "without its configuration file",
      () => ["--conf-file=/nonexistent/server.yaml"],
      2,
      /cannot read the webhook configuration \/nonexistent\/server.yaml: ENOENT/,
    ],
    ["with a key missing", () => [`--conf-file=${files("missing", good.replace(/ {2}key: .*\n/, ""))}`], 2, /server.yaml: server.key is missing/],
    [
      "with a certificate it cannot read",
      () => [`--conf-file=${files("cert", good.replace("tls.crt", "absent.crt"))}`, "--insecure=true"],
      2,
      /cannot load the serving certificate and key: ENOENT.*absent.crt/,
    ],
    [
      "with a key that is not the certificate's",
      () => {
        const path = files("pair", good);
        copyFileSync(pki.rotated.keyFile, join(path, "..", "tls.key"));
        return [`--conf-file=${path}`, "--insecure=true"];
      },
      2,
      /do not make a pair/,
    ],
    [
      "without the CA file (CMK's default path, absent here)",
      () => [`--conf-file=${files("ca", good)}`],
      2,
      /cannot load the serving certificate and key or the client CA: .*ca.crt/,
    ],
    [
      "with mutations that hand out a service account",
      () => [`--conf-file=${files("sa", good, "mutations:\n  perPod:\n    spec:\n      serviceAccountName: cmk\n")}`, "--insecure=true"],
      2,
      /cannot load the mutations: mutations file .*serviceAccountName is refused/,
    ],
  ];
  for (const [name, args, status, message] of cases) {
    it(name, () => {
      const result = runCmk(["webhook", ...args()]);
      assert.equal(result.status, status, result.stderr);
      assert.match(result.stderr, message);
      assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
      assert.match(result.stderr, /^ERROR:cmk:/);
    });
  }

  it("on a port already in use, naming the key to change (exit 1)", async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const { port } = taken.address() as { port: number };
    try {
      const child = spawnCmk(["webhook", `--conf-file=${files("port", good.replace("port: 0", `port: ${port}`))}`, "--insecure=true"]);
      const result = await collect(child);
      assert.equal(result.status, 1, result.stderr);
      assert.match(
        result.stderr,
        new RegExp(`^ERROR:cmk:cannot serve the webhook on 127.0.0.1:${port}: the address is already in use; change server.port in `),
      );
    } finally {
      taken.close();
    }
  });
});
