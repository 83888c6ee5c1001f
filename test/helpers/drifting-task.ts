// A task that runs off its CPUs, for the checks that must find one (node-report's affinity check,
// reconcile's mismatched masks): on this machine's CPUs, since the tasks are really pinned, an
// exclusive task whose command widens its own mask by one CPU, beside an infra task started with
// --no-affinity, which no check may report. Both always end, even when an assertion fails.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { CpuSet } from "../../src/core/cpuset.ts";
import { collect, readStateDocument, runCmk, spawnCmk, waitFor } from "./cmk.ts";
import { allowedCpuList, cpusOf, type ExpectedList, expectedPools, hostNode } from "./topology.ts";

export interface DriftingTask {
  /** The task id: isolate's PID. */
  readonly task: number;
  /** The command's process, whose mask is wrong. */
  readonly command: number;
  /** The exclusive list the task holds. */
  readonly list: ExpectedList;
  /** The CPUs the command runs on instead. */
  readonly drift: CpuSet;
}

/** Initialises `dir` on this machine, starts the two tasks, runs `check` while they run, then ends them. */
export async function withDriftingTask(dir: string, check: (task: DriftingTask) => void): Promise<void> {
  const pools = expectedPools(hostNode(), { exclusive: 1, shared: 0 });
  const list = pools.exclusive[0] as ExpectedList;
  const init = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"]);
  assert.equal(init.status, 0, init.stderr);
  const drift = list.cpus.union(CpuSet.of([cpusOf(pools.infra).first as number]));
  const flag = join(dir, "go");
  const wait = `while [ ! -e ${flag} ]; do sleep 0.02; done`;
  const drifting = spawnCmk([
    "isolate",
    `--conf-dir=${dir}`,
    "--pool=exclusive",
    "--",
    "sh",
    "-c",
    `taskset -pc ${drift} $$ >/dev/null; echo drifted; ${wait}`,
  ]);
  const free = spawnCmk(["isolate", `--conf-dir=${dir}`, "--pool=infra", "--no-affinity", "--", "sh", "-c", wait]);
  const done = Promise.all([collect(drifting), collect(free)]);
  const childOf = (pid: number | undefined): number | undefined => (pid === undefined ? undefined : readStateDocument(dir)?.tasks?.[pid]?.child);
  let said = "";
  drifting.stdout?.on("data", (chunk: Buffer) => (said += chunk.toString()));
  try {
    // The command says when it has widened its mask: before that, its mask may still be the one it inherited.
    await waitFor("the command to widen its mask", () => (said.includes("drifted") ? true : undefined));
    await waitFor("the other child to be recorded", () => childOf(free.pid));
    const command = childOf(drifting.pid) as number;
    assert.equal(allowedCpuList(command), drift.toString());
    check({ task: drifting.pid as number, command, list, drift });
  } finally {
    // The tasks end before the scratch directory (and the flag in it) goes, even when an assertion failed.
    writeFileSync(flag, "");
    const results = await done;
    assert.deepEqual(
      results.map((result) => result.status),
      [0, 0],
    );
  }
}
