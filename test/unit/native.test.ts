// The shim's peerCredentials and watchExit on real sockets and real processes: who connected, as
// the kernel says, and a process's exit seen on the event loop within milliseconds.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { openSync, readdirSync, readFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Worker } from "node:worker_threads";
import { builtFile, ESRCH, native } from "../../src/adapters/native.ts";
import { peerCredentials, watchProcessExit } from "../../src/adapters/peer-process.ts";
import { scratchDir } from "../helpers/cmk.ts";

const root = scratchDir("native");
let counter = 0;

/** The descriptor of a connected net.Socket (Node.js keeps it on its handle). */
const fdOf = (socket: Socket): number => (socket as unknown as { _handle: { fd: number } })._handle.fd;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function listen(server: Server): Promise<string> {
  const path = join(root, `socket-${counter++}`);
  return new Promise((resolve) => server.listen(path, () => resolve(path)));
}

/** A process that runs until killed, and a promise of its exit. */
function sleeper(): { child: ChildProcess; pid: number; exited: Promise<void> } {
  const child = spawn("sleep", ["30"], { stdio: "ignore" });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return { child, pid: child.pid as number, exited };
}

/** A Node.js script run as its own process, with the shim at SHIM. */
function runScript(
  source: string,
  env: Record<string, string> = {},
): { child: ChildProcess; output: Promise<{ status: number | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, ["-e", source], {
    env: { ...process.env, SHIM: builtFile("cmk_native.node"), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return { child, output: new Promise((resolve) => child.on("close", (status) => resolve({ status, stdout, stderr }))) };
}

const loadShim = "const shim = { exports: {} }; process.dlopen(shim, process.env.SHIM);";

describe("peerCredentials", () => {
  it("names the process that connected, as the kernel recorded it, on both ends", async () => {
    const peers: { pid: number; uid: number; gid: number }[] = [];
    const server = createServer((socket) => {
      socket.on("error", () => {}); // Our own client below goes away without reading.
      peers.push(peerCredentials(fdOf(socket)));
      socket.end("bye\n");
    });
    const path = await listen(server);
    try {
      // Another process connects: its PID, not ours.
      const client = runScript(`require("node:net").connect(${JSON.stringify(path)}).on("data", (d) => process.stdout.write(d))`);
      const { status, stdout } = await client.output;
      assert.equal(status, 0);
      assert.equal(stdout, "bye\n");
      assert.deepEqual(peers, [{ pid: client.child.pid, uid: process.getuid?.(), gid: process.getgid?.() }]);
      // From the connecting side, the peer is the server: this process.
      const { connect } = await import("node:net");
      const own = connect(path);
      await new Promise((resolve) => own.once("connect", resolve));
      assert.deepEqual(peerCredentials(fdOf(own)), { pid: process.pid, uid: process.getuid?.(), gid: process.getgid?.() });
      own.destroy();
    } finally {
      server.close();
    }
  });

  it("returns a negative errno for what is no connected socket, and the wrapper says which", () => {
    const file = openSync(join(root, `file-${counter++}`), "w");
    assert.equal(native().peerCredentials(file), -88, "ENOTSOCK");
    assert.equal(native().peerCredentials(1 << 20), -9, "EBADF");
    assert.throws(() => peerCredentials(file), { name: "CmkError", message: `cannot tell which process is connected on descriptor ${file}: ENOTSOCK` });
  });
});

describe("watchExit", () => {
  it("calls back within milliseconds of a real process's exit, and not before", async (t) => {
    const delays: number[] = [];
    for (let round = 0; round < 3; round++) {
      const { child, pid, exited } = sleeper();
      const seen = { calledAt: 0 };
      const called = new Promise<void>((resolve) => {
        const watch = native().watchExit(
          pid,
          () => {
            seen.calledAt = performance.now();
            resolve();
          },
          true,
        );
        assert.equal(typeof watch, "object", `watchExit(${pid}) -> ${String(watch)}`);
      });
      await sleep(100);
      assert.equal(seen.calledAt, 0, "no callback while the process runs");
      const killedAt = performance.now();
      child.kill("SIGKILL");
      await called;
      delays.push(seen.calledAt - killedAt);
      await exited;
    }
    const median = [...delays].sort((a, b) => a - b)[1] as number;
    t.diagnostic(`exit seen ${delays.map((ms) => ms.toFixed(2)).join(", ")} ms after SIGKILL`);
    assert.ok(median < 50, `median ${median} ms`);
  });

  it("calls back at once for a zombie, and returns -ESRCH for a process already reaped (the wrapper then calls back soon)", async () => {
    // sleep 30 becomes the parent of the short sleep and never reaps it.
    const parent = spawn("sh", ["-c", "sleep 0.01 & exec sleep 30"], { stdio: "ignore" });
    try {
      const children = `/proc/${parent.pid}/task/${parent.pid}/children`;
      let zombie = 0;
      for (let tries = 0; tries < 200 && zombie === 0; tries++) {
        await sleep(10);
        const pid = Number(readFileSync(children, "utf8").trim());
        if (pid > 0 && /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"))) zombie = pid;
      }
      assert.ok(zombie > 0, "a zombie child");
      const started = performance.now();
      await new Promise<void>((resolve) => assert.equal(typeof native().watchExit(zombie, resolve, true), "object"));
      assert.ok(performance.now() - started < 50);
    } finally {
      parent.kill("SIGKILL");
    }
    const reaped = spawnSync("true").pid as number;
    assert.equal(
      native().watchExit(reaped, () => assert.fail("no callback")),
      -ESRCH,
    );
    let called = false;
    const watch = watchProcessExit(reaped, () => (called = true), { keepAlive: true });
    assert.notEqual(watch, null);
    assert.equal(called, false, "not from within the call");
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(called, true);
  });

  it("close() before the exit means no callback; close() is idempotent, also after the exit", async () => {
    const { child, pid, exited } = sleeper();
    let calls = 0;
    const watch = native().watchExit(pid, () => calls++, true);
    if (typeof watch === "number") assert.fail(`watchExit -> ${watch}`);
    watch.close();
    watch.close();
    child.kill("SIGKILL");
    await exited;
    await sleep(50);
    assert.equal(calls, 0);

    const second = sleeper();
    const fired = new Promise<void>((resolve) => {
      const other = native().watchExit(second.pid, () => {
        calls++;
        if (typeof other !== "number") other.close(); // From within the callback: nothing left to stop.
        resolve();
      });
    });
    second.child.kill("SIGKILL");
    await fired;
    assert.equal(calls, 1);
    // The wrapper's watch of a process already gone can be closed before it calls back too.
    const reaped = spawnSync("true").pid as number;
    watchProcessExit(reaped, () => calls++, { keepAlive: true })?.close();
    await sleep(20);
    assert.equal(calls, 1);
  });

  it("refuses what it cannot watch with a negative errno", () => {
    assert.equal(
      native().watchExit(0, () => {}),
      -22,
    );
    assert.equal(
      native().watchExit(-1, () => {}),
      -22,
    );
    assert.equal(native().watchExit(process.pid, "not a function" as unknown as () => void), -22);
  });

  it("frees its descriptor and handle after close and after the exit", async () => {
    const fds = (): number => readdirSync("/proc/self/fd").length;
    const { child, pid, exited } = sleeper();
    after(() => child.kill("SIGKILL"));
    const before = fds();
    for (let index = 0; index < 200; index++) {
      const watch = native().watchExit(pid, () => assert.fail("closed"));
      if (typeof watch === "number") assert.fail(`watchExit -> ${watch}`);
      watch.close();
    }
    await sleep(20); // libuv closes a handle, and the shim its pidfd, on the loop's next turn.
    assert.equal(fds(), before);
    const fired: Promise<void>[] = [];
    for (let index = 0; index < 50; index++) fired.push(new Promise((resolve) => native().watchExit(pid, resolve, true)));
    assert.equal(fds(), before + 50, "one pidfd per open watch");
    child.kill("SIGKILL");
    await Promise.all(fired);
    await exited;
    await sleep(20);
    assert.equal(fds(), before);
  });

  it("keeps the event loop alive only when asked to", async () => {
    const { child, pid, exited } = sleeper();
    try {
      const source = (keepAlive: boolean) =>
        `${loadShim} const watch = shim.exports.watchExit(${pid}, () => console.log("exited"), ${keepAlive}); console.log(typeof watch);`;
      const idle = await runScript(source(false)).output;
      assert.deepEqual(idle, { status: 0, stdout: "object\n", stderr: "" }, "without keepAlive the process ends while the watched one runs");
      const kept = runScript(source(true));
      let stdout = "";
      await new Promise<void>((resolve) =>
        kept.child.stdout?.on("data", (chunk: Buffer) => {
          stdout += chunk.toString();
          if (stdout === "object\n") resolve();
        }),
      );
      await sleep(200);
      assert.equal(kept.child.exitCode, null, "with keepAlive it waits for the exit");
      child.kill("SIGKILL");
      const result = await kept.output;
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout, "object\nexited\n");
    } finally {
      child.kill("SIGKILL");
      await exited;
    }
  });

  it("turns an exception thrown by the callback into the process's uncaught exception", async () => {
    const { output } = runScript(`${loadShim}
      process.on("uncaughtException", (error) => { console.log("uncaught:", error.message); process.exit(3); });
      const child = require("node:child_process").spawn("true");
      shim.exports.watchExit(child.pid, () => { throw new Error("boom from onExit"); }, true);`);
    const result = await output;
    assert.equal(result.stdout, "uncaught: boom from onExit\n");
    assert.equal(result.status, 3);
  });

  it("lets a worker thread that watches end: its environment's cleanup closes the watch", async () => {
    const { child, exited } = sleeper();
    try {
      const worker = new Worker(
        `${loadShim} shim.exports.watchExit(${child.pid}, () => {}, true); require("node:worker_threads").parentPort.postMessage("watching");`,
        { eval: true, env: { ...process.env, SHIM: builtFile("cmk_native.node") } },
      );
      await new Promise((resolve) => worker.once("message", resolve));
      const code = await worker.terminate();
      assert.equal(code, 1, "terminated");
      // This thread's shim still works after the worker's was torn down.
      const fired = new Promise<void>((resolve) => native().watchExit(child.pid as number, resolve, true));
      child.kill("SIGKILL");
      await fired;
    } finally {
      child.kill("SIGKILL");
      await exited;
    }
  });
});
