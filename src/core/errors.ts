// Every failure cmk can report is a CmkError: a one-line message in the core's own words (what is
// wrong, and what would fix it), a kind that says what sort of failure it is, and, for a request
// that does not fit, the request field at fault. The core knows nothing of flags, environment
// variables or exit statuses: each edge (the CLI, later an agent or a webhook) maps the kind to its
// own status and names the field the way its users wrote it.

export type ErrorKind =
  | "failure" // an operation failed (I/O, system call, unexpected state)
  | "usage" // a malformed request: a bad flag, argument, variable or value
  | "does-not-fit" // a well-formed request this node cannot satisfy (more cores than it has, a socket it lacks)
  | "invalid-state" // the stored state cannot be read as a cmk state
  | "lock-timeout" // the wait for the state lock expired
  | "pool-exhausted" // not enough free CPU lists in the requested pool
  | "affinity" // the kernel refused or narrowed the requested CPU affinity
  | "conflict" // the request contradicts running workloads (init/reconfigure)
  | "not-initialised" // the node has no pools yet
  | "check-failed" // a consistency check of the node found errors (node-report, after printing its report)
  | "api" // the Kubernetes API server refused a request or could not be reached
  | "unfinished"; // cluster-init, reconfigure_setup, uninstall --cluster: chosen nodes did not finish in time (each named, with why)

/** The inputs of the core's requests (allocation, carving) an error can be about. */
export type RequestField = "pool" | "socketId" | "count" | "numExclusiveCores" | "numSharedCores" | "exclNonIsolcpus" | "sst";

export interface ErrorDetails {
  readonly cause?: unknown;
  /** The request field whose value does not fit. */
  readonly field?: RequestField;
  /** Where the node's state lives, for errors about the state ("/etc/cmk"). */
  readonly location?: string;
}

export class CmkError extends Error {
  readonly kind: ErrorKind;
  readonly field: RequestField | undefined;
  readonly location: string | undefined;

  constructor(kind: ErrorKind, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "CmkError";
    this.kind = kind;
    this.field = details.field;
    this.location = details.location;
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
