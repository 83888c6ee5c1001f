// Replaces a file through adapters/atomic-file.ts in a process whose file-size limit (ulimit -f)
// the test sets, so that the write itself fails with EFBIG part-way, as on a full disk.
// Usage: atomic-write-worker.ts <path> <temporary> <bytes>; prints the error code, or "written".
import { replaceFile } from "../../src/adapters/atomic-file.ts";

const [path, temporary, bytes] = process.argv.slice(2) as [string, string, string];
// Ignored (handled), SIGXFSZ leaves the write to fail with EFBIG instead of ending the process.
process.on("SIGXFSZ", () => {});
try {
  replaceFile(path, Buffer.alloc(Number(bytes), "x"), { temporary, mode: 0o644, durable: true });
  process.stdout.write("written\n");
} catch (error) {
  process.stdout.write(`${(error as NodeJS.ErrnoException).code ?? String(error)}\n`);
}
