// The documented exit status of each kind of failure (README, "Exit codes"), in one place for
// every edge that reports one: the CLI ends with it, and the agent replies with the status
// `cmk isolate` would have ended with (docs/agent-protocol.md).
import type { ErrorKind } from "../core/errors.ts";

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
  unfinished: 12,
};
