// `cmk isolate` on this machine's real CPUs, with real processes, signals and sched_setaffinity.
// Always this machine (hostNode), also when CMK_TEST_TOPOLOGY pretends another topology: the CPUs
// a command is pinned to must exist.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { CpuSet } from "../../src/core/cpuset.ts";
import {
  cmkBin,
  cmkEnv,
  collect,
  editStateDocument,
  readStateDocument,
  recordedChild,
  runCmk,
  scratchDir,
  spawnCmk,
  tasksOn,
  waitFor,
} from "../helpers/cmk.ts";
import { cpusetCgroup } from "../helpers/cpuset-cgroup.ts";
import { isolateBehaviour } from "../helpers/isolate-behaviour.ts";
import { allowedCpuList, cmkMask, cpusOf, type ExpectedList, expectedPools, hostNode } from "../helpers/topology.ts";

const root = scratchDir("isolate");
const storeWorker = join(import.meta.dirname, "..", "helpers", "store-worker.ts");
const host = hostNode();
const pools = expectedPools(host, { exclusive: 1, shared: 0 });
/** The only exclusive list: the first core init may use. */
const exclusive = pools.exclusive[0] as ExpectedList;
/** The infra list a first infra task gets: every list is equally free, so the first socket's. */
const firstInfra = pools.infra[0] as ExpectedList;
let counter = 0;

/** A node carved on this machine with one exclusive core, no shared core and infra on the rest. */
function initialisedNode(): string {
  const dir = join(root, `node-${counter++}`);
  const result = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"]);
  assert.equal(result.status, 0, result.stderr);
  return dir;
}

const exclusiveTasks = (dir: string): string[] => tasksOn(dir, "exclusive", exclusive.key, String(exclusive.socket));

const alive = (pid: number): boolean => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));

describe("cmk isolate on real CPUs", () => {
  it("starts the command pinned to its CPUs with CMK_CPUS_* set, and frees the list after", () => {
    const dir = initialisedNode();
    const result = runCmk([
      "isolate",
      `--conf-dir=${dir}`,
      "--pool=exclusive",
      "--",
      "sh",
      "-c",
      "grep Cpus_allowed_list /proc/self/status; env | grep ^CMK_CPUS | sort",
    ]);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(
      result.stdout,
      `Cpus_allowed_list:\t${exclusive.cpus}\nCMK_CPUS_ASSIGNED=${exclusive.cpus}\nCMK_CPUS_ASSIGNED_MASK=${cmkMask(exclusive.cpus)}\nCMK_CPUS_INFRA=${cpusOf(pools.infra)}\nCMK_CPUS_SHARED=\n`,
    );
    assert.deepEqual(exclusiveTasks(dir), []);
    const infra = runCmk(["isolate", `--conf-dir=${dir}`, "--pool=infra", "grep", "--", "Cpus_allowed_list", "/proc/self/status"]);
    assert.equal(infra.stdout, `Cpus_allowed_list:\t${firstInfra.cpus}\n`);
  });

  it("--socket-id chooses the socket of exclusive and shared lists; an infra request ignores it, as CMK's did", () => {
    // Lists on socket 0 only; socket 1 is carved but empty. Infra's CPU 0 is online on every Linux
    // host; the other pools' lists are never pinned to here, only refused.
    const dir = join(root, `node-${counter++}`);
    mkdirSync(dir);
    const onSocket0 = (cpu: string) => ({ "0": { [cpu]: [] }, "1": {} });
    writeFileSync(join(dir, "state.json"), JSON.stringify({ config: { exclusive: onSocket0("4000"), infra: onSocket0("0"), shared: onSocket0("4001") } }));
    const infra = runCmk([
      "isolate",
      `--conf-dir=${dir}`,
      "--pool=infra",
      "--socket-id=1",
      "--",
      "sh",
      "-c",
      'grep Cpus_allowed_list /proc/self/status; echo "$CMK_CPUS_ASSIGNED"',
    ]);
    assert.equal(infra.status, 0, infra.stderr);
    assert.equal(infra.stdout, "Cpus_allowed_list:\t0\n0\n");
    for (const pool of ["shared", "exclusive"]) {
      const refused = runCmk(["isolate", `--conf-dir=${dir}`, `--pool=${pool}`, "--socket-id=1", "--", "true"]);
      // Socket 1 has no lists of the pool at all: no waiting would help, so the request does not fit.
      assert.equal(refused.status, 9, `${pool}: ${refused.stderr}`);
      assert.match(refused.stderr, new RegExp(`pool ${pool}.* on socket 1`));
    }
    assert.match(
      runCmk(["isolate", "--help"]).stdout,
      /--socket-id=<num>\s+take the lists of an exclusive, exclusive-non-isolcpus or shared pool from this socket; an infra request ignores it/,
    );
  });

  it("keeps a workload's NODE_OPTIONS and NODE_EXTRA_CA_CERTS away from cmk's runtime but gives them to the command", () => {
    const dir = initialisedNode();
    const script = 'echo "$NODE_OPTIONS"; echo "$NODE_EXTRA_CA_CERTS"; env | grep -c CMK_WORKLOAD || true';
    const result = runCmk(["isolate", `--conf-dir=${dir}`, "--pool=infra", "--", "sh", "-c", script], {
      NODE_OPTIONS: "--require /nonexistent/tracing.js",
      NODE_EXTRA_CA_CERTS: "/nonexistent/extra-ca.pem",
    });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, "--require /nonexistent/tracing.js\n/nonexistent/extra-ca.pem\n0\n");
    // Node.js itself would warn that it cannot read the file: cmk's runtime never saw the variable.
    assert.doesNotMatch(result.stderr, /extra-ca|Ignoring extra certs/);
  });

  it("passes arguments exactly, without a shell", () => {
    const dir = initialisedNode();
    const args = ["a b", "", "$HOME", "--pool=x", "'quoted'", "*"];
    const result = runCmk(["isolate", `--conf-dir=${dir}`, "--pool=infra", "--", "printf", "[%s]\\n", ...args]);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, args.map((arg) => `[${arg}]\n`).join(""));
  });

  it("exits with the command's status, 128+N for a signal, 127 when the command does not exist", () => {
    const dir = initialisedNode();
    assert.equal(runCmk(["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--", "sh", "-c", "exit 3"]).status, 3);
    assert.equal(runCmk(["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--", "sh", "-c", "kill -KILL $$"]).status, 137);
    const missing = runCmk(["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--", "no-such-command-here"]);
    assert.equal(missing.status, 127);
    assert.match(missing.stderr, /cannot run no-such-command-here: command not found/);
    assert.deepEqual(exclusiveTasks(dir), [], "every run released its list");
  });

  for (const signal of ["SIGTERM", "SIGHUP", "SIGINT", "SIGQUIT", "SIGUSR1", "SIGUSR2"] as const) {
    it(`forwards ${signal} to the command and cleans up`, async () => {
      const dir = initialisedNode();
      const name = signal.slice(3);
      const script = `trap 'echo got ${name}; exit 42' ${name}; echo ready; while :; do sleep 0.05; done`;
      const isolate = spawnCmk(["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--", "sh", "-c", script]);
      const output = collect(isolate);
      await new Promise<void>((resolve) => isolate.stdout?.once("data", () => resolve()));
      await waitFor("the child to be recorded", () => recordedChild(dir));
      isolate.kill(signal);
      const result = await output;
      assert.equal(result.stdout, `ready\ngot ${name}\n`);
      assert.equal(result.status, 42, result.stderr);
      assert.deepEqual(exclusiveTasks(dir), []);
    });
  }

  it("records the command's PID with its CPUs before the command runs", () => {
    const dir = initialisedNode();
    // The command looks itself up in the state: a kill -9 of isolate at any instant after this
    // point leaves a recorded process on the list, never an unrecorded one.
    const result = runCmk(["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--", "sh", "-c", `grep -c '"child": '$$',' ${join(dir, "state.json")}`]);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, "1\n");
  });

  it("ends without running the command when a signal arrives before the command starts", async () => {
    const dir = initialisedNode();
    const marker = join(dir, "ran");
    const holder = spawn(process.execPath, [storeWorker, dir, "hold"], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve) => holder.stdout?.once("data", () => resolve()));
    const isolate = spawnCmk(["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--", "touch", marker]);
    const result = collect(isolate);
    // The command's process exists, held back, while isolate waits for the state lock.
    const children = `/proc/${isolate.pid}/task/${isolate.pid}/children`;
    const held = await waitFor("the held command process", () =>
      existsSync(children) ? Number(readFileSync(children, "utf8").trim()) || undefined : undefined,
    );
    isolate.kill("SIGTERM");
    await new Promise((resolve) => setTimeout(resolve, 100));
    holder.kill("SIGKILL");
    const { status, stderr } = await result;
    assert.equal(status, 143, stderr);
    assert.equal(existsSync(marker), false, "the command never ran");
    assert.equal(alive(held), false, "the held process is gone");
    assert.deepEqual(exclusiveTasks(dir), []);
  });

  it("survives kill -9 at any instant: the state parses, a command that runs is always recorded, no process is left behind", async () => {
    const dir = initialisedNode();
    const log = join(dir, "commands.log");
    // The command checks that it is recorded, from its first instruction; the log path marks its processes.
    const script = `grep -q '"child": '$$',' ${join(dir, "state.json")} && echo recorded >> ${log} || echo MISSING >> ${log}; sleep 0.05`;
    const running = (): boolean =>
      readdirSync("/proc").some(
        (pid) =>
          /^\d+$/.test(pid) &&
          (() => {
            try {
              return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(log) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
            } catch {
              return false;
            }
          })(),
      );
    for (let round = 0; round < 24; round++) {
      const isolate = spawnCmk(["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--", "sh", "-c", script]);
      await new Promise((resolve) => setTimeout(resolve, (round * 7) % 60));
      isolate.kill("SIGKILL");
      await new Promise((resolve) => isolate.on("exit", resolve));
      assert.equal(runCmk(["describe", `--conf-dir=${dir}`]).status, 0, `round ${round}: the state parses`);
      await waitFor(`round ${round}: the command (or its held process) to end`, () => (running() ? undefined : true));
    }
    const lines = existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : [];
    assert.deepEqual(
      lines.filter((line) => line !== "recorded"),
      [],
      "every command that ran found itself recorded",
    );
    const next = runCmk(["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--", "true"]);
    assert.equal(next.status, 0, next.stderr);
    assert.deepEqual(exclusiveTasks(dir), []);
  });

  it("exits 126, saying why, when the command cannot be executed", () => {
    const dir = initialisedNode();
    const script = join(dir, "not-executable.sh");
    writeFileSync(script, "#!/bin/sh\necho hi\n", { mode: 0o644 });
    const result = runCmk(["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--", script]);
    assert.equal(result.status, 126);
    assert.match(result.stderr, new RegExp(`cannot run ${script}: permission denied`));
    const noShebang = join(dir, "no-shebang.sh");
    writeFileSync(noShebang, "echo hi\n", { mode: 0o755 });
    const unknownFormat = runCmk(["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--", noShebang]);
    assert.equal(unknownFormat.status, 126);
    assert.match(unknownFormat.stderr, new RegExp(`cannot run ${noShebang}: not an executable format \\(a script needs a #! line\\)`));
    assert.equal(unknownFormat.stdout, "", "no shell ran it behind the user's back");
    assert.deepEqual(exclusiveTasks(dir), []);
  });

  it("keeps a list busy while the command of a SIGKILLed isolate runs, then reuses it without reconcile", async () => {
    const dir = initialisedNode();
    const flag = join(dir, "go");
    const first = spawnCmk(["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--", "sh", "-c", `echo running; while [ ! -e ${flag} ]; do sleep 0.02; done`]);
    await new Promise<void>((resolve) => first.stdout?.once("data", () => resolve()));
    const child = await waitFor("the child to be recorded", () => recordedChild(dir));
    first.kill("SIGKILL");
    await new Promise((resolve) => first.on("exit", resolve));
    assert.ok(alive(child), "the command outlives its isolate");
    const refused = runCmk(["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--", "true"]);
    assert.equal(refused.status, 5, refused.stderr);
    assert.match(refused.stderr, new RegExp(`pool exclusive has 0 free of 1 CPU lists, 1 requested; held: ${exclusive.key} by PID \\d+ \\(child ${child}\\)`));
    writeFileSync(flag, "");
    await waitFor("the command to end", () => (alive(child) ? undefined : true));
    const reused = runCmk(["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--", "grep", "Cpus_allowed_list", "/proc/self/status"]);
    assert.equal(reused.status, 0, reused.stderr);
    assert.equal(reused.stdout, `Cpus_allowed_list:\t${exclusive.cpus}\n`);
    assert.match(reused.stderr, new RegExp(`reclaimed CPU list ${exclusive.key} of pool exclusive from dead task \\d+`));
  });

  it("records host PIDs when it runs in its own PID namespace with the host's procfs at CMK_PROC_FS", async () => {
    const dir = initialisedNode();
    const hostProc = join(dir, "host-proc");
    mkdirSync(hostProc);
    const flag = join(dir, "go");
    // A private mount namespace keeps the bind mount of the host's /proc to this test; the PID namespace gets its own /proc.
    const script = `mount --bind /proc ${hostProc} && exec unshare --pid --fork --mount-proc env CMK_PROC_FS=${hostProc} "$0" "$@"`;
    const inNamespace = spawn(
      "unshare",
      [
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
        cmkBin,
        "isolate",
        `--conf-dir=${dir}`,
        "--pool=exclusive",
        "--",
        "sh",
        "-c",
        `echo "$$"; while [ ! -e ${flag} ]; do sleep 0.02; done`,
      ],
      { env: cmkEnv(), stdio: ["ignore", "pipe", "pipe"] },
    );
    const result = collect(inNamespace);
    try {
      const namespacePid = await new Promise<number>((resolve) => inNamespace.stdout?.once("data", (data: Buffer) => resolve(Number(data.toString().trim()))));
      const task = Object.values(readStateDocument(dir)?.tasks ?? {})[0];
      assert.ok(task?.child !== undefined, "the command is recorded");
      assert.notEqual(task.child, namespacePid, "as its host PID, not the one it sees");
      assert.match(readFileSync(`/proc/${task.child}/cmdline`, "utf8"), /^sh\0-c\0echo/, "the recorded child is the command");
      assert.match(readFileSync(`/proc/${task.pid}/cmdline`, "utf8"), /cmk\.cjs\0isolate\0/, "the recorded isolate is isolate");
      assert.equal(allowedCpuList(task.child), exclusive.cpus.toString(), "the command runs on the exclusive list");
    } finally {
      writeFileSync(flag, "");
    }
    const { status, stderr } = await result;
    assert.equal(status, 0, stderr);
    assert.deepEqual(exclusiveTasks(dir), []);
  });

  it("--no-affinity allocates and exports CMK_CPUS_ASSIGNED but leaves the mask alone", () => {
    const dir = initialisedNode();
    const own = allowedCpuList("self");
    const result = runCmk([
      "isolate",
      `--conf-dir=${dir}`,
      "--pool=exclusive",
      "--no-affinity",
      "--",
      "sh",
      "-c",
      "grep Cpus_allowed_list /proc/self/status; echo $CMK_CPUS_ASSIGNED",
    ]);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, `Cpus_allowed_list:\t${own}\n${exclusive.cpus}\n`);
  });

  it("refuses bad CMK_NUM_CORES and unknown pools without allocating", () => {
    const dir = initialisedNode();
    for (const value of ["0", "-1", "2.0", "500m", "abc"]) {
      const result = runCmk(["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--", "true"], { CMK_NUM_CORES: value });
      assert.equal(result.status, 2, value);
      assert.match(result.stderr, new RegExp(`CMK_NUM_CORES="${value.replace(".", "\\.")}" is not valid: expected a whole number`));
    }
    const pool = runCmk(["isolate", `--conf-dir=${dir}`, "--pool=exclusiv", "--", "true"]);
    assert.equal(pool.status, 2);
    assert.match(pool.stderr, /--pool="exclusiv" is not a pool; did you mean exclusive\?/);
    const help = runCmk(["isolate", "--help"]);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /^Usage: cmk isolate --pool=<pool>/);
    const commandFlag = runCmk(["isolate", `--conf-dir=${dir}`, "--pool=infra", "ls", "-l"]);
    assert.equal(commandFlag.status, 2);
    assert.match(commandFlag.stderr, /unknown flag -l for cmk isolate; to give it to ls, put it after --: cmk isolate \[flags\] ls -- -l/);
    const noCommand = runCmk(["isolate", `--conf-dir=${dir}`, "--pool=exclusive"]);
    assert.equal(noCommand.status, 2);
    assert.match(noCommand.stderr, /needs a command to run/);
    assert.deepEqual(exclusiveTasks(dir), []);
  });

  it("fails with exit 6 and rolls back when the cgroup cpuset refuses or narrows the CPUs", async () => {
    // The cpuset allows one CPU outside the exclusive list.
    const other = cpusOf(pools.infra).first as number;
    const cgroup = cpusetCgroup(`cmk-test-${process.pid}`, String(other));
    try {
      const inCgroup = (dir: string): Promise<{ status: number | null; stderr: string }> => {
        const child = spawn("sh", ["-c", `${cgroup.enter} && exec "$0" "$@"`, cmkBin, "isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--", "true"], {
          stdio: ["ignore", "pipe", "pipe"],
        });
        return collect(child);
      };
      const refusedDir = initialisedNode();
      const refused = await inCgroup(refusedDir);
      assert.equal(refused.status, 6, refused.stderr);
      assert.match(refused.stderr, new RegExp(`the kernel refused CPU affinity ${exclusive.cpus} .*cgroup cpuset ${cgroup.path} allows CPUs ${other}`));
      assert.deepEqual(exclusiveTasks(refusedDir), [], "allocation rolled back");
      // A list of the exclusive CPUs and the allowed one: the kernel narrows instead of refusing.
      const narrowedDir = initialisedNode();
      const wider = exclusive.cpus.union(CpuSet.of([other]));
      const socket = String(exclusive.socket);
      editStateDocument(narrowedDir, (document) => {
        document.config["exclusive"] = { [socket]: { [wider.ids.join(",")]: [] } };
        document.config["infra"] = { [socket]: {} };
      });
      const narrowed = await inCgroup(narrowedDir);
      assert.equal(narrowed.status, 6, narrowed.stderr);
      assert.match(narrowed.stderr, new RegExp(`the kernel narrowed CPU affinity ${wider} to ${other}: CPUs ${exclusive.cpus} are not available here`));
      assert.deepEqual(tasksOn(narrowedDir, "exclusive", wider.ids.join(","), socket), []);
    } finally {
      cgroup.remove();
    }
  });
});

isolateBehaviour("on its own (no agent)", async () => ({ dir: initialisedNode(), env: {} }));
