// `cmk node-report`: the node's topology as cmk reads it (this machine, or the fixture
// CMK_TEST_TOPOLOGY names), the checks done right on a fixed fixture, the affinity check on tasks
// really pinned on this machine, and the node drawn as a terminal map.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { type FixtureSpec, fixtures, generateSysfs } from "../../scripts/gen-sysfs-fixture.ts";
import { CpuSet } from "../../src/core/cpuset.ts";
import { cmkBin, cmkEnv, collect, editStateDocument, fixtureEnv, runCmk, scratchDir, spawnCmk, waitFor } from "../helpers/cmk.ts";
import { withDriftingTask } from "../helpers/drifting-task.ts";
import { fakeProcess } from "../helpers/fake-proc.ts";
import { cpusOf, type ExpectedList, expectedPools, highPriorityCpus, testNode } from "../helpers/topology.ts";

const root = scratchDir("node-report");

interface Report {
  checks: Record<string, { ok: boolean; errors: string[]; warnings: string[] }>;
  description: { pools: Record<string, unknown> } | null;
  topology: {
    sockets: Record<
      string,
      { id: number; cores: { id: number; kernelCoreId: number; numaNode: number; l3: number; cpus: { id: number; isolated: boolean; sst_bf?: true }[] }[] }
    >;
  };
}

describe("cmk node-report on the test node", () => {
  const node = testNode();
  const dir = join(root, "test-node");
  const init = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"], node.env);
  const pools = expectedPools(node, { exclusive: 1, shared: 0 });

  it("reports every online CPU once, under its socket and core with NUMA node and L3, marked isolated as isolcpus says", () => {
    assert.equal(init.status, 0, init.stderr);
    const result = runCmk(["node-report", `--conf-dir=${dir}`], node.env);
    assert.equal(result.status, 0, result.stderr);
    const report = JSON.parse(result.stdout) as Report;
    const { topology } = node;
    const fast = highPriorityCpus(topology);
    assert.deepEqual(report.topology, {
      sockets: Object.fromEntries(
        topology.sockets.map((socket) => [
          String(socket.id),
          {
            id: socket.id,
            cores: socket.cores.map((core) => ({
              id: core.id,
              kernelCoreId: core.kernelCoreId,
              numaNode: core.numaNode,
              l3: core.l3,
              cpus: core.cpus.ids.map((cpu) => ({ id: cpu, isolated: topology.isolcpus.has(cpu), ...(fast.includes(cpu) ? { sst_bf: true } : {}) })),
            })),
          },
        ]),
      ),
    });
    const sysRoot = node.env["CMK_DEV_LSCPU_SYSFS"] ?? "/";
    const online = CpuSet.parse(readFileSync(join(sysRoot, "sys", "devices", "system", "cpu", "online"), "utf8"));
    const reported = Object.values(report.topology.sockets).flatMap((socket) => socket.cores.flatMap((core) => core.cpus.map((cpu) => cpu.id)));
    assert.deepEqual(
      [...reported].sort((a, b) => a - b),
      online.ids,
      "each online CPU exactly once",
    );
    assert.ok(
      Object.values(report.checks).every((check) => check.errors.length === 0),
      result.stdout,
    );
    // Without isolcpus, exclusive CPUs are not isolated: a warning, not an error.
    assert.equal(report.checks["isolation"]?.ok, !topology.isolcpus.isEmpty, result.stdout);
    const described = runCmk(["describe", `--conf-dir=${dir}`], node.env);
    assert.deepEqual(report.description, JSON.parse(described.stdout));
  });

  it("draws each socket's CPUs with their pool and isolation, and the pool totals, as text", () => {
    assert.equal(init.status, 0, init.stderr);
    const result = runCmk(["node-report", `--conf-dir=${dir}`, "--format=text"], node.env);
    assert.equal(result.status, 0, result.stderr);
    const [map = "", totals = ""] = result.stdout.split("\nlegend: ");
    assert.deepEqual(
      map.split("\n").filter((line) => line.startsWith("socket ")),
      node.topology.sockets.map((socket) => `socket ${socket.id}`),
    );
    const letter = (cpu: number): string =>
      pools.exclusive.some((list) => list.cpus.has(cpu)) ? "E" : pools.infra.some((list) => list.cpus.has(cpu)) ? "I" : ".";
    const expectedCells = node.topology.online.ids.map((cpu) => `${cpu}${letter(cpu)}${node.topology.isolcpus.has(cpu) ? "~" : " "}`);
    const cells = [...map.matchAll(/(\d+)([ESIN.])([*~ ])/g)].map((match) => match[0]);
    assert.deepEqual(
      [...cells].sort((a, b) => parseInt(a, 10) - parseInt(b, 10)),
      expectedCells,
    );
    const total = (lists: readonly ExpectedList[]): string => `${lists.length} lists\\s+${cpusOf(lists).size} CPUs\\s+0 taken\\s+0 tasks`;
    assert.match(totals, new RegExp(`^exclusive\\s+${total(pools.exclusive)}$`, "m"));
    assert.match(totals, new RegExp(`^infra\\s+${total(pools.infra)}$`, "m"));
    assert.match(totals, new RegExp(`^shared\\s+${total([])}$`, "m"));
  });
});

describe("cmk node-report on a fixed two-socket fixture", () => {
  const env = fixtureEnv("example-2s16c", join(root, "sysfs"));
  const dir = join(root, "state");
  const init = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=3", "--num-shared-cores=1"], env);

  it("reports topology, description and passing checks for a fresh node", () => {
    assert.equal(init.status, 0, init.stderr);
    const result = runCmk(["node-report", `--conf-dir=${dir}`], env);
    assert.equal(result.status, 0, result.stderr);
    const report = JSON.parse(result.stdout) as Report;
    assert.deepEqual(Object.keys(report.checks).sort(), ["affinity", "configDirectory", "isolation"]);
    assert.ok(Object.values(report.checks).every((check) => check.ok && check.errors.length === 0 && check.warnings.length === 0));
    assert.deepEqual(Object.keys(report.topology.sockets), ["0", "1"]);
    const socket1 = report.topology.sockets["1"];
    assert.deepEqual(socket1?.cores[0]?.cpus, [
      { id: 4, isolated: true },
      { id: 12, isolated: true },
    ]);
    assert.ok(report.description !== null && "exclusive" in report.description.pools);
  });

  it("finds overlapping lists within and between pools, naming the CPUs in both, and lists outside isolcpus", () => {
    const file = join(dir, "state.json");
    const pristine = readFileSync(file, "utf8");
    try {
      // 1,9 also in shared; 3,11 (not isolated) turned into an exclusive list.
      editStateDocument(dir, (document) => {
        const socket0 = document.config["exclusive"]?.["0"];
        if (socket0 !== undefined) socket0["3,11,9"] = [];
      });
      const result = runCmk(["node-report", `--conf-dir=${dir}`], env);
      assert.equal(result.status, 10, "a check failed");
      const report = JSON.parse(result.stdout) as Report;
      assert.equal(report.checks["configDirectory"]?.ok, false);
      assert.deepEqual(report.checks["configDirectory"]?.errors.sort(), [
        "CPU list overlap detected in exclusive:1,9 and exclusive:3,11,9 (in both: 9)",
        "CPU list overlap detected in exclusive:3,11,9 and infra:3,11 (in both: 3,11)",
      ]);
      assert.deepEqual(report.checks["isolation"]?.errors, ["exclusive:3,11,9 has CPUs 3,11 not isolated by isolcpus"]);
    } finally {
      writeFileSync(file, pristine);
    }
  });

  it("reports unreadable state in the configDirectory check, which fails (exit 9) after the report", () => {
    const result = runCmk(["node-report", `--conf-dir=${join(root, "missing")}`], env);
    assert.equal(result.status, 10, result.stderr);
    const report = JSON.parse(result.stdout) as Report;
    assert.equal(report.description, null);
    assert.match(
      report.checks["configDirectory"]?.errors[0] ?? "",
      /^Unable to read the CMK configuration directory .*missing: no state yet \(run cmk init\)$/,
    );
  });

  it("draws the node as a map with a legend and pool totals, plain when not on a terminal", () => {
    const result = runCmk(["node-report", `--conf-dir=${dir}`, "--format=text"], env);
    assert.equal(result.status, 0, result.stderr);
    assert.doesNotMatch(result.stdout, /\x1b\[/, "no colour codes in a pipe");
    const lines = result.stdout.split("\n");
    assert.equal(lines[0], "socket 0");
    assert.match(result.stdout, /^ {2}numa 0 {2}c0\[ 0E~ {2}8E~\] c1\[ 1E~ {2}9E~\] c2\[ 2E~ 10E~\] c3\[ 3I {2}11I \]$/m);
    assert.match(result.stdout, /^ {2}numa 1 {2}c4\[ 4S~ 12S~\] c5\[ 5\.~ 13\.~\] c6\[ 6\.~ 14\.~\] c7\[ 7I {2}15I \]$/m);
    assert.match(
      result.stdout,
      /^legend: E exclusive {2}S shared {2}I infra {2}N exclusive-non-isolcpus {2}\. no pool\n {8}\* taken {2}~ isolated, free {2}! in a failed check {2}c<n> core id$/m,
    );
    assert.match(result.stdout, /^exclusive\s+3 lists\s+6 CPUs\s+0 taken\s+0 tasks$/m);
    assert.match(result.stdout, /^checks: affinity ok, configDirectory ok, isolation ok$/m);
    const coloured = runCmk(["node-report", `--conf-dir=${dir}`, "--format=text"], { ...env, CMK_COLOR: "always" });
    assert.match(coloured.stdout, /\x1b\[31m 0E~\x1b\[0m/, "exclusive CPUs in red");
  });

  it("numbers cores across the node as lscpu -p does, with the kernel's core_id beside (offline CPUs take no number)", () => {
    // offline-mix: socket 1 keeps cores 4,12 and 5,13 and CPU 14 alone; its kernel core_ids are 0, 1, 2.
    const mixEnv = fixtureEnv("offline-mix", join(root, "sysfs-offline"));
    const mixDir = join(root, "state-offline");
    assert.equal(runCmk(["init", `--conf-dir=${mixDir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"], mixEnv).status, 0);
    const result = runCmk(["node-report", `--conf-dir=${mixDir}`], mixEnv);
    const report = JSON.parse(result.stdout) as Report;
    const cores = (socket: string): { id: number; kernelCoreId: number; cpus: number[] }[] =>
      (report.topology.sockets[socket]?.cores ?? []).map((core) => ({ id: core.id, kernelCoreId: core.kernelCoreId, cpus: core.cpus.map((cpu) => cpu.id) }));
    assert.deepEqual(
      cores("0").map((core) => core.id),
      [0, 1, 2, 3],
    );
    assert.deepEqual(cores("1"), [
      { id: 4, kernelCoreId: 0, cpus: [4, 12] },
      { id: 5, kernelCoreId: 1, cpus: [5, 13] },
      { id: 6, kernelCoreId: 2, cpus: [14] },
    ]);
  });

  it("rejects an unknown format and a bad interval", () => {
    const format = runCmk(["node-report", `--conf-dir=${dir}`, "--format=html"], env);
    assert.equal(format.status, 2);
    assert.match(format.stderr, /--format="html" is not valid: expected one of json, text/);
    const interval = runCmk(["node-report", `--conf-dir=${dir}`, "--interval=soon"], env);
    assert.equal(interval.status, 2);
    assert.match(interval.stderr, /--interval="soon" is not valid/);
  });
});

describe("cmk node-report's affinity check", () => {
  it("names live tasks running off their CPUs, but not --no-affinity tasks", async () => {
    // Tasks really pinned: this machine's CPUs, also when CMK_TEST_TOPOLOGY pretends another topology.
    await withDriftingTask(join(root, "affinity"), ({ task, command, list, drift }) => {
      const reported = runCmk(["node-report", `--conf-dir=${join(root, "affinity")}`]);
      assert.equal(reported.status, 10, "a failed check");
      const report = JSON.parse(reported.stdout) as Report;
      assert.deepEqual(report.checks["affinity"], {
        errors: [`task ${task} in exclusive:${list.key} runs on CPUs ${drift} (its command, process ${command})`],
        ok: false,
        warnings: [],
      });
    });
  });
});

/** Visible columns of a line: colour and cursor codes take none. */
const visibleWidth = (line: string): number => line.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "").replace(/\r$/, "").length;

describe("cmk node-report: failed checks, warnings and the map's width", () => {
  // example-2s16c with a task on exclusive 0,8 whose command (process 4250) runs on CPU 3 instead.
  const env = fixtureEnv("example-2s16c", join(root, "sysfs-drift"));
  const dir = join(root, "state-drift");
  const init = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=3", "--num-shared-cores=1"], env);
  fakeProcess(env.CMK_PROC_FS as string, 4242, 5000, "0,8");
  fakeProcess(env.CMK_PROC_FS as string, 4250, 5001, "3");
  editStateDocument(dir, (document) => {
    const socket0 = document.config["exclusive"]?.["0"];
    if (socket0 !== undefined) socket0["0,8"] = ["4242"];
    document.tasks = { "4242": { pid: 4242, start: 5000, child: 4250, childStart: 5001, affinity: true } };
  });

  it("says a task runs off its CPUs, and exits 9, in JSON", () => {
    assert.equal(init.status, 0, init.stderr);
    const result = runCmk(["node-report", `--conf-dir=${dir}`], env);
    assert.equal(result.status, 10, result.stderr);
    const report = JSON.parse(result.stdout) as Report;
    assert.deepEqual(report.checks["affinity"], { errors: ["task 4242 in exclusive:0,8 runs on CPUs 3 (its command, process 4250)"], ok: false, warnings: [] });
  });

  it("shows the failed check and marks the CPUs involved on the map, and exits 9", () => {
    const result = runCmk(["node-report", `--conf-dir=${dir}`, "--format=text"], env);
    assert.equal(result.status, 10, result.stderr);
    // 0 and 8 are the task's CPUs it does not run on; 3 is where it runs instead.
    assert.match(result.stdout, /^ {2}numa 0 {2}c0\[ 0E! {2}8E!\] c1\[ 1E~ {2}9E~\] c2\[ 2E~ 10E~\] c3\[ 3I! 11I \]$/m);
    assert.match(result.stdout, /^checks: affinity FAILED, configDirectory ok, isolation ok$/m);
    assert.match(result.stdout, /^ {2}affinity: task 4242 in exclusive:0,8 runs on CPUs 3 \(its command, process\n {12}4250\)$/m);
  });

  it("warns, without failing, that exclusive and shared CPUs are not isolated on a node without isolcpus", () => {
    const sysRoot = join(root, "sysfs-no-isolcpus");
    generateSysfs(sysRoot, { ...(fixtures["example-2s16c"] as FixtureSpec), cmdline: "root=/dev/sda1" });
    const plainEnv = { CMK_DEV_LSCPU_SYSFS: sysRoot, CMK_PROC_FS: join(sysRoot, "proc") };
    const plainDir = join(root, "state-no-isolcpus");
    assert.equal(runCmk(["init", `--conf-dir=${plainDir}`, "--num-exclusive-cores=1", "--num-shared-cores=1"], plainEnv).status, 0);
    const json = runCmk(["node-report", `--conf-dir=${plainDir}`], plainEnv);
    assert.equal(json.status, 0, json.stderr);
    const isolation = (JSON.parse(json.stdout) as Report).checks["isolation"];
    assert.equal(isolation?.ok, false);
    assert.deepEqual(isolation?.errors, []);
    assert.deepEqual(
      isolation?.warnings.map((warning) => warning.split(":")[0]),
      ["exclusive CPUs 0,8 are not isolated", "shared CPUs 1,9 are not isolated"],
    );
    const text = runCmk(["node-report", `--conf-dir=${plainDir}`, "--format=text"], plainEnv);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /^checks: affinity ok, configDirectory ok, isolation warning$/m);
    assert.match(text.stdout, /^ {2}isolation warning: exclusive CPUs 0,8 are not isolated: the kernel command\n {21}line has no isolcpus/m);
  });

  it("fits COLUMNS, or 80 columns in a pipe, down to the legend, even on a small node", () => {
    const small = fixtureEnv("plain-1s2c", join(root, "sysfs-small"));
    const smallDir = join(root, "state-small");
    assert.equal(runCmk(["init", `--conf-dir=${smallDir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"], small).status, 0);
    for (const [columns, width] of [
      [undefined, 80],
      ["50", 50],
      ["36", 36],
    ] as const) {
      const result = runCmk(["node-report", `--conf-dir=${smallDir}`, "--format=text"], { ...small, ...(columns === undefined ? {} : { COLUMNS: columns }) });
      assert.equal(result.status, 0, result.stderr);
      const lines = result.stdout.split("\n");
      assert.deepEqual(
        lines.filter((line) => line.length > width),
        [],
        `lines wider than ${width} columns`,
      );
      assert.ok(
        lines.some((line) => line.length > width - 12),
        `the width ${width} is used`,
      );
    }
    const drift = runCmk(["node-report", `--conf-dir=${dir}`, "--format=text"], { ...env, COLUMNS: "40" });
    assert.deepEqual(
      drift.stdout.split("\n").filter((line) => line.length > 40),
      [],
    );
    assert.match(drift.stdout, /^ {2}numa 0 {2}c0\[ 0E! {2}8E!\] c1\[ 1E~ {2}9E~\]\n {10}c2\[ 2E~ 10E~\] c3\[ 3I! 11I \]$/m);
  });

  it("appends a plain report each --interval in a pipe, with the wait logged", async () => {
    const child = spawnCmk(["node-report", `--conf-dir=${dir}`, "--format=text", "--interval=0.2"], env);
    let seen = "";
    child.stdout?.on("data", (chunk: Buffer) => (seen += chunk.toString()));
    const done = collect(child);
    try {
      await waitFor("two reports", () => (seen.split("socket 0\n").length > 2 ? true : undefined));
    } finally {
      child.kill("SIGTERM");
    }
    const result = await done;
    assert.equal(result.status, 10, "the last pass had a failed check");
    assert.doesNotMatch(result.stdout, /\x1b\[/);
    assert.match(result.stderr, /^INFO:cmk:waiting 0\.2 seconds until the next report$/m);
  });
});

/** Whether util-linux's script is here to give cmk a terminal. */
const hasScript = spawnSync("script", ["--version"]).error === undefined;

describe("cmk node-report on a terminal", { skip: !hasScript && "script (util-linux) is not installed here" }, () => {
  const env = fixtureEnv("example-2s16c", join(root, "sysfs-tty"));
  const dir = join(root, "state-tty");
  const init = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=3", "--num-shared-cores=1"], env);
  /** Runs a shell command on a fresh pseudo-terminal `columns` wide; COLUMNS is unset. */
  const onTerminal = (command: string, columns: number): ChildProcess =>
    spawn("script", ["-qec", `stty cols ${columns} rows 60; exec env -u COLUMNS ${command}`, "/dev/null"], {
      env: cmkEnv(env),
      stdio: ["ignore", "pipe", "pipe"],
    });

  it("fits the terminal's width, in colour", async () => {
    assert.equal(init.status, 0, init.stderr);
    const result = await collect(onTerminal(`${cmkBin} node-report --conf-dir=${dir} --format=text`, 44));
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /\x1b\[31m 0E~\x1b\[0m/, "colour on a terminal");
    const lines = result.stdout.split("\n");
    assert.deepEqual(
      lines.filter((line) => visibleWidth(line) > 44),
      [],
    );
    assert.ok(lines.some((line) => visibleWidth(line) > 32));
  });

  it("redraws the map in place every --interval, without log lines between", async () => {
    const pidFile = join(root, "tty-report.pid");
    const child = onTerminal(`sh -c '${cmkBin} node-report --conf-dir=${dir} --format=text --interval=0.2 & echo $! > ${pidFile}; wait $!'`, 80);
    let seen = "";
    child.stdout?.on("data", (chunk: Buffer) => (seen += chunk.toString()));
    const done = collect(child);
    try {
      await waitFor("three maps", () => (seen.split("socket 0").length > 3 && existsSync(pidFile) ? true : undefined));
    } finally {
      if (existsSync(pidFile)) process.kill(Number(readFileSync(pidFile, "utf8")), "SIGTERM");
      else child.kill("SIGKILL");
    }
    const result = await done;
    assert.equal(result.status, 0, result.stdout);
    assert.ok(result.stdout.startsWith("\x1b[H\x1b[2Jsocket 0"), "the first map clears the screen");
    const frames = result.stdout.split("\x1b[H").slice(1);
    assert.ok(frames.length >= 3);
    for (const frame of frames.slice(1)) assert.match(frame, /^socket 0\x1b\[K\r?\n[\s\S]*\x1b\[J$/, "each later map is drawn over the last one");
    assert.doesNotMatch(result.stdout, /waiting/);
  });
});
