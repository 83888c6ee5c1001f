// Every failure the user can see is a CmkError: a one-line message that says what is wrong
// and how to fix it, a kind that fixes the documented exit code, and the underlying cause.

export type ErrorKind =
  | "failure" // an operation failed (I/O, system call, unexpected state)
  | "usage" // bad flag, argument or environment variable
  | "invalid-state" // the state file or object cannot be read as a CMK state
  | "lock-timeout" // CMK_LOCK_TIMEOUT expired while waiting for the state lock
  | "pool-exhausted" // not enough free CPU lists in the requested pool
  | "affinity" // the kernel refused or narrowed the requested CPU affinity
  | "conflict" // the request contradicts running workloads (init/reconfigure)
  | "not-initialised"; // no pools yet: run `cmk init`

export const exitCodes: Readonly<Record<ErrorKind, number>> = {
  failure: 1,
  usage: 2,
  "invalid-state": 3,
  "lock-timeout": 4,
  "pool-exhausted": 5,
  affinity: 6,
  conflict: 7,
  "not-initialised": 8,
};

export class CmkError extends Error {
  readonly kind: ErrorKind;

  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CmkError";
    this.kind = kind;
  }

  get exitCode(): number {
    return exitCodes[this.kind];
  }
}

export function usageError(message: string): CmkError {
  return new CmkError("usage", message);
}

/** The message of any thrown value, for wrapping causes into one-line errors. */
export function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return code !== undefined && !cause.message.includes(code) ? `${code}: ${cause.message}` : cause.message;
  }
  return String(cause);
}
