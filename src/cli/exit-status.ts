// The CLI's side of errors: the documented exit status of each kind of failure, and the hint that
// names the flag or environment variable a user changes to fix a request the core refused. The
// core says what is wrong in its own words; only here do those words meet the command line.
import { exitStatuses } from "../app/exit-statuses.ts";
import type { CmkError, RequestField } from "../core/errors.ts";

export { exitStatuses };

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
