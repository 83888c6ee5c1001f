// Runs the built bin/cmk as a user would: a real process, its exit code, stdout and stderr.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { fixtures, generateSysfs } from "../../scripts/gen-sysfs-fixture.ts";
import "./reap-descendants.ts";

export const repoRoot = join(import.meta.dirname, "..", "..");
export const cmkBin = join(repoRoot, "bin", "cmk");

export interface CmkResult {
  readonly status: number | null;
  /** The signal that ended cmk itself (on the agent fast path, cmk is the command); null otherwise. */
  readonly signal?: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * What a run must not inherit unless given: cmk's settings, where a cluster or pod would be, and
 * the Node.js variables the launchers set aside for workloads (a test sets them to see them go through).
 */
const settingVariable = /^(CMK_|KUBERNETES_SERVICE_|POD_)|^(NO_COLOR|KUBECONFIG|NODE_NAME|NODE_OPTIONS|NODE_EXTRA_CA_CERTS)$/;

/** Environment for a run: no inherited settings unless given. */
export function cmkEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!settingVariable.test(key)) env[key] = value;
  return { ...env, ...extra };
}

export function runCmk(args: readonly string[], extraEnv: Record<string, string> = {}, cwd = repoRoot): CmkResult {
  const result = spawnSync(cmkBin, args, { env: cmkEnv(extraEnv), cwd, encoding: "utf8" });
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

export function spawnCmk(args: readonly string[], extraEnv: Record<string, string> = {}): ChildProcess {
  return spawn(cmkBin, args, { env: cmkEnv(extraEnv), stdio: ["ignore", "pipe", "pipe"] });
}

export function collect(child: ChildProcess): Promise<CmkResult> {
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on("close", (status) => resolve({ status, stdout, stderr })));
}

/** A scratch directory removed after the test file; `memory` puts it on tmpfs (large fixture trees). */
export function scratchDir(prefix: string, memory = false): string {
  const base = memory && existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
  const dir = mkdtempSync(join(base, `cmk-${prefix}-`));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Generates a named sysfs fixture and returns the environment that points cmk at it. */
export function fixtureEnv(name: string, dir: string): Record<string, string> {
  const spec = fixtures[name];
  if (spec === undefined) throw new Error(`no fixture ${name}`);
  generateSysfs(dir, spec);
  return { CMK_DEV_LSCPU_SYSFS: dir, CMK_PROC_FS: join(dir, "proc") };
}

/** Polls `ready` every `intervalMs` until it returns (or resolves to) a value, not undefined; fails after `seconds` naming `what`. */
export async function waitFor<T>(what: string, ready: () => T | undefined | Promise<T | undefined>, seconds = 20, intervalMs = 20): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await ready();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** A free loopback port. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/**
 * A conf dir's state.json as JSON: CMK's pool document under `config`, task identities under
 * `tasks`, and the kernel's boot id when it was written under `bootId`.
 */
export interface StateDocument {
  config: Record<string, Record<string, Record<string, string[]>>>;
  tasks?: Record<string, { pid: number; start: number; child?: number; childStart?: number; affinity: boolean }>;
  bootId?: string;
}

/** The boot id cmk records when run with `env`: its procfs's sys/kernel/random/boot_id, undefined when there is none. */
export function bootIdOf(env: Readonly<Record<string, string>> = {}): string | undefined {
  const file = join(env["CMK_PROC_FS"] ?? "/proc", "sys", "kernel", "random", "boot_id");
  return existsSync(file) ? readFileSync(file, "utf8").trim() : undefined;
}

/** The state document of a conf dir, or undefined while there is none. */
export function readStateDocument(dir: string): StateDocument | undefined {
  const file = join(dir, "state.json");
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as StateDocument) : undefined;
}

/** Changes a conf dir's state.json by hand, as an operator (or a crash) might. */
export function editStateDocument(dir: string, edit: (document: StateDocument) => void): void {
  const document = readStateDocument(dir);
  if (document === undefined) throw new Error(`no state.json in ${dir}`);
  edit(document);
  writeFileSync(join(dir, "state.json"), JSON.stringify(document, null, 2));
}

/** Task PIDs recorded on a CPU list ("exclusive", "0" on socket 0). */
export function tasksOn(dir: string, pool: string, list: string, socket = "0"): string[] {
  const tasks = readStateDocument(dir)?.config[pool]?.[socket]?.[list];
  if (tasks === undefined) throw new Error(`no CPU list ${list} in pool ${pool} socket ${socket} of ${dir}`);
  return tasks;
}

/** The child PIDs recorded for the tasks of a conf dir. */
export function recordedChildren(dir: string): number[] {
  return Object.values(readStateDocument(dir)?.tasks ?? {}).flatMap((task) => (task.child === undefined ? [] : [task.child]));
}

/** The child PID recorded for a task, once isolate has recorded one. */
export function recordedChild(dir: string): number | undefined {
  return recordedChildren(dir)[0];
}

export interface Serving {
  readonly child: ChildProcess;
  /** What it logged so far. */
  readonly stderr: () => string;
  /** Its end (status and output), once it exits. */
  readonly exited: Promise<CmkResult>;
}

/** Starts a long-running cmk (agent, webhook, ...) and waits until its log matches `ready`; fails if it ends first. */
export async function startServing(args: readonly string[], env: Record<string, string>, ready: RegExp, seconds = 15): Promise<Serving> {
  const child = spawnCmk(args, env);
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = collect(child);
  const deadline = Date.now() + seconds * 1000;
  while (!ready.test(stderr)) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) throw new Error(`cmk ${args[0]} did not start: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return { child, stderr: () => stderr, exited };
}
