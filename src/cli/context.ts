// What every subcommand gets: environment, logger, output, and the node-local adapters' settings.
import { FileStateStore } from "../adapters/file-store/store.ts";
import { CmkError } from "../core/errors.ts";
import type { StateStore } from "../core/state-store.ts";
import { secondsValue, type ParsedArgs } from "./args.ts";
import type { Logger } from "./log.ts";

export interface Context {
  readonly env: NodeJS.ProcessEnv;
  readonly log: Logger;
  readonly stdout: (text: string) => void;
}

const defaultConfDir = "/etc/cmk";
const defaultLockTimeoutSeconds = 30;

/** Host procfs as mounted in the container (CMK_PROC_FS), /proc when unset. */
export function procFs(env: NodeJS.ProcessEnv): string {
  const value = env["CMK_PROC_FS"];
  return value === undefined || value === "" ? "/proc" : value;
}

function lockTimeout(env: NodeJS.ProcessEnv): number {
  const value = env["CMK_LOCK_TIMEOUT"];
  return value === undefined || value === "" ? defaultLockTimeoutSeconds : secondsValue("CMK_LOCK_TIMEOUT", value);
}

export function openStore(args: ParsedArgs, context: Context): StateStore {
  if (args.values.has("namespace")) {
    context.log.warning("--namespace applies to state kept in a Kubernetes ConfigMap; this command keeps state in --conf-dir, so it is ignored");
  }
  return new FileStateStore(args.values.get("conf-dir") ?? defaultConfDir, lockTimeout(context.env), context.log.warning);
}

/** The error of every command that needs pools when the node has none yet. */
export function notInitialised(store: StateStore): CmkError {
  return new CmkError("not-initialised", `no cmk state in ${store.location}; run cmk init --conf-dir=${store.location} first`);
}
