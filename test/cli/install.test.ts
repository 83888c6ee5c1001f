// `cmk install`: the installed cmk runs where workloads run (empty environment, no Node.js, a
// root holding nothing but glibc), pins on this machine's CPUs, replaces itself safely, and a
// failed install leaves the previous cmk as it was.
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type CmkResult, cmkBin, collect, fixtureEnv, runCmk, scratchDir } from "../helpers/cmk.ts";
import { type ExpectedList, expectedPools, hostNode } from "../helpers/topology.ts";

const root = scratchDir("install");
/** The exclusive list `init --num-exclusive-cores=1 --num-shared-cores=0` gives on this machine, where the installed cmk pins. */
const firstCore = expectedPools(hostNode(), { exclusive: 1, shared: 0 }).exclusive[0] as ExpectedList;
const isRoot = process.getuid?.() === 0;
const sourceVersion = runCmk(["--version"]).stdout;

/** A PATH holding only the programs the tests run under cmk isolate: no Node.js. */
const toolDir = join(root, "tools");
mkdirSync(toolDir);
for (const tool of ["cat", "sleep"]) symlinkSync(`/bin/${tool}`, join(toolDir, tool));

/** Runs an installed cmk as a workload container would: `env -i`, no Node.js, cwd outside the repository. */
function runInstalled(executable: string, args: readonly string[], env: Record<string, string> = {}): CmkResult {
  const result = spawnSync(executable, args, { env: { PATH: toolDir, ...env }, cwd: root, encoding: "utf8" });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function install(dir: string): CmkResult {
  return runCmk(["install", `--install-dir=${dir}`], {}, root);
}

const runtimeDirsIn = (dir: string): string[] =>
  readdirSync(dir)
    .filter((entry) => entry.startsWith(".cmk-v"))
    .sort();

function mount(args: readonly string[]): void {
  execFileSync("mount", args, { stdio: "ignore" });
}

function unmountAfter(path: string): void {
  after(() => void spawnSync("umount", [path], { stdio: "ignore" }));
}

/** The CPUs of the only exclusive CPU list of a state, as a kernel cpulist (as Cpus_allowed_list shows them). */
function exclusiveCpus(confDir: string, executable: string): string {
  const described = JSON.parse(runInstalled(executable, ["describe", `--conf-dir=${confDir}`]).stdout) as {
    pools: Record<string, { cpuLists: Record<string, unknown> }>;
  };
  const lists = Object.keys(described.pools["exclusive"]?.cpuLists ?? {});
  assert.deepEqual(lists, [firstCore.key], "one exclusive CPU list: this machine's first core init may use");
  return firstCore.cpus.toString();
}

describe("cmk install", () => {
  const dir = join(root, "opt-bin");
  const cmk = join(dir, "cmk");
  const hostConf = join(root, "host-conf");

  before(() => {
    const result = install(dir);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stderr, new RegExp(`^INFO:cmk:Installed cmk to ${dir}\\n$`));
    const hostInit = runInstalled(cmk, ["init", `--conf-dir=${hostConf}`, "--num-exclusive-cores=1", "--num-shared-cores=0"]);
    assert.equal(hostInit.status, 0, hostInit.stderr);
  });

  it("places a 0755 launcher that needs only glibc, beside one runtime directory", () => {
    assert.equal(statSync(cmk).mode & 0o777, 0o755);
    const needed = execFileSync("readelf", ["-d", cmk], { encoding: "utf8" }).match(/\(NEEDED\).*\[(.*)\]/g) ?? [];
    assert.deepEqual(
      needed.map((line) => /\[(.*)\]/.exec(line)?.[1]),
      ["libc.so.6"],
    );
    const [runtimeDir, ...others] = runtimeDirsIn(dir);
    assert.equal(others.length, 0);
    assert.deepEqual(readdirSync(join(dir, runtimeDir as string)).sort(), [
      ".code-cache",
      "cmk-device-plugin.cjs",
      "cmk-hold",
      "cmk-main.cjs",
      "cmk.cjs",
      "cmk_native.node",
      "launcher",
      "lib",
      "node",
    ]);
    assert.ok(
      readdirSync(join(dir, runtimeDir as string, ".code-cache")).includes("isolate.bin"),
      "isolate starts from compiled code even where the directory is read-only",
    );
    assert.deepEqual(readdirSync(join(dir, runtimeDir as string, "lib")).sort(), ["libgcc_s.so.1", "libstdc++.so.6"]);
    assert.deepEqual(
      readdirSync(dir).filter((entry) => entry.startsWith(".cmk-partial-")),
      [],
    );
  });

  it("an installed cmk installs itself elsewhere, byte for byte", () => {
    const copy = join(root, "copy");
    const result = runInstalled(cmk, ["install", `--install-dir=${copy}`]);
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(runtimeDirsIn(copy), runtimeDirsIn(dir));
    assert.deepEqual(readFileSync(join(copy, "cmk")), readFileSync(cmk));
    const [runtimeDir] = runtimeDirsIn(dir) as [string];
    for (const file of [
      "node",
      "cmk.cjs",
      "cmk-main.cjs",
      "cmk-device-plugin.cjs",
      "cmk_native.node",
      "cmk-hold",
      "launcher",
      "lib/libstdc++.so.6",
      "lib/libgcc_s.so.1",
    ]) {
      assert.deepEqual(readFileSync(join(copy, runtimeDir, file)), readFileSync(join(dir, runtimeDir, file)), file);
    }
  });

  it("installed under umask 077, runs for a workload user that is not root", { skip: !isRoot && "needs root to switch users" }, () => {
    const shared = join(root, "umask");
    chmodSync(root, 0o755);
    const installed = spawnSync("/bin/sh", ["-c", 'umask 077 && exec "$0" install --install-dir="$1"', cmkBin, shared], { encoding: "utf8" });
    assert.equal(installed.status, 0, installed.stderr);
    const asNobody = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", join(shared, "cmk"), "--version"], {
      env: {},
      cwd: "/",
      encoding: "utf8",
    });
    assert.equal(asNobody.status, 0, asNobody.stderr);
    assert.equal(asNobody.stdout, sourceVersion);
  });

  it("runs with an empty environment and no Node.js: --version, init on a fixture, isolate pinning a child", () => {
    assert.notEqual(spawnSync("/bin/sh", ["-c", "command -v node"], { env: { PATH: toolDir } }).status, 0, "no node on the test PATH");
    const version = runInstalled(cmk, ["--version"]);
    assert.equal(version.status, 0, version.stderr);
    assert.equal(version.stdout, sourceVersion);

    const fixtureConf = join(root, "fixture-conf");
    const env = fixtureEnv("example-2s16c", join(root, "fixture"));
    const init = runInstalled(cmk, ["init", `--conf-dir=${fixtureConf}`, "--num-exclusive-cores=2", "--num-shared-cores=1"], env);
    assert.equal(init.status, 0, init.stderr);
    const described = JSON.parse(runInstalled(cmk, ["describe", `--conf-dir=${fixtureConf}`]).stdout) as {
      pools: Record<string, { cpuLists: Record<string, unknown> }>;
    };
    assert.equal(Object.keys(described.pools["exclusive"]?.cpuLists ?? {}).length, 2);

    const isolate = runInstalled(cmk, ["isolate", `--conf-dir=${hostConf}`, "--pool=exclusive", "--", "cat", "/proc/self/status"]);
    assert.equal(isolate.status, 0, isolate.stderr);
    assert.match(isolate.stdout, new RegExp(`^Cpus_allowed_list:\\s+${exclusiveCpus(hostConf, cmk)}$`, "m"));
  });

  it("keeps a workload's NODE_OPTIONS away from cmk's runtime but gives it to the command", () => {
    const result = runInstalled(cmk, ["isolate", `--conf-dir=${hostConf}`, "--pool=exclusive", "--", "/usr/bin/env"], {
      NODE_OPTIONS: "--require /nonexistent/tracing.js",
    });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^NODE_OPTIONS=--require \/nonexistent\/tracing\.js$/m);
    assert.doesNotMatch(result.stdout, /CMK_WORKLOAD_NODE_OPTIONS/);
  });

  it("starts cmk agent with Node.js flags that trade compilers for memory, the same as the source tree's bin/cmk", async () => {
    /** The Node.js flags of a running agent started by `executable`: what comes between node and its script. */
    const agentFlags = async (executable: string, name: string): Promise<string[]> => {
      const socket = join(root, `${name}.sock`);
      const agent = spawn(executable, ["agent", `--conf-dir=${hostConf}`, `--socket=${socket}`], {
        env: { PATH: toolDir },
        stdio: ["ignore", "ignore", "pipe"],
      });
      const ended = collect(agent);
      try {
        for (let tries = 0; tries < 1000 && !existsSync(socket); tries++) await new Promise((resolve) => setTimeout(resolve, 10));
        assert.ok(existsSync(socket), `the agent of ${name} did not start`);
        const words = readFileSync(`/proc/${agent.pid}/cmdline`, "utf8").split("\0");
        const node = words.findIndex((word) => word.endsWith("/node"));
        const script = words.findIndex((word) => word.endsWith("/cmk.cjs"));
        assert.ok(node >= 0 && script > node, words.join(" "));
        return words.slice(node + 1, script);
      } finally {
        agent.kill("SIGTERM");
        assert.equal((await ended).status, 0);
      }
    };
    const installed = await agentFlags(cmk, "installed");
    assert.ok(installed.includes("--jitless") && installed.some((flag) => flag.startsWith("--max-semi-space-size=")), installed.join(" "));
    assert.deepEqual(await agentFlags(cmkBin, "source"), installed);
  });

  it("isolate loads no Node.js module beyond an empty script's, but vm for its code cache", () => {
    const list = join(root, "modules.txt");
    const probe = join(root, "probe.cjs");
    writeFileSync(
      probe,
      `process.on("exit", () => require("fs").writeFileSync(${JSON.stringify(list)}, process.moduleLoadList.filter((name) => name.startsWith("NativeModule ")).join("\\n")));\n`,
    );
    const empty = join(root, "empty.js");
    writeFileSync(empty, "");
    assert.equal(spawnSync(process.execPath, ["--require", probe, empty], { env: {} }).status, 0);
    const baseline = new Set(readFileSync(list, "utf8").split("\n"));
    // The launcher keeps NODE_OPTIONS from cmk, so load the probe into the installed entry directly.
    const entry = join(dir, runtimeDirsIn(dir)[0] as string, "cmk.cjs");
    const isolate = spawnSync(
      process.execPath,
      ["--require", probe, entry, "isolate", `--conf-dir=${hostConf}`, "--pool=exclusive", "--", "cat", "/proc/self/status"],
      { encoding: "utf8", env: {} },
    );
    assert.equal(isolate.status, 0, isolate.stderr);
    assert.match(isolate.stdout, /^Cpus_allowed_list:/m, "the probe saw isolate run its command");
    const extra = readFileSync(list, "utf8")
      .split("\n")
      .filter((name) => !baseline.has(name));
    assert.deepEqual(extra, ["NativeModule vm"]);
  });

  it("runs in a root holding nothing but glibc (no libstdc++, no Node.js, no shell)", { skip: !isRoot && "needs root for chroot" }, () => {
    const jail = join(root, "jail");
    const libs = join(jail, "lib", "x86_64-linux-gnu");
    mkdirSync(libs, { recursive: true });
    mkdirSync(join(jail, "lib64"));
    mkdirSync(join(jail, "proc"));
    mkdirSync(join(jail, "bin"));
    copyFileSync("/lib64/ld-linux-x86-64.so.2", join(jail, "lib64", "ld-linux-x86-64.so.2"));
    for (const library of ["libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0"])
      copyFileSync(join("/lib/x86_64-linux-gnu", library), join(libs, library));
    copyFileSync("/bin/cat", join(jail, "bin", "cat"));
    const installed = install(join(jail, "opt", "bin"));
    assert.equal(installed.status, 0, installed.stderr);
    const init = runInstalled(cmk, ["init", `--conf-dir=${join(jail, "conf")}`, "--num-exclusive-cores=1", "--num-shared-cores=0"]);
    assert.equal(init.status, 0, init.stderr);
    mount(["-t", "proc", "proc", join(jail, "proc")]);
    unmountAfter(join(jail, "proc"));

    const inJail = (args: readonly string[]): CmkResult => {
      const result = spawnSync("/usr/sbin/chroot", [jail, ...args], { env: { PATH: "/bin" }, encoding: "utf8" });
      return { status: result.status, stdout: result.stdout, stderr: result.stderr };
    };
    const [runtimeDir] = runtimeDirsIn(join(jail, "opt", "bin"));
    const bareNode = inJail([`/opt/bin/${runtimeDir}/node`, "-e", "0"]);
    assert.notEqual(bareNode.status, 0, "Node.js alone cannot start there: the jail really lacks its C++ runtime");
    assert.match(bareNode.stderr, /libstdc\+\+\.so\.6/);
    assert.equal(inJail(["/opt/bin/cmk", "--version"]).stdout, sourceVersion);
    const isolate = inJail(["/opt/bin/cmk", "isolate", "--conf-dir=/conf", "--pool=exclusive", "--", "cat", "/proc/self/status"]);
    assert.equal(isolate.status, 0, isolate.stderr);
    assert.match(isolate.stdout, new RegExp(`^Cpus_allowed_list:\\s+${exclusiveCpus(join(jail, "conf"), cmk)}$`, "m"));

    // On a glibc older than the bundled C++ runtime needs, the launcher uses the container's own:
    // pretend the bundled one needs glibc 9.0, so the jail (which has none) fails and the host works.
    const launcherPath = join(jail, "opt", "bin", "cmk");
    const launcher = readFileSync(launcherPath).toString("latin1");
    let floor = "0.0";
    for (const library of ["libstdc++.so.6", "libgcc_s.so.1"]) {
      for (const [version] of readFileSync(join(jail, "opt", "bin", runtimeDir as string, "lib", library))
        .toString("latin1")
        .matchAll(/(?<=GLIBC_)2\.\d+/g)) {
        if (Number(version.split(".")[1]) > Number(floor.split(".")[1])) floor = version;
      }
    }
    const field = `\0${floor}`.padEnd(16, "\0");
    assert.equal(launcher.split(field).length, 2, `one glibc field holding ${floor}`);
    const pretended = "9.0";
    writeFileSync(launcherPath, launcher.replace(field, `\0${pretended}`.padEnd(16, "\0")), "latin1");
    const fallback = inJail(["/opt/bin/cmk", "--version"]);
    assert.notEqual(fallback.status, 0);
    assert.match(fallback.stderr, /libstdc\+\+\.so\.6/);
    assert.equal(runInstalled(launcherPath, ["--version"]).stdout, sourceVersion);
  });

  it("replaces a running cmk of another build and keeps that build's directory until the next install", async () => {
    const replaced = join(root, "replaced");
    assert.equal(install(replaced).status, 0);
    const [current] = runtimeDirsIn(replaced) as [string];
    // An "older build": the same runtime under another name, and a launcher naming it.
    const older = current.replace(/-[0-9a-f]{16}$/, "-2222222222222222");
    cpSync(join(replaced, current), join(replaced, older), { recursive: true });
    writeFileSync(join(replaced, "cmk"), readFileSync(join(replaced, "cmk")).toString("latin1").replace(current, older), { encoding: "latin1", mode: 0o755 });
    // Leftovers: a build no launcher names, and partial files of a killed (old) and a running (new) install.
    mkdirSync(join(replaced, ".cmk-v0.9.0-0000000000000000"));
    writeFileSync(join(replaced, ".cmk-partial-killed"), "");
    utimesSync(join(replaced, ".cmk-partial-killed"), new Date(Date.now() - 7200_000), new Date(Date.now() - 7200_000));
    writeFileSync(join(replaced, ".cmk-partial-running"), "");

    const running = spawn(join(replaced, "cmk"), ["isolate", `--conf-dir=${hostConf}`, "--pool=infra", "--", "sleep", "4"], {
      env: { PATH: toolDir },
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const finished = collect(running);
    // Once it holds its CPUs it has loaded everything it needs from its directory.
    const holdsCpus = (): boolean => {
      const described = JSON.parse(runInstalled(cmk, ["describe", `--conf-dir=${hostConf}`]).stdout) as {
        pools: Record<string, { cpuLists: Record<string, { tasks: unknown[] }> }>;
      };
      return Object.values(described.pools["infra"]?.cpuLists ?? {}).some((list) => list.tasks.map(String).includes(String(running.pid)));
    };
    for (let attempt = 0; attempt < 100 && !holdsCpus(); attempt++) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(holdsCpus(), "the older cmk isolate started");
    assert.equal(install(replaced).status, 0);
    assert.deepEqual(runtimeDirsIn(replaced), [older, current].sort(), "the replaced build's directory is kept");
    assert.ok(!existsSync(join(replaced, ".cmk-partial-killed")));
    assert.ok(existsSync(join(replaced, ".cmk-partial-running")));
    assert.equal(runInstalled(join(replaced, "cmk"), ["--version"]).stdout, sourceVersion);
    // The next install drops it, while the older cmk is still running from it.
    assert.equal(install(replaced).status, 0);
    assert.deepEqual(runtimeDirsIn(replaced), [current]);
    const result = await finished;
    assert.equal(result.status, 0, result.stderr);
  });
});

describe("cmk install failures", { skip: !isRoot && "needs root for mounts" }, () => {
  const oneLine = (result: CmkResult): string => {
    assert.equal(result.status, 1, result.stderr);
    assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
    return result.stderr;
  };

  it("on a full disk reports it and leaves the previous cmk and nothing else", () => {
    const tiny = join(root, "tiny");
    mkdirSync(tiny);
    mount(["-t", "tmpfs", "-o", "size=1m", "tmpfs", tiny]);
    unmountAfter(tiny);
    const previous = "#!/bin/sh\necho previous cmk\n";
    writeFileSync(join(tiny, "cmk"), previous, { mode: 0o755 });
    const stderr = oneLine(install(tiny));
    assert.match(
      stderr,
      /^ERROR:cmk:cannot install cmk into .*\/tiny: writing \.cmk-v\S+: ENOSPC: no space left on device.*; free \d+ MB there or choose another --install-dir; any previous cmk there is unchanged$/m,
    );
    assert.equal(readFileSync(join(tiny, "cmk"), "utf8"), previous);
    assert.deepEqual(readdirSync(tiny), ["cmk"]);
  });

  it("on a read-only directory reports it and the previous cmk still runs", () => {
    const writable = join(root, "writable");
    const readOnly = join(root, "read-only");
    assert.equal(install(writable).status, 0);
    mkdirSync(readOnly);
    mount(["--bind", writable, readOnly]);
    unmountAfter(readOnly);
    mount(["-o", "remount,ro,bind", readOnly]);
    const before = readFileSync(join(readOnly, "cmk"));
    const stderr = oneLine(install(readOnly));
    assert.match(
      stderr,
      /^ERROR:cmk:cannot install cmk into .*\/read-only: .*EROFS.*it is on a read-only file system: mount it read-write or choose another --install-dir/,
    );
    assert.deepEqual(readFileSync(join(readOnly, "cmk")), before);
    assert.equal(runInstalled(join(readOnly, "cmk"), ["--version"]).stdout, sourceVersion);
  });
});
