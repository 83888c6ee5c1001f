// Runs a pass once, or every <interval> seconds until SIGTERM or SIGINT ends the loop cleanly.
export async function repeatEvery(intervalSeconds: number, pass: () => Promise<void>, onWait: (seconds: number) => void): Promise<void> {
  await pass();
  if (intervalSeconds <= 0) return;
  let stop = false;
  let wake: (() => void) | undefined;
  const stopLoop = (): void => {
    stop = true;
    wake?.();
  };
  process.once("SIGTERM", stopLoop);
  process.once("SIGINT", stopLoop);
  while (!stop) {
    onWait(intervalSeconds);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, intervalSeconds * 1000);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    if (!stop) await pass();
  }
}
