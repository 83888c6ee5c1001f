// The composition root: what a command (or, later, a server) is given to do its work. The process
// that runs it builds one Context: settings read once, a logger, a writer for its output, a clock,
// a way to learn that it should stop, and the store the settings name. Commands never read argv,
// environment variables for shared settings, or process-wide state themselves.
import { procfsHost } from "../adapters/file-store/power-failure.ts";
import { FileStateStore } from "../adapters/file-store/store.ts";
import { CmkError } from "../core/errors.ts";
import { defaultConfDir, type StateStore } from "../core/state-store.ts";
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
}

/** Where a command keeps the node's state, as its flags name it. */
export interface StoreOptions {
  readonly confDir: string;
}

export function openStore(options: StoreOptions, context: Context): StateStore {
  return new FileStateStore(options.confDir, context.settings.lockTimeoutSeconds, context.log.warning, procfsHost(context.settings.procFs, defaultConfDir));
}

/** The error of every command that needs pools when the node has none yet. */
export function notInitialisedError(store: StateStore): CmkError {
  return new CmkError("not-initialised", `no cmk state in ${store.location}`, { location: store.location });
}
