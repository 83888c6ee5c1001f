// The one interface every command uses to read and change the node's state. Implementations:
// a file in --conf-dir guarded by flock (adapters/file-store/); the ConfigMap cmk-config-<node>
// written with optimistic concurrency (adapters/kubernetes/configmap-store.ts).
import type { NodeState } from "./node-state.ts";

/** Where CMK and cmk keep the node state unless told otherwise (--conf-dir). */
export const defaultConfDir = "/etc/cmk";

export interface Transition<T> {
  /** The new state to persist; absent when nothing changes (nothing is written). */
  readonly state?: NodeState;
  readonly result: T;
  /**
   * "layout" changes (init, reconfigure) must survive power loss; "tasks" bookkeeping need not,
   * since every task dies with the machine and the next command reclaims its lists. Either way
   * the state is replaced atomically and never left torn. Default "layout".
   */
  readonly durability?: "layout" | "tasks";
}

export interface StateStore {
  /** Where the state lives, for messages and `describe` ("/etc/cmk"). */
  readonly location: string;
  /** A consistent snapshot without taking the lock; null when the node has no state yet. */
  read(): Promise<NodeState | null>;
  /**
   * Runs `change` on the current state under the store's lock and persists the result atomically.
   * `change` must be free of side effects: a store may run it again after a conflict.
   */
  update<T>(change: (current: NodeState | null) => Transition<T>): Promise<T>;
  /**
   * Moves a state that cannot be read out of the way, under the lock, keeping it as a backup, so
   * the node can start afresh. Returns where it went, or null when the state reads fine (or there
   * is none) and nothing was moved. The caller decides that no task recorded in it can be alive.
   */
  setAsideUnreadable(): Promise<string | null>;
  /**
   * A hint that a transaction follows: a remote store may start reading now, so that the wait
   * overlaps the caller's own start-up. Optional; never changes what a transaction sees.
   */
  prepare?(): void;
}
