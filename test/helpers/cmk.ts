// Runs the built bin/cmk as a user would: a real process, its exit code, stdout and stderr.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
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

/** A scratch directory removed after the test file. */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `cmk-${prefix}-`));
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
