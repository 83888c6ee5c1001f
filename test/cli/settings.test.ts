// A fake system root (CMK_DEV_LSCPU_SYSFS) describes the machine — sysfs, the kernel command line,
// meminfo — while processes stay this host's: every command works with that one variable, as the
// README's fixture recipe says.
import assert from "node:assert/strict";
import { join } from "node:path";
import { it } from "node:test";
import { fixtures, generateSysfs } from "../../scripts/gen-sysfs-fixture.ts";
import { readStateDocument, runCmk, scratchDir } from "../helpers/cmk.ts";

it("with only CMK_DEV_LSCPU_SYSFS set, init carves the fixture and isolate and reconcile run on real processes", () => {
  const root = scratchDir("settings");
  const machine = join(root, "machine");
  // example-1s8c isolates cores 1 and 2 (CPUs 1,9 and 2,10) on its kernel command line.
  generateSysfs(machine, fixtures["example-1s8c"] ?? assert.fail("no fixture example-1s8c"));
  const env = { CMK_DEV_LSCPU_SYSFS: machine };
  const dir = join(root, "conf");
  const init = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=2", "--num-shared-cores=0"], env);
  assert.equal(init.status, 0, init.stderr);
  assert.deepEqual(Object.keys(readStateDocument(dir)?.config["exclusive"]?.["0"] ?? {}), ["1,9", "2,10"]);
  const isolate = runCmk(["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--no-affinity", "--", "sh", "-c", "echo $CMK_CPUS_ASSIGNED"], env);
  assert.equal(isolate.status, 0, isolate.stderr);
  assert.equal(isolate.stdout, "1,9\n");
  const reconcile = runCmk(["reconcile", `--conf-dir=${dir}`], env);
  assert.equal(reconcile.status, 0, reconcile.stderr);
  assert.deepEqual(JSON.parse(reconcile.stdout), { mismatchedCpuMasks: [], reclaimedCpuLists: [] });
});
