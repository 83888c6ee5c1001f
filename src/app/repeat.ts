// Runs a pass once, or every <interval> seconds until asked to stop: the long-running mode of
// reconcile and node-report. Waiting is a timer, never a blocking call, so a server can run it.

/** Runs `pass` now and then every `intervalSeconds` (0: once) until `stop` is aborted. */
export async function repeatEvery(
  intervalSeconds: number,
  pass: () => Promise<void>,
  onWait: (seconds: number) => void,
  stop: () => AbortSignal,
): Promise<void> {
  await pass();
  if (intervalSeconds <= 0) return;
  const signal = stop();
  while (!signal.aborted) {
    onWait(intervalSeconds);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, intervalSeconds * 1000);
      signal.addEventListener("abort", done, { once: true });
      function done(): void {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
    });
    if (!signal.aborted) await pass();
  }
}
