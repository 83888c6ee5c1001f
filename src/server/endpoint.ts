// The HTTP endpoint of a long-running command (`--metrics-port`): /metrics in Prometheus's text
// format from the command's registry, /healthz (200 while the loop runs) and /readyz (200 while
// its passes succeed, else 503 with the reason on one line). Anything else is 404; a method
// other than GET or HEAD on these paths, 405. The server is a plain node:http server on the
// address the flags name, started before the first pass so that a taken port fails the command
// at once, and closed, with its open connections, when the loop ends. Loaded lazily
// (commands/long-running.ts imports it only when --metrics-port is given).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "../app/log.ts";
import type { PassFacts, PassObserver } from "../app/repeat.ts";
import { describeCause } from "../core/errors.ts";
import type { StoreObserver } from "../core/store-observer.ts";
import { PassHealth } from "./health.ts";
import { createMetrics, type LoopCommand } from "./metrics.ts";

export interface EndpointConfig {
  readonly command: LoopCommand;
  readonly address: string;
  /** 0: a free port, chosen by the kernel. */
  readonly port: number;
  /** After how many milliseconds a pass still running counts as stuck (readyz). */
  readonly stuckAfterMs: number;
  /** Milliseconds on a monotonic clock. */
  readonly now: () => number;
  readonly log: Logger;
}

export interface MetricsEndpoint {
  /** Where it listens, e.g. http://127.0.0.1:9100 (the port chosen when 0 was asked for). */
  readonly url: string;
  readonly passes: PassObserver;
  readonly store: StoreObserver;
  /** Stops listening and ends open connections. */
  close(): Promise<void>;
}

const paths = ["/metrics", "/healthz", "/readyz"] as const;

/**
 * Listens on the configured address and port; rejects with the listen error (EADDRINUSE,
 * EADDRNOTAVAIL, EACCES...) for the caller to explain in its users' words.
 */
export async function startMetricsEndpoint(config: EndpointConfig): Promise<MetricsEndpoint> {
  const metrics = createMetrics(config.command);
  const health = new PassHealth(config.stuckAfterMs);

  async function answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? "/").split("?", 1)[0];
    if (!(paths as readonly (string | undefined)[]).includes(path)) return reply(response, 404, `not found: cmk serves ${paths.join(", ")}\n`);
    if (request.method !== "GET" && request.method !== "HEAD") {
      response.setHeader("Allow", "GET, HEAD");
      return reply(response, 405, `method ${request.method} not allowed: use GET or HEAD\n`);
    }
    if (path === "/healthz") return reply(response, 200, "ok\n");
    if (path === "/readyz") {
      const readiness = health.readiness(config.now());
      return readiness.ready ? reply(response, 200, "ok\n") : reply(response, 503, `not ready: ${readiness.reason}\n`);
    }
    reply(response, 200, await metrics.registry.metrics(), metrics.registry.contentType);
  }

  const server = createServer((request, response) => {
    answer(request, response).catch((error: unknown) => {
      config.log.error(`cannot answer ${request.method} ${request.url}: ${describeCause(error)}`);
      if (!response.headersSent) reply(response, 500, `internal error: ${describeCause(error)}\n`);
      else response.destroy();
    });
  });
  await listen(server, config.address, config.port);
  const { port } = server.address() as AddressInfo;
  const host = config.address.includes(":") ? `[${config.address}]` : config.address;

  return {
    url: `http://${host}:${port}`,
    passes: {
      started: () => {
        health.started(config.now());
        metrics.passes.started();
      },
      passed: (seconds: number, facts: PassFacts) => {
        health.passed();
        metrics.passes.passed(seconds, facts);
      },
      failed: (seconds: number, error: unknown) => {
        health.failed(describeCause(error));
        metrics.passes.failed(seconds, error);
      },
    },
    store: metrics.store,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // close() waits for open connections; a scraper's keep-alive connection must not hold the exit.
        server.closeAllConnections();
      }),
  };
}

function reply(response: ServerResponse, status: number, body: string, contentType = "text/plain; charset=utf-8"): void {
  response.writeHead(status, { "Content-Type": contentType, "Content-Length": Buffer.byteLength(body), "Cache-Control": "no-store" });
  // Node sends no body in answer to HEAD, but the headers say what GET would get.
  response.end(body);
}

function listen(server: Server, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: address, port, exclusive: true }, () => {
      server.off("error", reject);
      resolve();
    });
  });
}
