// What cmk reads of the host's processes to tell whether a lost state's tasks still run: the boot
// id, the cmk isolate processes of a state directory with the flags they were given however
// written, and who waits for the state lock. Fake procfs trees of real files.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { lockWaiters } from "../../src/adapters/flock.ts";
import { isolateFlagsOf, isolateProcesses, isolateValueFlags, readBootId, runningIsolates } from "../../src/adapters/procfs.ts";
import { isolateFlags } from "../../src/commands/flags.ts";
import { fakeBootId, fakeIsolate } from "../helpers/fake-proc.ts";

const scratch = mkdtempSync(join(tmpdir(), "cmk-procfs-"));
after(() => rmSync(scratch, { recursive: true, force: true }));
let counter = 0;
const freshProc = (): string => {
  const dir = join(scratch, `proc-${counter++}`);
  mkdirSync(dir);
  return dir;
};

describe("isolate's flags as its command line shows them", () => {
  it("knows exactly the flags of cmk isolate that take a value", () => {
    const valueFlags = Object.values(isolateFlags)
      .filter((flag) => flag.kind === "value")
      .map((flag) => flag.name)
      .sort();
    assert.deepEqual([...isolateValueFlags].sort(), valueFlags);
  });

  it("reads --flag=value, --flag value, switches, and CMK's form with flags after the program, up to --", () => {
    assert.deepEqual(Object.fromEntries(isolateFlagsOf(["--pool=shared", "--conf-dir", "/x", "--no-affinity", "--", "sh", "--pool=infra"])), {
      pool: "shared",
      "conf-dir": "/x",
      "no-affinity": "",
    });
    assert.deepEqual(Object.fromEntries(isolateFlagsOf(["--pool", "exclusive", "sleep", "--conf-dir=/y", "--", "--no-affinity"])), {
      pool: "exclusive",
      "conf-dir": "/y",
    });
  });

  it("finds the isolates of a state directory whatever form their flags take, and only those", () => {
    const proc = freshProc();
    const command = (pid: number) => ({ pid: pid + 1, start: 2, allowed: "3", assigned: "3" });
    fakeIsolate(proc, { pid: 100, start: 1, args: ["--pool", "exclusive", "--conf-dir", "/etc/cmk-a", "--", "sleep", "9"], command: command(100) });
    fakeIsolate(proc, { pid: 200, start: 1, args: ["--pool=infra", "sleep", "--conf-dir=/etc/cmk-a", "--", "9"], command: command(200) });
    fakeIsolate(proc, { pid: 300, start: 1, args: ["--pool=infra", "--", "sleep", "--conf-dir=/etc/cmk-a"], command: command(300) });
    fakeIsolate(proc, { pid: 400, start: 1, args: ["--pool=infra", "--conf-dir=/etc/cmk-b", "--", "sleep", "9"] });
    assert.deepEqual(runningIsolates(proc, "/etc/cmk-a", "/etc/cmk"), [100, 200]);
    assert.deepEqual(runningIsolates(proc, "/etc/cmk", "/etc/cmk"), [300], "a --conf-dir after -- is the program's");
    const [first] = isolateProcesses(proc, "/etc/cmk-a", "/etc/cmk");
    assert.equal(first?.pool, "exclusive");
    assert.equal(first?.affinity, true);
    assert.equal(first?.command?.pid, 101);
    assert.equal(first?.command?.assigned?.toString(), "3");
    assert.equal(isolateProcesses(proc, "/etc/cmk-b", "/etc/cmk")[0]?.command, null, "no child yet");
  });
});

describe("the boot id and the lock's waiters", () => {
  it("reads the boot id of the procfs it is given, and none where there is none", () => {
    const proc = freshProc();
    assert.equal(readBootId(proc), null);
    fakeBootId(proc, "0b7d8ed6-3f1c-4e7b-9a53-2d4c1f0e9a11");
    assert.equal(readBootId(proc), "0b7d8ed6-3f1c-4e7b-9a53-2d4c1f0e9a11");
    assert.match(readBootId("/proc") ?? "", /^[0-9a-f-]{36}$/, "this machine's");
  });

  it("names the processes blocked on the lock file, not its holder nor other files' waiters", () => {
    const proc = freshProc();
    const lock = join(proc, "lock");
    writeFileSync(lock, "");
    const inode = statSync(lock).ino;
    // Its holder (40), a waiter on another file (43), and a waiter on it (41), as the kernel lists them.
    const locks = [
      `1: FLOCK  ADVISORY  WRITE 40 fe:00:${inode} 0 EOF`,
      `2: -> FLOCK  ADVISORY  WRITE 43 fe:00:${inode + 1} 0 EOF`,
      `1: -> FLOCK  ADVISORY  WRITE 41 fe:00:${inode} 0 EOF`,
    ];
    writeFileSync(join(proc, "locks"), `${locks.join("\n")}\n`);
    assert.deepEqual([...lockWaiters(proc, lock)], [41]);
    assert.deepEqual([...lockWaiters(freshProc(), lock)], [], "no locks file: nobody seen waiting");
  });
});
