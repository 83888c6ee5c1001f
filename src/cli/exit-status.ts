// The CLI's side of errors: the documented exit status of each kind of failure, and the hint that
// names the flag or environment variable a user changes to fix a request the core refused. The
// core says what is wrong in its own words; only here do those words meet the command line.
import type { CmkError, ErrorKind, RequestField } from "../core/errors.ts";

export const exitStatuses: Readonly<Record<ErrorKind, number>> = {
  failure: 1,
  usage: 2,
  "invalid-state": 3,
  "lock-timeout": 4,
  "pool-exhausted": 5,
  affinity: 6,
  conflict: 7,
  "not-initialised": 8,
  "does-not-fit": 9,
  "check-failed": 10,
  api: 11,
};

/** How a user sets each request field from the command line. */
const fieldHints: Readonly<Record<RequestField, string>> = {
  pool: "--pool chooses the pool",
  socketId: "--socket-id chooses the socket; -1 for any",
  count: "CMK_NUM_CORES sets how many lists to take",
  numExclusiveCores: "--num-exclusive-cores and --num-shared-cores set the counts",
  numSharedCores: "--num-exclusive-cores and --num-shared-cores set the counts",
  exclNonIsolcpus: "--excl-non-isolcpus takes core ids numbered across the node; cmk node-report --format=text shows them",
  sst: "--sst=off turns SST off",
};

/** The one line a user sees for an error: the core's message and the command-line hint. */
export function cliMessage(error: CmkError): string {
  return error.field === undefined ? error.message : `${error.message} (${fieldHints[error.field]})`;
}
