// The node agent (cmk agent): one process per node that serves allocations over a Unix socket
// (docs/agent-protocol.md) and is the node state's writer while it runs. Every change still goes
// through the store's transaction (update(change)), so the formats stay CMK's and a cmk command
// run beside the agent stays correct; requests that arrive together share one transaction, and
// none is answered before its allocation is written. A connection is the lease on what it was
// given: when it closes and its process is gone, the lists are freed at once; when its process
// lives on (it closed the descriptor), the process is watched until it exits. Identity comes from
// the kernel (SO_PEERCRED), never from the request.
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, unlinkSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { dirname } from "node:path";
import { isAlive, podOf, readStartTime, soleChild, taskLiveness } from "../adapters/procfs.ts";
import { exitStatuses } from "../app/exit-statuses.ts";
import type { Logger } from "../app/log.ts";
import { reclaimDeadTasks } from "../app/reconcile-report.ts";
import { notInitialisedError } from "../app/stores.ts";
import { type AgentRequest, type AllocateRequest, formatError, formatOk, maxRequestBytes, parseRequest } from "../core/agent-protocol.ts";
import { allocate, allocationEnvironment, type Placement, type ReclaimedTask, releaseTask, socketFor } from "../core/allocate.ts";
import type { CpuSet } from "../core/cpuset.ts";
import { describeState } from "../core/describe.ts";
import { CmkError, describeCause } from "../core/errors.ts";
import type { NodeState, ProcessIdentity, TaskRecord } from "../core/node-state.ts";
import { isExclusivePool } from "../core/pools.ts";
import type { StateStore } from "../core/state-store.ts";

/** A handle on a watched process: close() stops the watch. */
export interface ExitWatch {
  close(): void;
}

export interface AgentOptions {
  readonly store: StateStore;
  readonly procFs: string;
  readonly log: Logger;
  readonly socketPath: string;
  /** Permission bits of the socket: who may connect (default 0o660: owner and group). */
  readonly socketMode: number;
  /** The group that may connect, by id; undefined keeps the agent's own. */
  readonly socketGroup: number | undefined;
  /** The connecting process, as the kernel says (SO_PEERCRED). */
  readonly peerPid: (socket: Socket) => number | null;
  /** Calls onExit once `pid` has exited; null when the kernel cannot watch (the agent then polls). */
  readonly watchExit: (pid: number, onExit: () => void) => ExitWatch | null;
  /** Where multi-list requests are placed close together (NUMA, L3); undefined: pool order. */
  readonly placement?: (cpus: CpuSet) => Placement;
  /** Seconds before a client that sent half a request is dropped (default 5). */
  readonly requestTimeoutSeconds?: number;
}

type Pending =
  | { readonly kind: "allocate"; readonly request: AllocateRequest; readonly record: TaskRecord; readonly done: (outcome: AllocateOutcome) => void }
  | { readonly kind: "release"; readonly taskId: string };

type AllocateOutcome = { readonly ok: true; readonly env: readonly string[] } | { readonly ok: false; readonly error: CmkError };

/** How often watched processes are checked when the kernel offers no pidfd (and as a safety net). */
const pollMs = 1000;

export class NodeAgent {
  private readonly options: AgentOptions;
  private server: Server | undefined;
  private queue: Pending[] = [];
  private flushing = false;
  /** Processes whose lists are freed when they exit: those that closed their lease, and those found at start. */
  private readonly watches = new Map<string, { readonly record: TaskRecord; readonly process: ProcessIdentity; readonly watch: ExitWatch | null }>();
  private readonly leases = new Set<Socket>();
  private poller: NodeJS.Timeout | undefined;

  constructor(options: AgentOptions) {
    this.options = options;
  }

  /** Loads the state, frees the lists of tasks that died while no agent ran, watches the living, then listens. */
  async start(): Promise<void> {
    const { state } = await this.reconcile();
    for (const [taskId, record] of state.tasks) this.leaseEnded(taskId, record);
    await this.listen();
    this.poller = setInterval(() => this.pollWatched(), pollMs);
    this.poller.unref();
  }

  async close(): Promise<void> {
    if (this.poller !== undefined) clearInterval(this.poller);
    for (const { watch } of this.watches.values()) watch?.close();
    this.watches.clear();
    const server = this.server;
    if (server === undefined) return;
    // server.close() calls back only once every connection has ended, and a lease is a connection
    // that lasts as long as its workload: let go of them first, or a stop waits for every workload.
    // Leases stay with their workloads: a restarted agent finds their tasks in the state and watches them.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.leases) socket.destroy();
    await closed;
    this.removeSocketFile();
  }

  /** One reconcile pass over the store (the fallback for processes no watch saw end). */
  reconcile(): Promise<{ state: NodeState; reclaimed: ReclaimedTask[] }> {
    return reclaimDeadTasks(this.options.store, this.options.procFs);
  }

  // ---- The socket --------------------------------------------------------------------------

  private async listen(): Promise<void> {
    const { socketPath, socketMode, socketGroup } = this.options;
    mkdirSync(dirname(socketPath), { recursive: true, mode: 0o755 });
    await this.removeStaleSocket();
    const server = createServer((socket) => this.serve(socket));
    await new Promise<void>((resolve, reject) => {
      server.once("error", (error) =>
        reject(new CmkError("failure", `cannot listen on ${socketPath}: ${describeCause(error)}; choose another --socket`, { cause: error })),
      );
      server.listen(socketPath, () => resolve());
    });
    server.on("error", (error) => this.options.log.error(`agent socket ${socketPath}: ${describeCause(error)}`));
    chmodSync(socketPath, socketMode);
    if (socketGroup !== undefined) chownSync(socketPath, process.getuid?.() ?? 0, socketGroup);
    this.server = server;
    this.options.log.info(`serving allocations on ${socketPath} (mode ${socketMode.toString(8).padStart(4, "0")})`);
  }

  /** A socket file nobody answers on is an earlier agent's, and goes; anything else at the path is refused. */
  private async removeStaleSocket(): Promise<void> {
    const path = this.options.socketPath;
    let isSocket: boolean;
    try {
      isSocket = lstatSync(path).isSocket();
    } catch {
      return;
    }
    if (!isSocket) throw new CmkError("failure", `${path} exists and is not a socket; remove it or choose another --socket`);
    const answered = await new Promise<boolean>((resolve) => {
      const probe = createConnection(path);
      probe.once("connect", () => {
        probe.destroy();
        resolve(true);
      });
      probe.once("error", () => resolve(false));
    });
    if (answered) throw new CmkError("failure", `another agent serves ${path}; stop it first, or choose another --socket`);
    unlinkSync(path);
  }

  private removeSocketFile(): void {
    try {
      if (existsSync(this.options.socketPath) && lstatSync(this.options.socketPath).isSocket()) unlinkSync(this.options.socketPath);
    } catch {
      // Gone already.
    }
  }

  /** Reads one request line from a connection and answers it; never throws, whatever the client sends. */
  private serve(socket: Socket): void {
    let buffered = Buffer.alloc(0);
    let answered = false;
    const timeout = setTimeout(() => socket.destroy(), (this.options.requestTimeoutSeconds ?? 5) * 1000);
    socket.on("error", () => {});
    socket.on("close", () => clearTimeout(timeout));
    socket.on("data", (chunk: Buffer) => {
      if (answered) {
        // One request per connection: more is refused, and nothing more is read.
        socket.pause();
        socket.write(formatError(exitStatuses.usage, "one request per connection; open another connection"));
        return;
      }
      buffered = Buffer.concat([buffered, chunk]);
      const newline = buffered.indexOf(10);
      if (newline < 0 && buffered.length < maxRequestBytes) return;
      answered = true;
      clearTimeout(timeout);
      if (newline < 0 || newline + 1 > maxRequestBytes) {
        socket.end(formatError(exitStatuses.usage, `request longer than ${maxRequestBytes} bytes`));
        return;
      }
      this.answer(socket, buffered.subarray(0, newline).toString("utf8")).catch((error: unknown) => {
        this.options.log.error(`agent: unexpected failure answering a request: ${describeCause(error)}`);
        socket.destroy();
      });
    });
  }

  private async answer(socket: Socket, line: string): Promise<void> {
    let request: AgentRequest;
    try {
      request = parseRequest(line);
    } catch (error) {
      socket.end(replyFor(error));
      return;
    }
    if (request.operation === "status") {
      socket.end(formatOk([JSON.stringify({ store: this.options.store.location, leases: this.leases.size, watched: this.watches.size })]));
      return;
    }
    if (request.operation === "describe") {
      const state = await this.options.store.read().catch((error: unknown) => error);
      socket.end(
        state instanceof Error
          ? replyFor(state)
          : formatOk([JSON.stringify(state === null ? null : describeState(state as NodeState, this.options.store.location))]),
      );
      return;
    }
    await this.allocateFor(socket, request);
  }

  private async allocateFor(socket: Socket, request: AllocateRequest): Promise<void> {
    if (request.store !== undefined && request.store !== this.options.store.location) {
      socket.end(formatError(exitStatuses.usage, `this agent serves ${this.options.store.location}, not ${request.store}`));
      return;
    }
    const pid = this.options.peerPid(socket);
    const start = pid === null ? null : readStartTime(this.options.procFs, pid);
    if (pid === null || start === null) {
      socket.end(formatError(exitStatuses.failure, "cannot tell which process connected (SO_PEERCRED); run the agent in the host's PID namespace"));
      return;
    }
    // A client that started its command before asking (isolate's TypeScript path) has it as its
    // one child: the kernel's word, recorded so that the lists stay the command's if the client dies.
    const childPid = soleChild(this.options.procFs, pid);
    const childStart = childPid === null ? null : readStartTime(this.options.procFs, childPid);
    const pod = podOf(this.options.procFs, pid);
    const record: TaskRecord = {
      isolate: { pid, start },
      ...(childPid !== null && childStart !== null ? { child: { pid: childPid, start: childStart } } : {}),
      affinity: request.affinity,
      ...(pod === undefined ? {} : { pod }),
    };
    const outcome = await new Promise<AllocateOutcome>((done) => this.enqueue({ kind: "allocate", request, record, done }));
    if (!outcome.ok) {
      socket.end(replyFor(outcome.error));
      return;
    }
    const taskId = String(pid);
    if (socket.destroyed) {
      // The client went away before the answer: its lease ended already.
      this.leaseEnded(taskId, record);
      return;
    }
    this.leases.add(socket);
    socket.once("close", () => {
      this.leases.delete(socket);
      this.leaseEnded(taskId, record);
    });
    socket.write(formatOk(outcome.env));
  }

  // ---- Leases and watches ------------------------------------------------------------------

  /** The connection closed: free the lists now, or once its processes (the client, its command) have exited. */
  private leaseEnded(taskId: string, record: TaskRecord): void {
    const living = [record.isolate, ...(record.child === undefined ? [] : [record.child])].find((process) => isAlive(this.options.procFs, process));
    if (living === undefined) this.enqueue({ kind: "release", taskId });
    else this.watch(taskId, record, living);
  }

  /** Watches `process`, one of the task's; when it exits, the task's other process may still hold the lists. */
  private watch(taskId: string, record: TaskRecord, process: ProcessIdentity): void {
    if (this.watches.has(taskId)) return;
    const watch = this.options.watchExit(process.pid, () => this.watchedExited(taskId));
    this.watches.set(taskId, { record, process, watch });
    // Without a pidfd, look again soon: a connection often closes while its process is still
    // exiting (the kernel closes descriptors before the process is a zombie).
    if (watch === null) this.recheckSoon(taskId, process, 1);
  }

  private recheckSoon(taskId: string, task: ProcessIdentity, delayMs: number): void {
    if (delayMs > pollMs / 2) return;
    setTimeout(() => {
      if (!this.watches.has(taskId)) return;
      if (!isAlive(this.options.procFs, task)) this.watchedExited(taskId);
      else this.recheckSoon(taskId, task, delayMs * 2);
    }, delayMs).unref();
  }

  private watchedExited(taskId: string): void {
    const watched = this.watches.get(taskId);
    if (watched === undefined) return;
    watched.watch?.close();
    this.watches.delete(taskId);
    this.leaseEnded(taskId, watched.record);
  }

  /** Checks every watched process: the only check where pidfds are missing, a safety net elsewhere. */
  private pollWatched(): void {
    for (const [taskId, { process }] of [...this.watches]) if (!isAlive(this.options.procFs, process)) this.watchedExited(taskId);
  }

  // ---- Transactions --------------------------------------------------------------------------

  private enqueue(pending: Pending): void {
    this.queue.push(pending);
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => void this.flush());
    }
  }

  /** Applies everything queued in one store transaction, then answers each request. */
  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      let outcomes: AllocateOutcome[] = [];
      try {
        outcomes = await this.options.store.update((current) => {
          if (current === null) throw notInitialisedError(this.options.store);
          const applied = this.apply(current, batch);
          return { state: applied.state, result: applied.outcomes, durability: "tasks" };
        });
      } catch (error) {
        const failure = error instanceof CmkError ? error : new CmkError("failure", describeCause(error), { cause: error });
        this.options.log.error(`agent: cannot write ${this.options.store.location}: ${failure.message}`);
        outcomes = batch.filter((pending) => pending.kind === "allocate").map(() => ({ ok: false, error: failure }));
        // Releases are tried again with the next batch (or found by reconcile).
        for (const pending of batch) if (pending.kind === "release") this.queue.push(pending);
        if (this.queue.length === batch.length) break;
      }
      let index = 0;
      for (const pending of batch) if (pending.kind === "allocate") pending.done(outcomes[index++] as AllocateOutcome);
    }
    this.flushing = false;
  }

  /** Releases first (they make room), then each allocation in arrival order, on one state. */
  private apply(current: NodeState, batch: readonly Pending[]): { state: NodeState; outcomes: AllocateOutcome[] } {
    let state = current;
    for (const pending of batch) if (pending.kind === "release") state = releaseTask(state, pending.taskId);
    const liveness = taskLiveness(this.options.procFs);
    const outcomes: AllocateOutcome[] = [];
    for (const pending of batch) {
      if (pending.kind !== "allocate") continue;
      const { request, record } = pending;
      try {
        const allocation = allocate(
          state,
          {
            pool: request.pool,
            socketId: socketFor(request.pool, request.socket < 0 ? null : request.socket),
            count: isExclusivePool(request.pool) ? request.count : 1,
            taskId: String(record.isolate.pid),
            record,
          },
          liveness,
          this.options.placement,
        );
        state = allocation.state;
        const env = allocationEnvironment(allocation.lists, state);
        outcomes.push({ ok: true, env: Object.entries(env).map(([name, value]) => `${name}=${value}`) });
      } catch (error) {
        if (!(error instanceof CmkError)) throw error;
        outcomes.push({ ok: false, error });
      }
    }
    return { state, outcomes };
  }
}

function replyFor(error: unknown): string {
  if (error instanceof CmkError) return formatError(exitStatuses[error.kind], error.message);
  return formatError(exitStatuses.failure, describeCause(error));
}
