// What a state store tells whoever watches it: conflicts, retries and failed API requests, the
// events that say an optimistic store (the ConfigMap store) is struggling. The store calls these
// typed methods and never learns who listens: the long-running commands count them as Prometheus
// metrics, everything else passes the no-op observer. The core defines the interface so that a
// store in adapters/ reports through it without importing the metrics library.

/** The Kubernetes API verbs a store's requests use (the `verb` of the API server's audit log). */
export type ApiVerb = "get" | "list" | "watch" | "create" | "update" | "patch" | "delete";

export interface StoreObserver {
  /** An update lost a race: the state changed between the read and the write (HTTP 409, stale resourceVersion). */
  conflict(): void;
  /** The store runs a change again after a conflict or a transient failure. */
  retry(): void;
  /** A request to the API failed: its verb and the HTTP status, or 0 when no response came (connection, timeout). */
  apiError(verb: ApiVerb, code: number): void;
}

/** Observes nothing: the default for stores of commands that export no metrics. */
export const noStoreObserver: StoreObserver = {
  conflict: () => {},
  retry: () => {},
  apiError: () => {},
};
