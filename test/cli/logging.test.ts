// CMK_LOG_LEVEL=DEBUG explains what cmk decided and why: which CPU lists isolate took and for what
// reason, how long it waited for the lock, how init carved each socket, what reconcile reclaimed.
import assert from "node:assert/strict";
import { join } from "node:path";
import { it } from "node:test";
import { editStateDocument, runCmk, scratchDir } from "../helpers/cmk.ts";

const root = scratchDir("logging");
const debug = { CMK_LOG_LEVEL: "DEBUG" };

it("DEBUG logs init's topology and layout, isolate's choice and lock wait, reconcile's reclaims", () => {
  const dir = join(root, "conf");
  const init = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"], debug);
  assert.equal(init.status, 0, init.stderr);
  assert.match(init.stderr, /^DEBUG:cmk:topology: \d+ socket\(s\), \d+ physical cores, CPUs \S+, isolcpus \S+$/m);
  assert.match(init.stderr, /^DEBUG:cmk:exclusive socket \d+: \S+/m);
  assert.match(init.stderr, /^DEBUG:cmk:infra socket \d+: \S+/m);

  const isolate = runCmk(["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--", "true"], debug);
  assert.equal(isolate.status, 0, isolate.stderr);
  assert.match(
    isolate.stderr,
    /^DEBUG:cmk:task \d+: pool exclusive CPU lists \S+: the first free list in pool order, 1 of 1 lists free; lock wait and transaction \d+\.\d ms$/m,
  );

  // A task recorded for a PID that cannot be running (the kernel's PID limit itself: PIDs stay below it).
  let key = "";
  editStateDocument(dir, (document) => {
    const lists = document.config["exclusive"]?.["0"] ?? assert.fail("no exclusive lists on socket 0");
    key = Object.keys(lists)[0] ?? assert.fail("no exclusive list");
    lists[key] = ["4194304"];
  });
  const reconcile = runCmk(["reconcile", `--conf-dir=${dir}`], debug);
  assert.equal(reconcile.status, 0, reconcile.stderr);
  assert.match(reconcile.stderr, new RegExp(`^DEBUG:cmk:reclaimed exclusive CPU list ${key} of dead task 4194304$`, "m"));
  assert.match(reconcile.stderr, /^DEBUG:cmk:checked 1 recorded tasks, reclaimed 1 CPU lists; lock wait and transaction \d+\.\d ms$/m);
  const quiet = runCmk(["reconcile", `--conf-dir=${dir}`]);
  assert.doesNotMatch(quiet.stderr, /DEBUG/);
});
