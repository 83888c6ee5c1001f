// Retrying API calls within one deadline: transient failures (the server unreachable, 429, 5xx)
// are sent again after a jittered, growing back-off, honouring Retry-After; anything else fails at
// once. Every cmk command that talks to the API server is bounded by CMK_LOCK_TIMEOUT this way, so
// a server that is down gives a clear error after the timeout rather than a hang.
import type { CmkError } from "../../core/errors.ts";
import { noStoreObserver, type StoreObserver } from "../../core/store-observer.ts";
import { ApiError, type ApiRequest, type ApiResponse, type KubeClient, unexpectedResponse } from "./client.ts";

export class Retrying {
  readonly client: KubeClient;
  private readonly deadline: number;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private readonly observer: StoreObserver;

  constructor(client: KubeClient, timeoutMs: number, now: () => number, observer: StoreObserver = noStoreObserver) {
    this.client = client;
    this.timeoutMs = timeoutMs;
    this.now = now;
    this.deadline = now() + timeoutMs;
    this.observer = observer;
  }

  /** Sends until the status is one `expected` takes, retrying transient failures until the deadline. */
  async send<T>(request: ApiRequest, expected: (status: number) => boolean = isSuccess): Promise<ApiResponse<T>> {
    for (let attempt = 0; ; attempt++) {
      let failure: ApiError;
      try {
        const response = await this.client.send<T>({ ...request, timeoutMs: Math.max(500, Math.min(10_000, this.deadline - this.now())) });
        if (expected(response.status)) return response;
        failure = unexpectedResponse(request, response);
        if (failure.transient) await this.waitRetryAfter(response);
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        failure = error;
      }
      this.observer.apiError(request.verb, failure.status);
      if (!failure.transient) throw failure;
      this.observer.retry();
      await this.backOff(attempt, () => this.giveUp(failure));
    }
  }

  /** Sleeps a jittered, growing interval (5 ms doubling to 500 ms), or throws `failure()` when that would pass the deadline. */
  async backOff(attempt: number, failure: () => CmkError): Promise<void> {
    const ceiling = Math.min(500, 5 * 2 ** Math.min(attempt, 7));
    const wait = ceiling / 2 + Math.random() * (ceiling / 2);
    if (this.now() + wait > this.deadline) throw failure();
    await sleep(wait);
  }

  private async waitRetryAfter(response: ApiResponse): Promise<void> {
    const seconds = response.retryAfterSeconds;
    if (seconds !== undefined && seconds > 0) await sleep(Math.min(seconds * 1000, Math.max(0, this.deadline - this.now())));
  }

  private giveUp(failure: ApiError): ApiError {
    return new ApiError(
      { verb: failure.verb, path: "", what: "" },
      failure.status,
      `${failure.message}; gave up retrying after ${(this.timeoutMs / 1000).toFixed(1)} s (CMK_LOCK_TIMEOUT sets how long)`,
      failure,
    );
  }
}

export const isSuccess = (status: number): boolean => status >= 200 && status <= 299;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
