// 64 isolates started at once on a 64-list exclusive pool: every one gets its own list, the
// 65th is refused cleanly, and nothing is left behind.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { collect, fixtureEnv, recordedChildren, runCmk, scratchDir, spawnCmk, waitFor } from "../helpers/cmk.ts";

describe("concurrent isolates", () => {
  it("gives 64 simultaneous isolates 64 distinct lists and refuses the 65th", async () => {
    const root = scratchDir("concurrency", true);
    const env = fixtureEnv("host-2048", join(root, "sysfs"));
    const dir = join(root, "state");
    const init = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=64", "--num-shared-cores=1"], env);
    assert.equal(init.status, 0, init.stderr);
    const flag = join(root, "go");
    // The topology is a fixture; processes are real, so isolate reads the real procfs.
    const isolateEnv = { ...env, CMK_PROC_FS: "/proc" };
    let ended = 0;
    const isolates = Array.from({ length: 64 }, () =>
      collect(
        spawnCmk(
          [
            "isolate",
            `--conf-dir=${dir}`,
            "--pool=exclusive",
            "--no-affinity",
            "--",
            "sh",
            "-c",
            `echo $CMK_CPUS_ASSIGNED; while [ ! -e ${flag} ]; do sleep 0.02; done`,
          ],
          isolateEnv,
        ),
      ).then((result) => {
        ended++;
        return result;
      }),
    );
    await waitFor(
      "64 children recorded",
      () => {
        if (ended > 0) throw new Error("an isolate ended before the others were allocated");
        return recordedChildren(dir).length === 64 ? true : undefined;
      },
      120,
    );
    const extra = runCmk(["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--no-affinity", "--", "true"], isolateEnv);
    assert.equal(extra.status, 5, extra.stderr);
    assert.match(extra.stderr, /pool exclusive has 0 free of 64 CPU lists, 1 requested; held: .*, and 56 more/);
    writeFileSync(flag, "");
    const results = await Promise.all(isolates);
    assert.deepEqual(
      results.map((result) => result.status),
      Array(64).fill(0),
      results.map((result) => result.stderr).join(""),
    );
    const assigned = results.map((result) => result.stdout.trim());
    assert.equal(new Set(assigned).size, 64);
    const report = JSON.parse(runCmk(["describe", `--conf-dir=${dir}`], env).stdout) as {
      pools: { exclusive: { cpuLists: Record<string, { tasks: number[] }> } };
    };
    const lists = report.pools.exclusive.cpuLists;
    assert.deepEqual(
      assigned.filter((cpus) => lists[cpus] === undefined),
      [],
      "each isolate got one whole exclusive list",
    );
    assert.ok(
      Object.values(lists).every((list) => list.tasks.length === 0),
      "every list released",
    );
  });
});
