// The long-running mode reconcile and node-report share: --interval repeats their pass until
// SIGTERM or SIGINT, and --metrics-port serves metrics and health beside the loop. One place for
// its rules: the metrics flags need a loop; the endpoint is loaded (prom-client, node:http) only
// when asked for and listens before the first pass, so a taken port fails at once; a failed pass
// is logged, counted and the loop goes on; the loop ends after the pass in progress and the
// server closes with it; the last pass decides how the command ends.
import type { Context } from "../app/context.ts";
import { type PassFacts, type PassObserver, repeatEvery } from "../app/repeat.ts";
import { CmkError, describeCause, type ErrorKind, usageError } from "../core/errors.ts";
import type { MetricsEndpoint } from "../server/endpoint.ts";
import type { LoopCommand } from "../server/metrics.ts";
import { defaultMetricsAddress } from "./flags.ts";

/** The options of the long-running mode (reconcile's and node-report's flags). */
export interface LoopOptions {
  readonly interval: number;
  readonly metricsPort: number | undefined;
  readonly metricsAddress: string | undefined;
}

/** What a command runs in the loop: its pass, and what it logs while waiting for the next. */
export interface LoopSpec {
  readonly pass: () => Promise<PassFacts>;
  readonly onWait: (seconds: number) => void;
}

/** The address and port to serve metrics on, when asked for and allowed; a usage error otherwise. */
function metricsEndpointOf(options: LoopOptions, command: string): { readonly address: string; readonly port: number } | undefined {
  if (options.metricsPort === undefined) {
    if (options.metricsAddress !== undefined) {
      throw usageError(`--metrics-address needs --metrics-port: add --metrics-port=<port> (0 picks a free port) to serve metrics`);
    }
    return undefined;
  }
  if (options.interval <= 0) {
    throw usageError(`--metrics-port serves metrics while cmk ${command} repeats: add --interval=<seconds> (e.g. --interval=10), or drop --metrics-port`);
  }
  return { address: options.metricsAddress ?? defaultMetricsAddress, port: options.metricsPort };
}

/** A listen error in the words of the flags that chose the address. */
function listenError(error: unknown, address: string, port: number): CmkError {
  const where = `${address.includes(":") ? `[${address}]` : address}:${port}`;
  const code = (error as NodeJS.ErrnoException).code;
  const why =
    code === "EADDRINUSE"
      ? "the address is already in use; choose another --metrics-port (0 picks a free one) or stop the process listening there"
      : code === "EADDRNOTAVAIL"
        ? `${address} is not an address of this machine; choose another --metrics-address (default ${defaultMetricsAddress})`
        : code === "EACCES"
          ? `not allowed to listen on port ${port} (ports below 1024 need root or CAP_NET_BIND_SERVICE); choose a --metrics-port of 1024 or more`
          : describeCause(error);
  return new CmkError("failure", `cannot serve metrics on ${where}: ${why}`, { cause: error });
}

/** How an error ends a command: its kind, or "failure" for what is not a CmkError. */
function kindOf(error: unknown): ErrorKind {
  return error instanceof CmkError ? error.kind : "failure";
}

const noPassObserver: PassObserver = { started: () => {}, passed: () => {}, failed: () => {} };

/**
 * Runs the command's pass once, or in the loop --interval asks for, with the metrics endpoint
 * when --metrics-port asks for it. `setUp` gets the context the command's store must be opened
 * with (its store observer feeds the metrics). Run once, a failing pass throws as it always did;
 * in the loop it is logged and counted, and the loop goes on. Returns the kind of the last
 * pass's failure, or undefined when the last pass succeeded.
 */
export async function runLoop(
  options: LoopOptions,
  context: Context,
  command: LoopCommand,
  setUp: (context: Context) => Promise<LoopSpec>,
): Promise<ErrorKind | undefined> {
  const endpointAddress = metricsEndpointOf(options, command);
  let endpoint: MetricsEndpoint | undefined;
  if (endpointAddress !== undefined) {
    // SIGTERM from here on ends the loop cleanly (the server closes), never the process mid-way.
    context.stopSignal();
    const { startMetricsEndpoint } = await import("../server/endpoint.ts");
    const { address, port } = endpointAddress;
    endpoint = await startMetricsEndpoint({
      command,
      address,
      port,
      // A pass waits for the lock at most CMK_LOCK_TIMEOUT and then fails; one running longer than that and three intervals is stuck.
      stuckAfterMs: (context.settings.lockTimeoutSeconds + 3 * options.interval) * 1000,
      now: context.now,
      log: context.log,
    }).catch((error: unknown) => {
      throw listenError(error, address, port);
    });
    context.log.info(`serving metrics on ${endpoint.url}/metrics, health on ${endpoint.url}/healthz and ${endpoint.url}/readyz`);
  }
  const loopContext: Context = endpoint === undefined ? context : { ...context, storeObserver: endpoint.store };
  const observer = endpoint?.passes ?? noPassObserver;
  let lastFailure: unknown;
  let failuresInARow = 0;
  try {
    const spec = await setUp(loopContext);
    const pass = async (): Promise<void> => {
      const started = context.now();
      const seconds = (): number => (context.now() - started) / 1000;
      observer.started();
      let facts: PassFacts;
      try {
        facts = await spec.pass();
      } catch (error) {
        observer.failed(seconds(), error);
        throw error;
      }
      observer.passed(seconds(), facts);
      if (failuresInARow > 0) context.log.info(`cmk ${command} passes succeed again, after ${failuresInARow} failed`);
      lastFailure = undefined;
      failuresInARow = 0;
    };
    const onFailure = (error: unknown): void => {
      lastFailure = error;
      failuresInARow++;
      context.log.error(`cmk ${command} pass failed, trying again in ${options.interval} seconds: ${describeCause(error)}`);
    };
    await repeatEvery(options.interval, pass, { onWait: spec.onWait, onFailure }, context.stopSignal);
  } finally {
    await endpoint?.close();
  }
  return failuresInARow > 0 ? kindOf(lastFailure) : undefined;
}
