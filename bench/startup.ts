// Start-up of the installed cmk against the source tree's bin/cmk: `--version` and
// `isolate --pool=exclusive -- true`, median wall time of each over interleaved runs.
//   node_modules/.bin/node bench/startup.ts [runs]   (build first: node scripts/build.ts)
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const runs = Math.max(20, Number(process.argv[2] ?? 30));
const warmUp = 3;
const scratch = mkdtempSync(join(tmpdir(), "cmk-bench-startup-"));
const env = { PATH: "/usr/bin:/bin" };

function run(executable: string, args: readonly string[]): number {
  const start = process.hrtime.bigint();
  const result = spawnSync(executable, args, { env, cwd: scratch, stdio: ["ignore", "ignore", "pipe"] });
  const elapsed = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) throw new Error(`${executable} ${args.join(" ")} exited ${result.status}: ${result.stderr.toString()}`);
  return elapsed;
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};

try {
  const source = join(root, "bin", "cmk");
  const installDir = join(scratch, "opt-bin");
  const confDir = join(scratch, "conf");
  run(source, ["install", `--install-dir=${installDir}`]);
  const installed = join(installDir, "cmk");
  run(installed, ["init", `--conf-dir=${confDir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"]);

  const cases: Array<[string, readonly string[]]> = [
    ["--version", ["--version"]],
    ["isolate -- true", ["isolate", `--conf-dir=${confDir}`, "--pool=exclusive", "--", "true"]],
  ];
  process.stdout.write(`cmk start-up, median of ${runs} interleaved runs each (ms)\n`);
  process.stdout.write(`${"command".padEnd(18)}${"source tree".padStart(12)}${"installed".padStart(12)}${"installed/source".padStart(18)}\n`);
  for (const [label, args] of cases) {
    for (let index = 0; index < warmUp; index++) {
      run(source, args);
      run(installed, args);
    }
    const times = { source: [] as number[], installed: [] as number[] };
    for (let index = 0; index < runs; index++) {
      // Alternating which goes first keeps cache and frequency effects off one side.
      if (index % 2 === 0) {
        times.source.push(run(source, args));
        times.installed.push(run(installed, args));
      } else {
        times.installed.push(run(installed, args));
        times.source.push(run(source, args));
      }
    }
    const sourceMedian = median(times.source);
    const installedMedian = median(times.installed);
    process.stdout.write(
      `${label.padEnd(18)}${sourceMedian.toFixed(1).padStart(12)}${installedMedian.toFixed(1).padStart(12)}${(installedMedian / sourceMedian).toFixed(3).padStart(18)}\n`,
    );
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
