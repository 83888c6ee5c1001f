// One exit status for "your request does not fit this node" (9, documented in the README), the
// same for every command, with the state left as it was. Runs on fixed fixture topologies, so the
// expectations hold on any host; processes stay this host's (only the machine's shape is faked).
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { it } from "node:test";
import { fixtures, generateSysfs } from "../../scripts/gen-sysfs-fixture.ts";
import { editStateDocument, runCmk, scratchDir } from "../helpers/cmk.ts";

const root = scratchDir("exit-status");
let counter = 0;

/** A fake system root of the named fixture: its sys/ and proc/cmdline describe the machine. */
function machine(name: string): Record<string, string> {
  const dir = join(root, `machine-${counter++}`);
  generateSysfs(dir, fixtures[name] ?? assert.fail(`no fixture ${name}`));
  return { CMK_DEV_LSCPU_SYSFS: dir };
}

const doesNotFit = 9;

it("init exits 9 for requests the node cannot satisfy, writing nothing", () => {
  // example-1s8c: one socket, 8 cores, of which cores 1 and 2 are isolated.
  const env = machine("example-1s8c");
  const cases: [string[], RegExp][] = [
    [["--num-exclusive-cores=3", "--num-shared-cores=0"], /2 cores are isolated but 3 were requested/],
    [["--num-exclusive-cores=1", "--num-shared-cores=0", "--socket-id=5"], /socket 5 is not a socket of this node; sockets are 0 \(--socket-id/],
    [["--num-exclusive-cores=1", "--num-shared-cores=0", "--excl-non-isolcpus=99"], /cores not on this node: 99; .*\(--excl-non-isolcpus/],
    [["--num-exclusive-cores=1", "--num-shared-cores=0", "--sst=bf"], /--sst=bf: no CPU of this node reports a cpufreq base_frequency/],
    [
      ["--num-exclusive-cores=1", "--num-shared-cores=0", "--sst=cp"],
      /--sst=cp: the CPUs of this node do not report two or more energy_performance_preference values/,
    ],
  ];
  for (const [flags, message] of cases) {
    const dir = join(root, `conf-${counter++}`);
    const result = runCmk(["init", `--conf-dir=${dir}`, ...flags], env);
    assert.equal(result.status, doesNotFit, `${flags.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, message);
    assert.equal(existsSync(dir), false, `${flags.join(" ")} left ${dir} behind`);
  }
});

it("isolate exits 9 when the pool has fewer lists than requested, or no such socket, and takes nothing", () => {
  const env = machine("example-1s8c");
  const dir = join(root, `conf-${counter++}`);
  assert.equal(runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=2", "--num-shared-cores=0"], env).status, 0);
  const before = readFileSync(join(dir, "state.json"), "utf8");
  const tooMany = runCmk(["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--no-affinity", "--", "true"], { ...env, CMK_NUM_CORES: "3" });
  assert.equal(tooMany.status, doesNotFit, tooMany.stderr);
  assert.match(tooMany.stderr, /pool exclusive has 2 CPU lists in all, 3 requested; request at most 2 \(CMK_NUM_CORES/);
  const noSocket = runCmk(["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--socket-id=1", "--no-affinity", "--", "true"], env);
  assert.equal(noSocket.status, doesNotFit, noSocket.stderr);
  assert.match(noSocket.stderr, /pool exclusive has no socket 1; sockets: 0 \(--socket-id/);
  assert.equal(readFileSync(join(dir, "state.json"), "utf8"), before);
});

it("a pool that is merely busy still exits 5, naming its holders", () => {
  const env = machine("example-1s8c");
  const dir = join(root, `conf-${counter++}`);
  assert.equal(runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"], env).status, 0);
  let key = "";
  // The one list is held by this live test process, as CMK records a task (PID only).
  editStateDocument(dir, (document) => {
    const lists = document.config["exclusive"]?.["0"] ?? assert.fail("no exclusive lists on socket 0");
    key = Object.keys(lists)[0] ?? assert.fail("no exclusive list");
    lists[key] = [String(process.pid)];
  });
  const busy = runCmk(["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--no-affinity", "--", "true"], env);
  assert.equal(busy.status, 5, busy.stderr);
  assert.match(busy.stderr, new RegExp(`has 0 free of 1 CPU lists, 1 requested; held: ${key} by PID ${process.pid}`));
});
