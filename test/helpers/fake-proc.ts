// Processes that exist only in a fixture's procfs (CMK_PROC_FS=<fixture>/proc): what cmk reads of
// a task's processes, /proc/<pid>/stat (start time) and /proc/<pid>/status (CPU mask), so tests
// can show a task running on the wrong CPUs on any host, whatever its CPUs.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Writes `<proc>/<pid>/stat` with start time `start` and `<proc>/<pid>/status` allowing `cpus`. */
export function fakeProcess(proc: string, pid: number, start: number, cpus: string): void {
  const dir = join(proc, String(pid));
  mkdirSync(dir, { recursive: true });
  // Fields 3 to 21, then the start time (field 22), then the rest of a sleeping process's line.
  const fields = ["S", "1", pid, pid, "0", "-1", "4194304", "100", "0", "0", "0", "0", "0", "0", "0", "20", "0", "1", "0", start, "1000", "100"];
  writeFileSync(join(dir, "stat"), `${pid} (workload) ${fields.join(" ")}\n`);
  writeFileSync(join(dir, "status"), `Name:\tworkload\nState:\tS (sleeping)\nPid:\t${pid}\nCpus_allowed_list:\t${cpus}\n`);
}

/** Writes `<proc>/sys/kernel/random/boot_id`, the kernel's boot id, as the kernel prints it. */
export function fakeBootId(proc: string, bootId: string): void {
  mkdirSync(join(proc, "sys", "kernel", "random"), { recursive: true });
  writeFileSync(join(proc, "sys", "kernel", "random", "boot_id"), `${bootId}\n`);
}

/** Writes `<proc>/self/stat`: the process that reads this procfs, as cmk finds its own host PID. */
export function fakeSelf(proc: string, pid: number, start: number): void {
  mkdirSync(join(proc, "self"), { recursive: true });
  writeFileSync(join(proc, "self", "stat"), `${pid} (cmk) S 1 ${pid} ${pid} 0 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0 ${start} 1000 100\n`);
}

export interface FakeIsolate {
  readonly pid: number;
  readonly start: number;
  /** isolate's arguments after `cmk isolate`, e.g. ["--pool=exclusive", "--conf-dir=/x", "--", "sleep", "9"]. */
  readonly args: readonly string[];
  /** Its command's process, held (no CMK_CPUS_ASSIGNED yet) when `assigned` is absent. */
  readonly command?: { readonly pid: number; readonly start: number; readonly allowed: string; readonly assigned?: string };
}

/** A running `cmk isolate` as procfs shows it: its command line, its child, and the child's mask and environment. */
export function fakeIsolate(proc: string, isolate: FakeIsolate): void {
  fakeProcess(proc, isolate.pid, isolate.start, "0-255");
  const dir = join(proc, String(isolate.pid));
  writeFileSync(join(dir, "cmdline"), `${["/usr/local/bin/node", "/opt/cmk/dist/cmk.cjs", "isolate", ...isolate.args].join("\0")}\0`);
  mkdirSync(join(dir, "task", String(isolate.pid)), { recursive: true });
  writeFileSync(join(dir, "task", String(isolate.pid), "children"), isolate.command === undefined ? "" : `${isolate.command.pid} `);
  const command = isolate.command;
  if (command === undefined) return;
  fakeProcess(proc, command.pid, command.start, command.allowed);
  const environment = ["PATH=/usr/bin:/bin", ...(command.assigned === undefined ? [] : [`CMK_CPUS_ASSIGNED=${command.assigned}`])];
  writeFileSync(join(proc, String(command.pid), "environ"), `${environment.join("\0")}\0`);
}

/** Writes `<proc>/locks` saying that `pids` wait for a flock on the file with inode `inode`. */
export function fakeLockWaiters(proc: string, inode: number, pids: readonly number[]): void {
  writeFileSync(
    join(proc, "locks"),
    pids.map((pid, index) => `1: -> FLOCK  ADVISORY  WRITE ${pid} fe:00:${inode} 0 EOF\n`.replace(/^1/, String(index + 1))).join(""),
  );
}
