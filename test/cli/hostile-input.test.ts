// Hostile input, as a table: every way a state file, a setting, a flag, a state directory, the
// procfs or the sysfs can be wrong, run through the commands that read it. Why a table: each row
// states once what the user must see (one ERROR line that says what is wrong and how to fix it,
// the documented exit status) and the table checks it for every command, together with what must
// not happen (the state's bytes changed, a file created, a stack trace, a crash). Single cases
// written earlier stay where they are, and rows name them ("also:"); this file is the
// systematic sweep. Everything runs on real files (a 100 MiB state on a sparse file), real
// mounts (a read-only bind mount, as root), real processes and generated sysfs trees, in a few
// seconds.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fixtures, generateSysfs } from "../../scripts/gen-sysfs-fixture.ts";
import { type CmkResult, collect, recordedChild, runCmk, scratchDir, spawnCmk, tasksOn, waitFor } from "../helpers/cmk.ts";

const root = scratchDir("hostile");
const isRoot = process.getuid?.() === 0;
const carving = ["--num-exclusive-cores=1", "--num-shared-cores=0"];

/** One conf dir initialised on this machine, copied for every case. */
const baseline = join(root, "baseline");
{
  const init = runCmk(["init", `--conf-dir=${baseline}`, ...carving]);
  assert.equal(init.status, 0, init.stderr);
}
let counter = 0;
function freshConfDir(): string {
  const dir = join(root, `conf-${counter++}`);
  cpSync(baseline, dir, { recursive: true });
  return dir;
}
const baselineDocument = (): { config: Record<string, Record<string, Record<string, string[]>>>; [key: string]: unknown } =>
  JSON.parse(readFileSync(join(baseline, "state.json"), "utf8"));
/** The baseline's exclusive and infra lists: the CPUs to make overlap, whatever this machine's numbering. */
const exclusiveKey = Object.keys(baselineDocument().config["exclusive"]?.["0"] ?? {})[0] as string;
const infraKey = Object.keys(baselineDocument().config["infra"]?.["0"] ?? {})[0] as string;
const withConfig = (edit: (config: Record<string, unknown>) => void): string => {
  const document = baselineDocument();
  edit(document.config as Record<string, unknown>);
  return JSON.stringify(document);
};

/** What a directory holds: each entry's type and size, with the hash of its bytes (or its inode and time when large). */
function snapshot(dir: string): Record<string, string> {
  if (!existsSync(dir)) return {};
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) out[name] = `link -> ${readlinkSync(path)}`;
    else if (stat.isDirectory()) out[name] = "directory";
    else if (stat.size > 1 << 20) out[name] = `${stat.size} bytes, inode ${stat.ino}, modified ${stat.mtimeMs}`;
    else out[name] = `${stat.size} bytes, sha256 ${createHash("sha256").update(readFileSync(path)).digest("hex")}`;
  }
  return out;
}

/** One ERROR line matching `error`, nothing that looks like a crash. */
function assertOneLineError(result: CmkResult, error: RegExp, what: string): void {
  const errors = result.stderr.split("\n").filter((line) => line.startsWith("ERROR:"));
  assert.equal(errors.length, 1, `${what}: expected one ERROR line, got:\n${result.stderr}`);
  assert.match(errors[0] as string, error, what);
  assert.doesNotMatch(result.stderr, /unexpected failure|^\s+at |Error:|RangeError|TypeError/m, `${what}: ${result.stderr}`);
}

// ---- State files ------------------------------------------------------------------------------

interface StateCase {
  readonly name: string;
  /** The file to break (state.json unless said), written into a fresh copy of the baseline. */
  readonly file?: string;
  readonly write: (path: string) => void;
  readonly error: RegExp;
  /** Where single cases of the row were tested before. */
  readonly also?: string;
}

const text = (content: string) => (path: string) => writeFileSync(path, content);

const stateCases: readonly StateCase[] = [
  {
    name: "truncated mid-document",
    write: (path) => writeFileSync(path, readFileSync(join(baseline, "state.json")).subarray(0, 40)),
    error: /state\.json: not valid JSON .*run cmk init to start afresh/,
    also: "describe.test.ts (corrupt file)",
  },
  {
    name: "binary bytes with NULs",
    write: (path) => writeFileSync(path, Buffer.from(Array.from({ length: 4096 }, (_, index) => (index === 0 ? 0x7b : (index * 151) % 256)))),
    error: /state\.json: not valid JSON/,
    also: "init-unreadable-state.test.ts (random bytes)",
  },
  {
    name: "100 MiB (sparse): refused by its size, unread",
    // Sparse: 100 MiB that take no disk and no time to make.
    write: (path) => {
      writeFileSync(path, '{"config": ');
      truncateSync(path, 100 * 1024 * 1024);
    },
    error: /state\.json holds 100\.0 MiB, more than any cmk state \(at most 32 MiB\)/,
  },
  { name: "a list at the top", write: text("[]"), error: /not a cmk state file \(no "config" mapping at the top\)/ },
  { name: "null at the top", write: text("null"), error: /not a cmk state file/ },
  { name: "an unknown top-level key", write: text(JSON.stringify({ ...baselineDocument(), owner: "me" })), error: /unexpected top-level key "owner"/ },
  {
    name: "a pool of the wrong type",
    write: text(withConfig((config) => (config["exclusive"] = "all of them"))),
    error: /pool exclusive must be a mapping, found "all of them"/,
  },
  {
    name: "tasks that are no list",
    write: text(withConfig((config) => (config["exclusive"] = { 0: { [exclusiveKey]: "1234" } }))),
    error: /tasks must be a list, found "1234"/,
  },
  {
    name: "an unknown pool",
    write: text(withConfig((config) => (config["turbo"] = { 0: {} }))),
    error: /unknown pool "turbo": pools are exclusive, shared, infra, exclusive-non-isolcpus/,
    also: "state-document.test.ts",
  },
  {
    name: "a socket that is no number",
    write: text(withConfig((config) => (config["infra"] = { first: { [infraKey]: [] } }))),
    error: /pool infra: socket "first" is not a socket number/,
  },
  {
    name: "a CPU list key that is no CPU list",
    write: text(withConfig((config) => (config["shared"] = { 0: { "zero-one": [] } }))),
    error: /pool shared socket 0: "zero-one" is not a CPU list/,
  },
  {
    name: "a CPU list of four billion CPUs",
    write: text(withConfig((config) => (config["shared"] = { 0: { "0-4294967295": [] } }))),
    error: /"0-4294967295" is not a CPU list/,
  },
  {
    name: "a CPU in two pools",
    write: text(withConfig((config) => (config["infra"] = { 0: { [`${infraKey},${exclusiveKey}`]: [] } }))),
    error: /CPU lists .* share CPU .*correct the document, or run cmk init to carve afresh/,
  },
  {
    name: "overlapping lists in one pool",
    write: text(withConfig((config) => (config["exclusive"] = { 0: { [exclusiveKey]: [], [`${exclusiveKey},${infraKey}`]: [] } }))),
    error: /CPU lists exclusive:.* and exclusive:.* share CPU/,
  },
  {
    name: "a negative PID",
    write: text(withConfig((config) => (config["exclusive"] = { 0: { [exclusiveKey]: ["-5"] } }))),
    error: /task "-5" is not a process id \(Linux PIDs run from 1 to 4194304\); remove it from the list/,
  },
  {
    name: "PID 0",
    write: text(withConfig((config) => (config["exclusive"] = { 0: { [exclusiveKey]: ["0"] } }))),
    error: /task "0" is not a process id/,
  },
  {
    name: "an enormous PID",
    write: text(withConfig((config) => (config["exclusive"] = { 0: { [exclusiveKey]: ["4294967297"] } }))),
    error: /task "4294967297" is not a process id \(Linux PIDs run from 1 to 4194304\)/,
  },
  {
    name: "a PID one past the kernel's limit",
    write: text(withConfig((config) => (config["exclusive"] = { 0: { [exclusiveKey]: ["4194305"] } }))),
    error: /task "4194305" is not a process id/,
  },
  {
    name: "a task record with PID 0",
    write: text(JSON.stringify({ ...baselineDocument(), tasks: { 7: { pid: 0, start: 1, affinity: true } } })),
    error: /task 7: "pid" must be a process id \(from 1 to 4194304\), found 0/,
  },
  {
    name: "a task record with an enormous child PID",
    write: text(JSON.stringify({ ...baselineDocument(), tasks: { 7: { pid: 7, start: 1, child: 2 ** 40, childStart: 1, affinity: true } } })),
    error: /task 7: "child" must be a process id \(from 1 to 4194304\), found 1099511627776/,
  },
  {
    name: "a task record of the wrong types",
    write: text(JSON.stringify({ ...baselineDocument(), tasks: { 7: { pid: "7", start: 1, affinity: true } } })),
    error: /task 7: "pid" must be a process id .*found "7"/,
    also: "state-document.test.ts (malformed task records)",
  },
  {
    name: "a boot id that is no string",
    write: text(JSON.stringify({ ...baselineDocument(), bootId: { nested: true } })),
    error: /"bootId" must be the kernel's boot id/,
  },
  {
    name: "JSON nested 100 000 deep",
    write: text(`{"config": ${"[".repeat(100_000)}${"]".repeat(100_000)}}`),
    error: /the pool document must be a mapping, found a list/,
  },
  {
    name: "cmk 2.0.0-alpha.1's state.yaml nested 200 deep",
    file: "state.yaml",
    write: text(`config:\n${Array.from({ length: 200 }, (_, depth) => `${" ".repeat(depth + 1)}a:\n`).join("")}`),
    error: /state\.yaml: line \d+: the document nests deeper than 64 levels/,
  },
];

/** The commands that read the state, each with the status a broken state gives. */
const stateCommands: readonly { readonly args: readonly string[]; readonly status: number }[] = [
  { args: ["describe"], status: 3 },
  { args: ["reconcile"], status: 3 },
  { args: ["isolate", "--pool=infra", "--", "true"], status: 3 },
  { args: ["reconfigure", ...carving], status: 3 },
];

describe("a hostile state file", () => {
  for (const row of stateCases) {
    it(`${row.name}: one line and exit 3 from every command, nothing written; init sets it aside${row.also ? ` (also: ${row.also})` : ""}`, () => {
      const dir = freshConfDir();
      const file = row.file ?? "state.json";
      if (file !== "state.json") rmSync(join(dir, "state.json"));
      row.write(join(dir, file));
      const before = snapshot(dir);
      for (const command of stateCommands) {
        const result = runCmk([command.args[0] as string, `--conf-dir=${dir}`, ...command.args.slice(1)]);
        assert.equal(result.status, command.status, `${command.args[0]}: ${result.stderr}`);
        assertOneLineError(result, row.error, `cmk ${command.args[0]}`);
        assert.deepEqual(snapshot(dir), before, `cmk ${command.args[0]} changed the state directory`);
      }
      const report = runCmk(["node-report", `--conf-dir=${dir}`]);
      assert.equal(report.status, 10, `node-report: ${report.stderr}`);
      assert.deepEqual(snapshot(dir), before, "cmk node-report changed the state directory");
      // init starts afresh (no isolate of it runs), keeping the very bytes as a backup.
      const kept = before[file];
      const init = runCmk(["init", `--conf-dir=${dir}`, ...carving]);
      assert.equal(init.status, 0, init.stderr);
      assert.equal(snapshot(dir)[`${file}.unreadable`], kept);
      assert.equal(runCmk(["describe", `--conf-dir=${dir}`]).status, 0);
    });
  }

  it("a CPU in two lists: describe shows the state, says what is wrong in one line, and exits 3", () => {
    const dir = freshConfDir();
    writeFileSync(
      join(dir, "state.json"),
      withConfig((config) => (config["infra"] = { 0: { [`${infraKey},${exclusiveKey}`]: [] } })),
    );
    const before = snapshot(dir);
    const result = runCmk(["describe", `--conf-dir=${dir}`]);
    assert.equal(result.status, 3, result.stderr);
    assert.match(result.stdout, /"pools"/);
    assertOneLineError(result, /share CPU .*every other command refuses this state/, "describe");
    assert.deepEqual(snapshot(dir), before);
  });
});

// ---- Settings and flags -------------------------------------------------------------------------

interface InputCase {
  readonly args: readonly string[];
  readonly env?: Record<string, string>;
  readonly error: RegExp;
  readonly also?: string;
}

const inputCases: readonly InputCase[] = [
  ...["abc", "0", "-1", "1.5", "0x2", "1e3", "99999999999999999999", "4294967296"].map((value) => ({
    args: ["isolate", "--pool=exclusive", "--", "true"],
    env: { CMK_NUM_CORES: value },
    error: new RegExp(`CMK_NUM_CORES="${value.replace(".", "\\.")}" is not valid: expected a whole number from 1 to 8192`),
    also: "isolate.test.ts (bad CMK_NUM_CORES)",
  })),
  ...["abc", "-1", "inf", "NaN", "1e3", "0x10", "99999999999999999999", "100000000000", "2000001"].map((value) => ({
    args: ["isolate", "--pool=infra", "--", "true"],
    env: { CMK_LOCK_TIMEOUT: value },
    error: new RegExp(`CMK_LOCK_TIMEOUT="${value}" is not valid: expected seconds as a non-negative number up to 2000000`),
    also: "command-line.test.ts (a malformed CMK_LOCK_TIMEOUT)",
  })),
  ...["abc", "-1", "", "1e400", "99999999999999999999", "100000000000", "2000001"].map((value) => ({
    args: ["reconcile", `--interval=${value}`],
    error: new RegExp(`--interval="${value}" is not valid: expected seconds as a non-negative number up to 2000000`),
  })),
  { args: ["isolate", "--socket-id=99999999999999999999", "--pool=exclusive", "--", "true"], error: /--socket-id="99999999999999999999" is not valid/ },
  { args: ["isolate", "--socket-id=0x1", "--pool=exclusive", "--", "true"], error: /--socket-id="0x1" is not valid/ },
  { args: ["isolate", "--pool=exclusiv", "--", "true"], error: /--pool="exclusiv" is not a pool; did you mean exclusive\?/, also: "isolate.test.ts" },
  { args: ["reconfigure", "--excl-non-isolcpus=0-4294967295", ...carving], error: /--excl-non-isolcpus="0-4294967295" is not valid/ },
  { args: ["reconfigure", "--excl-non-isolcpus=0-99999999", ...carving], error: /--excl-non-isolcpus="0-99999999" is not valid/ },
  { args: ["reconfigure", "--num-exclusive-cores=-1", "--num-shared-cores=0"], error: /--num-exclusive-cores="-1" is not valid/, also: "init.test.ts" },
  { args: ["describe", "--output=xml"], error: /--output="xml" is not valid/ },
  { args: ["describe"], env: { CMK_LOG_LEVEL: "LOUD" }, error: /CMK_LOG_LEVEL/, also: "command-line.test.ts" },
];

describe("hostile settings and flags", () => {
  it(`${inputCases.length} malformed values: exit 2 before anything is read or written, one line naming the input and what it takes`, () => {
    const dir = freshConfDir();
    const before = snapshot(dir);
    for (const row of inputCases) {
      const what = `${row.args.join(" ")} ${JSON.stringify(row.env ?? {})}`;
      const result = runCmk([row.args[0] as string, `--conf-dir=${dir}`, ...row.args.slice(1)], row.env);
      assert.equal(result.status, 2, `${what}: ${result.stderr}`);
      assertOneLineError(result, row.error, what);
    }
    assert.deepEqual(snapshot(dir), before);
  });

  it("a huge CMK_LOCK_TIMEOUT is refused by the agent's fast path too (it falls back, and the TypeScript path says why)", () => {
    const dir = freshConfDir();
    const result = runCmk(["isolate", `--conf-dir=${dir}`, "--pool=infra", "--", "true"], {
      CMK_LOCK_TIMEOUT: "99999999999999999999",
      CMK_AGENT_SOCKET: join(root, "no-agent.sock"),
    });
    assert.equal(result.status, 2, result.stderr);
    assertOneLineError(result, /CMK_LOCK_TIMEOUT="99999999999999999999" is not valid/, "isolate");
  });
});

// ---- State directories --------------------------------------------------------------------------

describe("a hostile state directory", () => {
  it("missing: every command says to run init (exit 8) and creates nothing", () => {
    const dir = join(root, "never-made");
    for (const args of [["describe"], ["reconcile"], ["isolate", "--pool=infra", "--", "true"], ["reconfigure", ...carving]]) {
      const result = runCmk([args[0] as string, `--conf-dir=${dir}`, ...args.slice(1)]);
      assert.equal(result.status, 8, result.stderr);
      assertOneLineError(result, /no cmk state in .*never-made; run cmk init --conf-dir=.*never-made first/, args[0] as string);
      assert.equal(existsSync(dir), false, `${args[0]} created the directory`);
    }
  });

  it("a regular file: exit 1 naming it, nothing written", () => {
    const file = join(root, "a-file");
    writeFileSync(file, "not a directory\n");
    for (const args of [["describe"], ["isolate", "--pool=infra", "--", "true"], ["init", ...carving]]) {
      const result = runCmk([args[0] as string, `--conf-dir=${file}`, ...args.slice(1)]);
      assert.equal(result.status, 1, result.stderr);
      assertOneLineError(result, /a-file\/(state\.json|lock): ENOTDIR/, args[0] as string);
    }
    assert.equal(readFileSync(file, "utf8"), "not a directory\n");
  });

  it("a symbolic link to a directory elsewhere: used as that directory, the link kept", () => {
    const target = freshConfDir();
    const link = join(root, "link-to-conf");
    symlinkSync(target, link);
    const isolate = runCmk(["isolate", `--conf-dir=${link}`, "--pool=exclusive", "--", "true"]);
    assert.equal(isolate.status, 0, isolate.stderr);
    assert.equal(lstatSync(link).isSymbolicLink(), true);
    assert.equal(runCmk(["describe", `--conf-dir=${link}`]).status, 0);
  });

  it("a dangling symbolic link: init says it cannot create the directory, and creates no target", () => {
    const link = join(root, "dangling");
    symlinkSync(join(root, "nowhere"), link);
    const result = runCmk(["init", `--conf-dir=${link}`, ...carving]);
    assert.equal(result.status, 1, result.stderr);
    assertOneLineError(result, /cannot create the state directory .*dangling: ENOENT.*choose another --conf-dir/, "init");
    assert.equal(existsSync(join(root, "nowhere")), false);
  });

  it("a state.json that is a symbolic link: writers refuse (exit 1) and leave the link and its target; readers read through it", () => {
    const dir = freshConfDir();
    const target = join(root, `state-target-${counter}.json`);
    cpSync(join(dir, "state.json"), target);
    rmSync(join(dir, "state.json"));
    symlinkSync(target, join(dir, "state.json"));
    const before = { dir: snapshot(dir), target: readFileSync(target, "utf8") };
    assert.equal(runCmk(["describe", `--conf-dir=${dir}`]).status, 0);
    for (const args of [
      ["isolate", "--pool=exclusive", "--", "true"],
      ["init", "--num-exclusive-cores=0", "--num-shared-cores=1"],
    ]) {
      const result = runCmk([args[0] as string, `--conf-dir=${dir}`, ...args.slice(1)]);
      assert.equal(result.status, 1, result.stderr);
      assertOneLineError(result, /state\.json is a symbolic link to .*make the state directory itself the link.*nothing was changed/, args[0] as string);
      assert.deepEqual({ dir: snapshot(dir), target: readFileSync(target, "utf8") }, before);
    }
  });

  it("on a read-only mount: readers work, writers exit 1 saying so, nothing changes", { skip: !isRoot && "needs root to mount" }, (t) => {
    const dir = freshConfDir();
    const mount = spawnSync("sh", ["-c", `mount --bind '${dir}' '${dir}' && mount -o remount,bind,ro '${dir}'`], { encoding: "utf8" });
    assert.equal(mount.status, 0, mount.stderr);
    t.after(() => spawnSync("umount", [dir]));
    const before = snapshot(dir);
    assert.equal(runCmk(["describe", `--conf-dir=${dir}`]).status, 0);
    for (const args of [["isolate", "--pool=infra", "--", "true"], ["reconcile"], ["init", "--num-exclusive-cores=0", "--num-shared-cores=1"]]) {
      const result = runCmk([args[0] as string, `--conf-dir=${dir}`, ...args.slice(1)]);
      assert.equal(result.status, 1, result.stderr);
      assertOneLineError(result, /the file system is read-only; choose a writable --conf-dir/, args[0] as string);
    }
    assert.deepEqual(snapshot(dir), before);
  });

  it("owned by another user: that user's commands name the file and what to do (exit 1), nothing changes", {
    skip: !isRoot && "needs root to switch users",
  }, () => {
    const dir = freshConfDir();
    chmodSync(dir, 0o700);
    chmodSync(root, 0o755);
    const before = snapshot(dir);
    const asNobody = (args: readonly string[]): CmkResult => {
      const result = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", join(import.meta.dirname, "..", "..", "bin", "cmk"), ...args], {
        encoding: "utf8",
        env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin" },
      });
      return { status: result.status, stdout: result.stdout, stderr: result.stderr };
    };
    const describe = asNobody(["describe", `--conf-dir=${dir}`]);
    assert.equal(describe.status, 1, describe.stderr);
    assertOneLineError(describe, /cannot read .*state\.json: EACCES/, "describe");
    const isolate = asNobody(["isolate", `--conf-dir=${dir}`, "--pool=infra", "--", "true"]);
    assert.equal(isolate.status, 1, isolate.stderr);
    assertOneLineError(isolate, /cannot open the state lock .*permission denied.*run cmk as a user that may write it/, "isolate");
    assert.deepEqual(snapshot(dir), before);
  });
});

// ---- procfs -------------------------------------------------------------------------------------

describe("CMK_PROC_FS pointing elsewhere", () => {
  const empty = join(root, "empty-proc");
  mkdirSync(empty, { recursive: true });
  const notProc = join(root, "not-proc");
  writeFileSync(notProc, "a file\n");
  const places = { "a missing directory": join(root, "no-proc"), "an empty directory": empty, "a regular file": notProc };

  for (const [name, procFs] of Object.entries(places)) {
    it(`${name}: isolate, init and node-report exit 1 naming it and CMK_PROC_FS; nothing written`, () => {
      const dir = freshConfDir();
      const before = snapshot(dir);
      for (const [args, error] of [
        [["isolate", "--pool=infra", "--", "true"], /cannot read this process's PID and start time from .*set CMK_PROC_FS to the host's procfs mount/],
        [["init", ...carving], /cannot read the kernel command line .*set CMK_PROC_FS/],
        [["node-report"], /cannot read the kernel command line .*set CMK_PROC_FS/],
      ] as const) {
        const result = runCmk([args[0], `--conf-dir=${dir}`, ...args.slice(1)], { CMK_PROC_FS: procFs });
        assert.equal(result.status, 1, `${args[0]}: ${result.stderr}`);
        assertOneLineError(result, error, args[0]);
      }
      assert.deepEqual(snapshot(dir), before);
    });
  }

  it("reconcile never frees a running task's list because the procfs it was shown lists no process", async () => {
    const dir = freshConfDir();
    const flag = join(dir, "go");
    const task = spawnCmk(["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--", "sh", "-c", `while [ ! -e ${flag} ]; do sleep 0.02; done`]);
    const finished = collect(task);
    try {
      await waitFor("the task to be recorded", () => recordedChild(dir));
      const held = tasksOn(dir, "exclusive", exclusiveKey);
      assert.equal(held.length, 1);
      for (const procFs of [empty, join(root, "no-proc"), notProc]) {
        const result = runCmk(["reconcile", `--conf-dir=${dir}`], { CMK_PROC_FS: procFs });
        assert.equal(result.status, 1, result.stderr);
        assertOneLineError(
          result,
          /(lists no process, so no task can be told alive|cannot list the processes in).*set CMK_PROC_FS to the host's procfs mount/,
          procFs,
        );
        assert.deepEqual(tasksOn(dir, "exclusive", exclusiveKey), held, "the list was freed while its task runs");
      }
    } finally {
      writeFileSync(flag, "");
      assert.equal((await finished).status, 0);
    }
  });
});

// ---- sysfs --------------------------------------------------------------------------------------

interface SysfsCase {
  readonly name: string;
  /** Breaks the generated tree at `cpu` (its sys/devices/system/cpu). */
  readonly breakTree: (cpu: string, root: string) => void;
  readonly error: RegExp;
}

const sysfsCases: readonly SysfsCase[] = [
  {
    name: "a missing core_id",
    breakTree: (cpu) => rmSync(join(cpu, "cpu3/topology/core_id")),
    error: /cannot read CPU topology from .*cpu3\/topology\/core_id: ENOENT/,
  },
  {
    name: "a core_id of garbage",
    breakTree: (cpu) => writeFileSync(join(cpu, "cpu3/topology/core_id"), "garbage\n"),
    error: /invalid CPU topology file .*core_id: it holds "garbage", not an integer/,
  },
  {
    name: "an online list of garbage",
    breakTree: (cpu) => writeFileSync(join(cpu, "online"), "0-abc\n"),
    error: /invalid CPU topology file .*cpu\/online: it holds "0-abc", not a kernel CPU list/,
  },
  {
    name: "an online list of four billion CPUs",
    breakTree: (cpu) => writeFileSync(join(cpu, "online"), "0-4294967295\n"),
    error: /cpu\/online: it holds "0-4294967295", not a kernel CPU list/,
  },
  { name: "an empty online list", breakTree: (cpu) => writeFileSync(join(cpu, "online"), "\n"), error: /cpu\/online: it lists no online CPU/ },
  {
    name: "a CPU that went offline after the online list was read (its directory gone)",
    breakTree: (cpu) => rmSync(join(cpu, "cpu5"), { recursive: true }),
    error: /cannot read CPU topology from .*cpu5\/topology\/.*ENOENT/,
  },
  {
    name: "a negative socket",
    breakTree: (cpu) => writeFileSync(join(cpu, "cpu0/topology/physical_package_id"), "-5\n"),
    error: /physical_package_id: it holds -5, not a socket number \(0 or more\)/,
  },
  {
    name: "a socket too large to hold exactly",
    breakTree: (cpu) => writeFileSync(join(cpu, "cpu0/topology/physical_package_id"), "99999999999999999999\n"),
    error: /physical_package_id: it holds "99999999999999999999", not an integer cmk can hold exactly/,
  },
  {
    name: "a sibling list of binary bytes",
    breakTree: (cpu) => writeFileSync(join(cpu, "cpu3/topology/thread_siblings_list"), Buffer.from([0, 1, 0xff, 10])),
    error: /thread_siblings_list: it holds .*, not a kernel CPU list/,
  },
  {
    name: "a NUMA node of four billion CPUs",
    breakTree: (_cpu, sysRoot) => writeFileSync(join(sysRoot, "sys/devices/system/node/node0/cpulist"), "0-4294967295\n"),
    error: /node0\/cpulist: it holds "0-4294967295", not a kernel CPU list/,
  },
  {
    name: "no sysfs at all",
    breakTree: (_cpu, sysRoot) => rmSync(join(sysRoot, "sys"), { recursive: true }),
    error: /cannot read CPU topology from .*cpu\/online: ENOENT/,
  },
];

describe("a hostile sysfs (CMK_DEV_LSCPU_SYSFS)", () => {
  const trees = scratchDir("hostile-sysfs", true);
  const spec = fixtures["example-2s16c"];
  if (spec === undefined) throw new Error("no fixture example-2s16c");
  for (const [index, row] of sysfsCases.entries()) {
    it(`${row.name}: init and node-report exit 1 naming the file; init writes nothing`, () => {
      const sysRoot = join(trees, `tree-${index}`);
      generateSysfs(sysRoot, spec);
      row.breakTree(join(sysRoot, "sys/devices/system/cpu"), sysRoot);
      const env = { CMK_DEV_LSCPU_SYSFS: sysRoot, CMK_PROC_FS: join(sysRoot, "proc") };
      const conf = join(sysRoot, "conf");
      for (const args of [["init", ...carving], ["node-report"]]) {
        const result = runCmk([args[0] as string, `--conf-dir=${conf}`, ...args.slice(1)], env);
        assert.equal(result.status, 1, `${args[0]}: ${result.stderr}`);
        assertOneLineError(result, row.error, args[0] as string);
        assert.match(result.stderr, /CMK_DEV_LSCPU_SYSFS/);
      }
      assert.equal(existsSync(conf), false, "init wrote a state from a broken topology");
    });
  }
});
