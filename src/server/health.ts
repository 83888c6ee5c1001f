// Whether a long-running command is doing its job, for /readyz: ready once a pass has succeeded,
// for as long as the last finished pass succeeded and no pass has been running for too long. A
// failed pass makes it unready at once, with its reason: a reconciler whose state cannot be read
// frees nothing, and whoever probes it should know now, not three intervals later (a probe's own
// failure threshold is the place for patience). Pure, with the clock passed in, so the rule is
// tested without waiting.

export type Readiness = { readonly ready: true } | { readonly ready: false; readonly reason: string };

export class PassHealth {
  private succeeded = false;
  /** The reason of the last finished pass when it failed. */
  private lastFailure: string | undefined;
  private failuresInARow = 0;
  private runningSince: number | undefined;
  private readonly stuckAfterMs: number;

  /** `stuckAfterMs`: how long one pass may run before the command counts as stuck (milliseconds). */
  constructor(stuckAfterMs: number) {
    this.stuckAfterMs = stuckAfterMs;
  }

  started(nowMs: number): void {
    this.runningSince = nowMs;
  }

  passed(): void {
    this.runningSince = undefined;
    this.succeeded = true;
    this.lastFailure = undefined;
    this.failuresInARow = 0;
  }

  failed(reason: string): void {
    this.runningSince = undefined;
    this.lastFailure = reason;
    this.failuresInARow++;
  }

  readiness(nowMs: number): Readiness {
    if (this.runningSince !== undefined && nowMs - this.runningSince > this.stuckAfterMs) {
      return { ready: false, reason: `a pass has been running for ${((nowMs - this.runningSince) / 1000).toFixed(1)} seconds` };
    }
    if (this.lastFailure !== undefined) {
      const count = this.failuresInARow === 1 ? "the last pass" : `the last ${this.failuresInARow} passes`;
      return { ready: false, reason: `${count} failed${this.succeeded ? "" : " and none has succeeded yet"}: ${this.lastFailure}` };
    }
    if (!this.succeeded) return { ready: false, reason: "no pass has finished yet" };
    return { ready: true };
  }
}
