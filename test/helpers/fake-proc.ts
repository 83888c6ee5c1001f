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
