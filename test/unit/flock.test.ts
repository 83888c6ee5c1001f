// acquireLock on real files with real flock: a free lock is taken at once; a held one is awaited
// on a worker thread while the event loop keeps running, and times out naming its holder. Two
// descriptors of one file conflict even in one process, so this process can be its own holder.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { acquireLock } from "../../src/adapters/flock.ts";
import { CmkError } from "../../src/core/errors.ts";

const scratch = mkdtempSync(join(tmpdir(), "cmk-flock-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

let counter = 0;
const lockPath = (): string => join(scratch, `lock-${counter++}`);

/** Counts timer ticks until stopped: proof that the event loop ran meanwhile. */
function ticker(): { readonly ticks: () => number; stop(): void } {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  return { ticks: () => ticks, stop: () => clearInterval(timer) };
}

function isLockTimeout(path: string, seconds: number): (error: unknown) => boolean {
  const expected = new RegExp(
    `^timed out after ${seconds} s waiting for the state lock ${path} held by PID ${process.pid} \\(.+\\); retry, or raise CMK_LOCK_TIMEOUT \\(seconds\\)$`,
  );
  return (error) => error instanceof CmkError && error.kind === "lock-timeout" && expected.test(error.message);
}

describe("acquireLock", () => {
  it("takes a free lock at once, and again after release", async () => {
    const path = lockPath();
    const first = await acquireLock(path, 1);
    first.release();
    first.release();
    const second = await acquireLock(path, 0);
    second.release();
  });

  it("awaits a held lock without blocking the event loop and gets it when the holder releases", async () => {
    const path = lockPath();
    const holder = await acquireLock(path, 1);
    const clock = ticker();
    let acquired = false;
    const waiting = acquireLock(path, 10).then((lock) => {
      acquired = true;
      return lock;
    });
    await sleep(300);
    assert.equal(acquired, false, "the lock is still held");
    assert.ok(clock.ticks() >= 10, `only ${clock.ticks()} timer ticks while waiting`);
    holder.release();
    const started = performance.now();
    const lock = await waiting;
    clock.stop();
    assert.ok(performance.now() - started < 1000, "the waiter wakes when the holder releases");
    lock.release();
  });

  it("times out naming the holder's PID, with the event loop running meanwhile", async () => {
    const path = lockPath();
    const holder = await acquireLock(path, 1);
    const clock = ticker();
    const started = performance.now();
    await assert.rejects(acquireLock(path, 0.3), isLockTimeout(path, 0.3));
    clock.stop();
    assert.ok(performance.now() - started >= 300, "waited the whole timeout");
    assert.ok(clock.ticks() >= 10, `only ${clock.ticks()} timer ticks while waiting`);
    holder.release();
  });

  it("with no time to wait, times out at once", async () => {
    const path = lockPath();
    const holder = await acquireLock(path, 1);
    await assert.rejects(acquireLock(path, 0), isLockTimeout(path, 0));
    holder.release();
  });

  it("lets waiters of one process time out independently and hands the lock on in turn", async () => {
    const path = lockPath();
    const holder = await acquireLock(path, 1);
    const impatient = acquireLock(path, 0.1);
    const patient = [acquireLock(path, 0.4), acquireLock(path, 10), acquireLock(path, 10)];
    await assert.rejects(impatient, isLockTimeout(path, 0.1));
    await assert.rejects(patient[0] as Promise<unknown>, isLockTimeout(path, 0.4));
    holder.release();
    // Each takes the lock when the kernel gives it (flock wakes waiters in no promised order) and hands it on.
    await Promise.all(patient.slice(1).map(async (waiting) => (await waiting).release()));
  });
});
