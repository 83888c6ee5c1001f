// The command line every cmk command shares: --version, --help, unknown commands and flags, and
// the CMK_* variables read before any command runs. A mistake there must stop cmk with exit 2 and
// a hint naming the nearest spelling, before anything on the node is touched.
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { runCmk, scratchDir } from "../helpers/cmk.ts";

const root = scratchDir("command-line");

describe("cmk command line", () => {
  it("prints version, help and per-command help", () => {
    assert.match(runCmk(["--version"]).stdout, /^cmk v\d+\.\d+\.\d+\S* \(build \S+\)\n$/);
    const help = runCmk(["--help"]);
    assert.equal(help.status, 0);
    for (const command of ["init", "describe", "isolate", "reconcile", "node-report"]) assert.match(help.stdout, new RegExp(`\\b${command}\\b`));
    const initHelp = runCmk(["init", "--help"]);
    assert.equal(initHelp.status, 0);
    assert.match(initHelp.stdout, /--num-exclusive-cores=<num>.*\(default 4\)/);
    assert.match(initHelp.stdout, /Exit codes:/);
  });

  it("rejects unknown commands and flags with the nearest spelling and exit 2", () => {
    const command = runCmk(["inti"]);
    assert.equal(command.status, 2);
    assert.match(command.stderr, /^ERROR:cmk:unknown command "inti"; did you mean init\?/);
    assert.equal(command.stderr.trim().split("\n").length, 1);
    const flag = runCmk(["init", "--num-exclusive-core=2", `--conf-dir=${join(root, "state")}`]);
    assert.equal(flag.status, 2);
    assert.match(flag.stderr, /unknown flag --num-exclusive-core for cmk init; did you mean --num-exclusive-cores\?/);
  });

  it("refuses a bad CMK_LOG_LEVEL or CMK_LOCK_TIMEOUT with exit 2", () => {
    const level = runCmk(["describe"], { CMK_LOG_LEVEL: "LOUD" });
    assert.equal(level.status, 2);
    assert.match(level.stderr, /CMK_LOG_LEVEL="LOUD" is not a log level/);
    const timeout = runCmk(["init", `--conf-dir=${join(root, "timeout")}`, "--num-exclusive-cores=1", "--num-shared-cores=0"], { CMK_LOCK_TIMEOUT: "soon" });
    assert.equal(timeout.status, 2);
    assert.match(timeout.stderr, /CMK_LOCK_TIMEOUT="soon" is not valid/);
  });
});
