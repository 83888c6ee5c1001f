// The composition root: what a command (or, later, a server) is given to do its work. The process
// that runs it builds one Context: settings read once, a logger, a writer for its output, a clock,
// a way to learn that it should stop, whoever watches the store, and the store the settings name.
// Commands never read argv, environment variables for shared settings, or process-wide state
// themselves.
import type { StoreObserver } from "../core/store-observer.ts";
import type { Logger } from "./log.ts";
import type { Settings } from "./settings.ts";

export interface Context {
  /** The environment, for what only one command reads (CMK_NUM_CORES, NO_COLOR, ...). */
  readonly env: NodeJS.ProcessEnv;
  readonly settings: Settings;
  readonly log: Logger;
  readonly stdout: (text: string) => void;
  /** Milliseconds on a monotonic clock. */
  readonly now: () => number;
  /** Aborted when the process is asked to stop: a long-running loop ends cleanly. Asking installs the handlers. */
  readonly stopSignal: () => AbortSignal;
  /** Whether stdout is a terminal, and its width when it is (asked only by those who draw). */
  readonly terminal: () => { readonly isTerminal: boolean; readonly columns: number | undefined };
  /**
   * Told of the store's conflicts, retries and failed API requests: the no-op observer, or the
   * metrics of a long-running command (which passes a copy of the context with its own).
   */
  readonly storeObserver: StoreObserver;
}
