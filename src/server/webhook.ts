// The admission webhook's HTTPS server (cmk webhook): POST /mutate answers AdmissionReviews with
// the decision of core/admission.ts; GET /healthz and /readyz answer probes; anything else is 404,
// another method 405. TLS 1.2 or later with ECDHE and AEAD ciphers only. With a CA file, clients
// must present a certificate it signed to be answered on /mutate (403 otherwise): the handshake
// asks every client for one, and accepts one without, so that a kubelet's probe (which has none)
// still reaches /healthz and /readyz. The certificate, key and CA are reloaded when their files
// change (setSecureContext: new connections get the new pair, open ones keep theirs), and so is
// the mutations file, parsed once per change, never per request; a file that does not load keeps
// the last good one, and its reason is logged. Bodies above 3 MiB are refused (413) unread.
// Stopping: /readyz turns 503, the server keeps answering for the drain delay (while load
// balancers notice), then stops accepting, finishes what is in flight and closes.
import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { createSecureContext, type SecureContextOptions, type TLSSocket } from "node:tls";
import { type WatchedGroup, watchGroup } from "../adapters/file-watch.ts";
import type { Logger } from "../app/log.ts";
import { maxReviewBytes, reviewAdmission } from "../core/admission.ts";
import { CmkError, describeCause } from "../core/errors.ts";
import { type Mutations, noMutations } from "../core/mutations.ts";
import { parseMutations, parseWebhookConfig, type WebhookServerConfig } from "../formats/webhook-config.ts";

export interface WebhookOptions extends WebhookServerConfig {
  /** PEM file of the CA that signs clients' certificates; undefined: no client certificate asked for (--insecure). */
  readonly caFile: string | undefined;
  readonly log: Logger;
  /** Milliseconds between looks at the certificate, key, CA and mutations files. */
  readonly reloadIntervalMs?: number;
  /** Milliseconds since the epoch (certificate expiry). */
  readonly wallClock?: () => number;
}

export interface WebhookServer {
  /** https://<address>:<port> (the port chosen when 0 was asked for). */
  readonly url: string;
  readonly port: number;
  /**
   * Stops: /readyz answers 503 at once, reviews are still answered for `drainMs`, then the server
   * stops accepting connections, lets requests in flight finish for at most `graceMs`, and closes.
   */
  close(drainMs?: number, graceMs?: number): Promise<void>;
}

/**
 * The server configuration of `--conf-file` (CMK's format); unknown keys are logged and ignored.
 * `checkAddress` validates the binding address.
 */
export async function readWebhookConfig(path: string, log: Logger, checkAddress: (what: string, text: string) => string): Promise<WebhookServerConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new CmkError("usage", `cannot read the webhook configuration ${path}: ${describeCause(error)}`, { cause: error });
  }
  const { config, unknownKeys } = parseWebhookConfig(text, path, checkAddress);
  for (const key of unknownKeys) log.warning(`webhook configuration ${path}: server.${key} is not a cmk setting; ignored`);
  return config;
}

/** TLS 1.2 suites with forward secrecy and authenticated encryption (TLS 1.3's are all such). */
const ciphers = [
  "TLS_AES_128_GCM_SHA256",
  "TLS_AES_256_GCM_SHA384",
  "TLS_CHACHA20_POLY1305_SHA256",
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

const tlsBase = { minVersion: "TLSv1.2", ciphers, honorCipherOrder: true } as const;

/** The TLS material of the files, checked: PEM, a key that belongs to the certificate, a CA that parses. */
function tlsMaterial(contents: readonly Buffer[], options: WebhookOptions): { readonly secure: SecureContextOptions; readonly certificate: X509Certificate } {
  const [cert, key, ca] = contents as [Buffer, Buffer, Buffer | undefined];
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch (error) {
    throw new Error(`server.cert ${options.certFile} is not a PEM certificate (${describeCause(error)})`);
  }
  if (!key.includes("PRIVATE KEY-----")) throw new Error(`server.key ${options.keyFile} is not a PEM private key`);
  if (ca !== undefined) {
    try {
      new X509Certificate(ca);
    } catch (error) {
      throw new Error(`--cafile ${options.caFile} is not a PEM certificate (${describeCause(error)})`);
    }
  }
  const secure: SecureContextOptions = { ...tlsBase, cert, key, ...(ca === undefined ? {} : { ca }) };
  try {
    // Throws when the key does not belong to the certificate ("key values mismatch").
    createSecureContext(secure);
  } catch (error) {
    throw new Error(`server.cert ${options.certFile} and server.key ${options.keyFile} do not make a pair: ${describeCause(error)}`);
  }
  return { secure, certificate };
}

/** At most one line per `everyMs` for a noisy event, with the count of those not logged. */
function rateLimited(everyMs: number, now: () => number, write: (message: string) => void): (message: string) => void {
  let last = -Infinity;
  let suppressed = 0;
  return (message) => {
    const at = now();
    if (at - last < everyMs) {
      suppressed++;
      return;
    }
    write(suppressed > 0 ? `${message} (and ${suppressed} more like it since the last such line)` : message);
    last = at;
    suppressed = 0;
  };
}

function reply(response: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, {
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": String(Buffer.byteLength(body)),
    "Cache-Control": "no-store",
    ...headers,
  });
  response.end(body);
}

/** Starts serving; rejects with a usage CmkError for files that do not load, or with the listen error. */
export async function startWebhook(options: WebhookOptions): Promise<WebhookServer> {
  const log = options.log;
  const wallClock = options.wallClock ?? Date.now;
  const intervalMs = options.reloadIntervalMs ?? 1000;
  const requireClientCertificate = options.caFile !== undefined;
  let mutations: Mutations = noMutations;
  let certificate: X509Certificate | undefined;
  let server: Server | undefined;
  let stopping = false;
  /** Set once the first loads are done: later loads are reloads, and are logged. */
  let started = false;
  const watched: WatchedGroup[] = [];

  const tlsFiles = [options.certFile, options.keyFile, ...(options.caFile === undefined ? [] : [options.caFile])];
  let initial: SecureContextOptions | undefined;
  const loadTls = (contents: readonly Buffer[]): void => {
    const material = tlsMaterial(contents, options);
    if (server === undefined) initial = material.secure;
    else {
      server.setSecureContext(material.secure);
      log.info(`reloaded the serving certificate ${material.certificate.subject.replaceAll("\n", ", ")}, valid until ${material.certificate.validTo}`);
    }
    certificate = material.certificate;
  };
  const loadMutations = (contents: readonly Buffer[]): void => {
    const loaded = parseMutations((contents[0] as Buffer).toString("utf8"), options.mutationsFile);
    if (started) log.info(`reloaded the mutations from ${options.mutationsFile}`);
    mutations = loaded;
  };
  const starting = async (what: string, start: () => Promise<WatchedGroup>): Promise<void> => {
    try {
      watched.push(await start());
    } catch (error) {
      for (const group of watched) group.close();
      throw new CmkError("usage", `cannot load ${what}: ${describeCause(error)}`, { cause: error });
    }
  };
  await starting(`the serving certificate and key${options.caFile === undefined ? "" : " or the client CA"}`, () =>
    watchGroup(tlsFiles, loadTls, {
      intervalMs,
      onError: (message) => log.error(`keeping the serving certificate loaded before: the new files do not load: ${message}`),
    }),
  );
  await starting("the mutations", () =>
    watchGroup([options.mutationsFile], loadMutations, {
      intervalMs,
      onError: (message) => log.error(`keeping the mutations loaded before: ${options.mutationsFile} does not load: ${message}`),
    }),
  );
  started = true;
  if (mutations === noMutations) log.warning(`${options.mutationsFile} has no mutations: pods asking for cmk cores get CMK_NUM_CORES only`);

  const refusedClient = rateLimited(10_000, wallClock, (message) => log.warning(message));
  const failedHandshake = rateLimited(10_000, wallClock, (message) => log.warning(message));

  const readiness = (): string | undefined => {
    if (stopping) return "shutting down";
    if (certificate !== undefined && Date.parse(certificate.validTo) <= wallClock()) {
      return `the serving certificate expired at ${certificate.validTo}; renew ${options.certFile}`;
    }
    return undefined;
  };

  const review = (request: IncomingMessage, response: ServerResponse) => {
    const peer = `${request.socket.remoteAddress}:${request.socket.remotePort}`;
    const socket = request.socket as TLSSocket;
    if (requireClientCertificate && !socket.authorized) {
      const presented = socket.getPeerCertificate();
      const why =
        presented === null || Object.keys(presented).length === 0
          ? "none was presented: give the API server a client certificate for webhooks (its admission configuration), or run cmk webhook with --insecure=true"
          : `${presented.subject?.CN === undefined ? "the one presented" : `CN=${presented.subject.CN}`} does not verify: ${describeCause(socket.authorizationError ?? "unknown")}`;
      refusedClient(`refused a review from ${peer}: a client certificate signed by --cafile ${options.caFile} is required; ${why}`);
      return reply(response, 403, `a client certificate signed by the webhook's --cafile is required; ${why}\n`, { Connection: "close" });
    }
    const type = request.headers["content-type"];
    if (type !== undefined && !/^application\/json\s*(;|$)/i.test(type)) {
      return reply(response, 415, `Content-Type ${type} is not answered: send application/json\n`);
    }
    const length = Number(request.headers["content-length"] ?? Number.NaN);
    const tooLarge = (): void =>
      reply(response, 413, `the review is larger than ${maxReviewBytes} bytes, the most cmk webhook reads\n`, { Connection: "close" });
    if (length > maxReviewBytes) return tooLarge();
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    request.on("data", (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > maxReviewBytes) {
        refused = true;
        chunks.length = 0;
        tooLarge();
        return;
      }
      chunks.push(chunk);
    });
    request.on("end", () => {
      if (refused) return;
      const outcome = reviewAdmission(Buffer.concat(chunks, size).toString("utf8"), mutations);
      if (!outcome.ok) {
        log.warning(`bad review from ${peer}: ${outcome.reason}`);
        return reply(response, 400, `${outcome.reason}\n`);
      }
      if (outcome.decision === "mutated") {
        log.info(`mutated pod ${outcome.pod}: ${outcome.operations.length} patch operations${outcome.message === undefined ? "" : `; ${outcome.message}`}`);
      } else if (outcome.decision === "denied") {
        log.info(`denied pod ${outcome.pod}: ${outcome.message}`);
      } else {
        log.debug(`pod ${outcome.pod} needs no mutation${outcome.message === undefined ? "" : `; ${outcome.message}`}`);
      }
      response.writeHead(200, {
        "Content-Type": "application/json",
        "Content-Length": String(Buffer.byteLength(outcome.body)),
        ...(stopping ? { Connection: "close" } : {}),
      });
      response.end(outcome.body);
    });
  };

  const answer = (request: IncomingMessage, response: ServerResponse) => {
    const url = request.url ?? "/";
    const query = url.indexOf("?");
    const path = query === -1 ? url : url.slice(0, query);
    if (path === "/mutate") {
      if (request.method !== "POST") return reply(response, 405, `method ${request.method} not allowed on /mutate: use POST\n`, { Allow: "POST" });
      return review(request, response);
    }
    if (path === "/healthz" || path === "/readyz") {
      if (request.method !== "GET" && request.method !== "HEAD") {
        return reply(response, 405, `method ${request.method} not allowed: use GET or HEAD\n`, { Allow: "GET, HEAD" });
      }
      const unready = path === "/readyz" ? readiness() : undefined;
      return unready === undefined ? reply(response, 200, "ok\n") : reply(response, 503, `not ready: ${unready}\n`);
    }
    reply(response, 404, "not found: cmk webhook serves POST /mutate, GET /healthz and GET /readyz\n");
  };

  const https = createServer(
    {
      ...(initial as SecureContextOptions),
      requestCert: requireClientCertificate,
      // Checked per request (request.socket.authorized): probes without a certificate still reach /healthz and /readyz.
      rejectUnauthorized: false,
    },
    (request, response) => {
      try {
        answer(request, response);
      } catch (error) {
        log.error(`cannot answer ${request.method} ${request.url}: ${describeCause(error)}`);
        if (!response.headersSent) reply(response, 500, `internal error: ${describeCause(error)}\n`);
        else response.destroy();
      }
    },
  );
  server = https;
  // Longer than the API server's idle timeout for its connections (Go's 90 s), so that it, not this
  // server, closes an idle connection: a close racing a new review would fail that review.
  https.keepAliveTimeout = 120_000;
  https.headersTimeout = 10_000;
  https.requestTimeout = 30_000;
  https.on("tlsClientError", (error: NodeJS.ErrnoException) => {
    // A client that does not trust this certificate says so with an alert; other failures (a probe that only connects, TLS 1.1) need no hint.
    const distrusted = /ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN)/.test(error.code ?? "");
    failedHandshake(
      `a TLS handshake failed: ${describeCause(error).replace(/\s+/g, " ").trim()}${distrusted ? ` (does the webhook configuration's caBundle hold the CA of ${options.certFile}?)` : ""}`,
    );
  });

  try {
    await new Promise<void>((resolve, reject) => {
      https.once("error", reject);
      https.listen({ host: options.address, port: options.port, exclusive: true }, () => {
        https.off("error", reject);
        resolve();
      });
    });
  } catch (error) {
    for (const group of watched) group.close();
    throw error;
  }
  https.on("error", (error) => log.error(`webhook server: ${describeCause(error)}`));
  const { port } = https.address() as AddressInfo;
  const host = options.address.includes(":") ? `[${options.address}]` : options.address;

  let closing: Promise<void> | undefined;
  return {
    url: `https://${host}:${port}`,
    port,
    close(drainMs = 0, graceMs = 10_000) {
      closing ??= (async () => {
        stopping = true;
        if (drainMs > 0) await new Promise((resolve) => setTimeout(resolve, drainMs));
        for (const group of watched) group.close();
        await new Promise<void>((resolve) => {
          const force = setTimeout(() => {
            log.warning(`requests still in flight after ${graceMs} ms; closing their connections`);
            https.closeAllConnections();
          }, graceMs);
          https.close(() => {
            clearTimeout(force);
            resolve();
          });
          https.closeIdleConnections();
        });
      })();
      return closing;
    },
  };
}
