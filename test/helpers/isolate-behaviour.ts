// What `cmk isolate` does for its user, one suite run both without an agent (isolate changes the
// state itself) and with one (the agent allocates): the command is pinned and told its CPUs, its
// exit status and signals are its own, a held list is nobody else's, bad input is refused.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { collect, runCmk, scratchDir, spawnCmk, tasksOn } from "./cmk.ts";
import { allowedCpuList, cmkMask, type ExpectedList, expectedPools, hostNode } from "./topology.ts";

/** A node carved on this machine with one exclusive core and no shared core; `env` reaches isolate. */
export interface IsolateNode {
  readonly dir: string;
  readonly env: Record<string, string>;
}

export function isolateBehaviour(kind: string, makeNode: () => Promise<IsolateNode>): void {
  const exclusive = expectedPools(hostNode(), { exclusive: 1, shared: 0 }).exclusive[0] as ExpectedList;
  const scratch = scratchDir("isolate-behaviour");
  let markers = 0;
  const isolate = (node: IsolateNode, args: readonly string[], env: Record<string, string> = {}) =>
    runCmk(["isolate", `--conf-dir=${node.dir}`, ...args], { ...node.env, ...env });
  const held = (node: IsolateNode): string[] => tasksOn(node.dir, "exclusive", exclusive.key, String(exclusive.socket));

  describe(`cmk isolate ${kind}`, () => {
    it("runs the command pinned to its list with CMK_CPUS_ASSIGNED and its mask, then frees the list", async () => {
      const node = await makeNode();
      const run = isolate(node, [
        "--pool=exclusive",
        "--",
        "sh",
        "-c",
        'grep Cpus_allowed_list /proc/self/status; echo "$CMK_CPUS_ASSIGNED $CMK_CPUS_ASSIGNED_MASK"',
      ]);
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stdout, `Cpus_allowed_list:\t${exclusive.cpus}\n${exclusive.cpus} ${cmkMask(exclusive.cpus)}\n`);
      for (let tries = 0; tries < 500 && held(node).length > 0; tries++) await new Promise((resolve) => setTimeout(resolve, 2));
      assert.deepEqual(held(node), []);
    });

    it("--no-affinity tells the command its CPUs and leaves its mask alone", async () => {
      const node = await makeNode();
      const run = isolate(node, ["--pool=exclusive", "--no-affinity", "--", "sh", "-c", 'grep Cpus_allowed_list /proc/self/status; echo "$CMK_CPUS_ASSIGNED"']);
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stdout, `Cpus_allowed_list:\t${allowedCpuList("self")}\n${exclusive.cpus}\n`);
    });

    it("ends with the command's status: its exit code, 128+N for signal N, 127 when it does not exist", async () => {
      const node = await makeNode();
      assert.equal(isolate(node, ["--pool=infra", "--", "sh", "-c", "exit 7"]).status, 7);
      // Isolate reports it as 128+N, or (on the agent's fast path, where isolate became the command) ends by it: a shell sees 143 either way.
      const signalled = isolate(node, ["--pool=infra", "--", "sh", "-c", "kill -TERM $$"]);
      assert.ok(signalled.status === 143 || signalled.signal === "SIGTERM", `status ${signalled.status}, signal ${signalled.signal}`);
      const missing = isolate(node, ["--pool=infra", "--", "no-such-command-here"]);
      assert.equal(missing.status, 127);
      assert.match(missing.stderr, /cannot run no-such-command-here: command not found/);
    });

    it("gives a held exclusive list to no one else: exit 5, naming the holder", async () => {
      const node = await makeNode();
      const marker = join(scratch, `release-${markers++}`);
      const holder = spawnCmk(
        ["isolate", `--conf-dir=${node.dir}`, "--pool=exclusive", "--", "sh", "-c", `echo held; while [ ! -e ${marker} ]; do sleep 0.01; done`],
        node.env,
      );
      const finished = collect(holder);
      await new Promise<void>((resolve) => holder.stdout?.once("data", () => resolve()));
      try {
        const refused = isolate(node, ["--pool=exclusive", "--", "true"]);
        assert.equal(refused.status, 5, refused.stderr);
        assert.match(refused.stderr, new RegExp(`has 0 free of 1 CPU lists, 1 requested; held: ${exclusive.key} by PID \\d+`));
      } finally {
        writeFileSync(marker, "");
      }
      assert.equal((await finished).status, 0);
    });

    it("refuses bad CMK_NUM_CORES (exit 2) and more lists than the pool has (exit 9), allocating nothing", async () => {
      const node = await makeNode();
      const bad = isolate(node, ["--pool=exclusive", "--", "true"], { CMK_NUM_CORES: "two" });
      assert.equal(bad.status, 2, bad.stderr);
      assert.match(bad.stderr, /CMK_NUM_CORES="two"/);
      const tooMany = isolate(node, ["--pool=exclusive", "--", "true"], { CMK_NUM_CORES: "2" });
      assert.equal(tooMany.status, 9, tooMany.stderr);
      assert.match(tooMany.stderr, /has 1 CPU list in all, 2 requested/);
      assert.deepEqual(held(node), []);
    });
  });
}
