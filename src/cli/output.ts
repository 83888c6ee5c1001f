// Writes to stdout and stderr with plain write(2): process.stdout/stderr would build Node
// streams, a few milliseconds on every start-up that `cmk isolate` cannot afford.
import { writeSync } from "node:fs";

const pause = new Int32Array(new SharedArrayBuffer(4));

export function writeFd(fd: 1 | 2, text: string): void {
  let data = Buffer.from(text);
  while (data.length > 0) {
    try {
      data = data.subarray(writeSync(fd, data));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // The reader went away (`cmk reconcile | head`): the work is done, stop quietly.
      if (code === "EPIPE") process.exit(process.exitCode ?? 0);
      // A non-blocking pipe that is full: wait for the reader.
      if (code !== "EAGAIN") throw error;
      Atomics.wait(pause, 0, 0, 1);
    }
  }
}
