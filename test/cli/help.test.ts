// What `cmk --help` and each command's --help promise: only the exit statuses that command can
// return; every CMK command there (cluster-init and reconfigure_setup included), each with its help.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { it } from "node:test";
import { repoRoot, runCmk } from "../helpers/cmk.ts";

/** The "N  kind" lines under "Exit codes:" of a help text. */
function exitStatuses(help: string): number[] {
  const section = help.slice(help.indexOf("Exit codes:"));
  return [...section.matchAll(/^ {2}(\d+) {2}\S/gm)].map((match) => Number(match[1]));
}

it("each command's --help lists only the exit statuses it can return", () => {
  const expected: Record<string, number[]> = {
    describe: [0, 1, 2, 3, 8, 11],
    discover: [0, 1, 2, 3, 4, 8, 11],
    install: [0, 1, 2],
    isolate: [0, 1, 2, 3, 4, 5, 6, 8, 9, 11],
    init: [0, 1, 2, 3, 4, 7, 9, 11],
    reconcile: [0, 1, 2, 3, 4, 8, 11],
    webhook: [0, 1, 2],
    "cluster-init": [0, 1, 2, 7, 11, 12],
    reconfigure_setup: [0, 1, 2, 6, 7, 11, 12],
    uninstall: [0, 1, 2, 7, 11, 12],
  };
  for (const [command, statuses] of Object.entries(expected)) {
    const help = runCmk([command, "--help"]);
    assert.equal(help.status, 0, help.stderr);
    assert.deepEqual(exitStatuses(help.stdout), statuses, `${command} --help`);
  }
  assert.match(runCmk(["isolate", "--help"]).stdout, /127 command not found, 126 command not runnable/);
  assert.deepEqual(exitStatuses(runCmk(["--help"]).stdout), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
});

it("CMK's cluster commands are there: listed, with help, and refusing to run without their flags (exit 2)", () => {
  const main = runCmk(["--help"]).stdout;
  assert.doesNotMatch(main, /Not available yet/);
  for (const command of ["cluster-init", "reconfigure_setup"]) {
    assert.match(main, new RegExp(`^  ${command} +\\S`, "m"));
    const help = runCmk([command, "--help"]);
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /12 {2}unfinished/);
  }
  const run = runCmk(["cluster-init"]);
  assert.equal(run.status, 2, run.stderr);
  assert.match(run.stderr, /^ERROR:cmk:choose the nodes: --host-list=<node>,<node>\.\.\. or --all-hosts\n$/);
});

it("the README's exit status table matches the CLI's", () => {
  const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
  const table = readme.slice(readme.indexOf("## Exit codes"));
  const documented = [...table.matchAll(/^\| (\d+) \|/gm)].map((match) => Number(match[1]));
  assert.deepEqual(documented, exitStatuses(runCmk(["--help"]).stdout));
});

it("reaffinitize says it has nothing to do and why, and exits 0 with CMK 1.5's flags", () => {
  const run = runCmk(["reaffinitize", "--node-name=node-1", "--namespace=default"]);
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stderr, /^INFO:cmk:nothing to do: cmk reconfigure re-pins every thread of each task it moves/);
});
