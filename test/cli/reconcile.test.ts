// `cmk reconcile`'s report of live tasks running off their CPUs names the process whose CPU mask
// is wrong (the task's command), beside the task it belongs to.
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { editStateDocument, fixtureEnv, runCmk, scratchDir } from "../helpers/cmk.ts";
import { fakeProcess } from "../helpers/fake-proc.ts";

const root = scratchDir("reconcile");

describe("cmk reconcile", () => {
  it("names the command's process in mismatchedCpuMasks, not isolate's, and keeps the task's id beside it", () => {
    const env = fixtureEnv("spec-2s16c", join(root, "sysfs"));
    const dir = join(root, "state");
    const init = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=3", "--num-shared-cores=1"], env);
    assert.equal(init.status, 0, init.stderr);
    // Task 4242 holds exclusive 1,9: isolate (4242) still has the list's mask, its command (4250) runs on CPU 3.
    const proc = env.CMK_PROC_FS as string;
    fakeProcess(proc, 4242, 7000, "1,9");
    fakeProcess(proc, 4250, 7001, "3");
    editStateDocument(dir, (document) => {
      const socket0 = document.config["exclusive"]?.["0"];
      if (socket0 !== undefined) socket0["1,9"] = ["4242"];
      document.tasks = { "4242": { pid: 4242, start: 7000, child: 4250, childStart: 7001, affinity: true } };
    });
    const result = runCmk(["reconcile", `--conf-dir=${dir}`], env);
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), {
      mismatchedCpuMasks: [{ actualCpus: "3", cpus: "1,9", pid: 4250, pool: "exclusive", task: 4242 }],
      reclaimedCpuLists: [],
    });
  });
});
