// Runs the built bin/cmk as a user would: a real process, its exit code, stdout and stderr.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { fixtures, generateSysfs } from "../../scripts/gen-sysfs-fixture.ts";

export const repoRoot = join(import.meta.dirname, "..", "..");
export const cmkBin = join(repoRoot, "bin", "cmk");

export interface CmkResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Environment for a run: no inherited CMK_* settings unless given. */
export function cmkEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("CMK_") && key !== "NO_COLOR") env[key] = value;
  return { ...env, ...extra };
}

export function runCmk(args: readonly string[], extraEnv: Record<string, string> = {}, cwd = repoRoot): CmkResult {
  const result = spawnSync(cmkBin, args, { env: cmkEnv(extraEnv), cwd, encoding: "utf8" });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
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

/** Polls until `ready` returns a value (not undefined), or fails after `seconds`. */
export async function waitFor<T>(what: string, ready: () => T | undefined, seconds = 20): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = ready();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The child PID recorded for a task in a state file, once isolate has recorded it. */
export function recordedChild(stateFile: string): number | undefined {
  const match = existsSync(stateFile) ? /child: (\d+)/.exec(readFileSync(stateFile, "utf8")) : null;
  return match === null ? undefined : Number(match[1]);
}
