// `cmk agent` with real processes: it serves `cmk isolate` over its socket (pinning on this
// machine's real CPUs), frees a list when its workload ends, survives kill -9 of itself, and keeps
// serving whatever hostile clients send.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, statSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { join } from "node:path";
import { describe, it } from "node:test";
import { startAgent } from "../helpers/agent.ts";
import { cmkEnv, collect, editStateDocument, readStateDocument, repoRoot, runCmk, scratchDir, spawnCmk, tasksOn, waitFor } from "../helpers/cmk.ts";
import { isolateBehaviour } from "../helpers/isolate-behaviour.ts";
import { type ExpectedList, expectedPools, hostNode } from "../helpers/topology.ts";

const root = scratchDir("agent");
const host = hostNode();
const exclusive = expectedPools(host, { exclusive: 1, shared: 0 }).exclusive[0] as ExpectedList;
let counter = 0;

/** A node carved on this machine (one exclusive core) and its agent, serving on a socket of its own. */
async function nodeWithAgent(extra: readonly string[] = []) {
  const dir = join(root, `node-${counter}`);
  const socket = join(root, `agent-${counter++}.sock`);
  const init = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"]);
  assert.equal(init.status, 0, init.stderr);
  const agent = await startAgent(socket, [`--conf-dir=${dir}`, "--interval=0.2", ...extra]);
  return { dir, socket, agent, env: { CMK_AGENT_SOCKET: socket } };
}

/** A workload isolated on the exclusive list through the agent, held until `marker` exists. */
async function holdExclusive(dir: string, env: Record<string, string>) {
  const marker = join(root, `release-${counter}`);
  const holder = spawnCmk(
    ["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--", "sh", "-c", `echo held; while [ ! -e ${marker} ]; do sleep 0.01; done`],
    env,
  );
  const held = collect(holder);
  await new Promise<void>((resolve) => holder.stdout?.once("data", () => resolve()));
  return { marker, held };
}

const exclusiveTasks = (dir: string): string[] => tasksOn(dir, "exclusive", exclusive.key, String(exclusive.socket));

/** Sends `text` on a fresh connection and returns all the agent answers before it closes (or `ms` pass). */
function converse(socket: string, text: string | Buffer, ms = 2000): Promise<string> {
  return new Promise((resolve) => {
    const connection = createConnection(socket);
    let answer = "";
    const timer = setTimeout(() => {
      connection.destroy();
      resolve(answer);
    }, ms);
    connection.on("data", (chunk: Buffer) => {
      answer += chunk.toString();
      if (answer.endsWith("\n\n")) {
        clearTimeout(timer);
        connection.destroy();
        resolve(answer);
      }
    });
    connection.on("error", () => {});
    connection.on("close", () => {
      clearTimeout(timer);
      resolve(answer);
    });
    connection.write(text);
  });
}

describe("cmk agent", () => {
  it("serves isolate: the command runs pinned with CMK_CPUS_*, and its list is free once it ends", async () => {
    const { dir, socket, agent, env } = await nodeWithAgent();
    assert.equal(statSync(socket).mode & 0o777, 0o660, "socket mode");
    const run = runCmk(
      ["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--", "sh", "-c", "grep Cpus_allowed_list /proc/self/status; echo $CMK_CPUS_ASSIGNED"],
      env,
    );
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, `Cpus_allowed_list:\t${exclusive.cpus}\n${exclusive.cpus}\n`);
    await waitFor("the list to be free", () => (exclusiveTasks(dir).length === 0 ? true : undefined), 5, 2);
    assert.doesNotMatch(agent.stderr(), /ERROR/);
  });

  it("gives a held exclusive list to no one else (exit 5 naming the holder) and frees it within milliseconds of the end", async () => {
    const { dir, socket, env } = await nodeWithAgent();
    const { marker, held } = await holdExclusive(dir, env);
    const [holderTask] = exclusiveTasks(dir);
    assert.ok(holderTask !== undefined, "nothing recorded");
    assert.match(await converse(socket, "CMK/1 status\n"), /"leases":1\b/, "the agent gave no lease: isolate did the work itself");
    const refused = runCmk(["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--", "true"], env);
    assert.equal(refused.status, 5, refused.stderr);
    assert.match(refused.stderr, new RegExp(`held: ${exclusive.key} by PID ${holderTask}`));
    writeFileSync(marker, "");
    assert.equal((await held).status, 0);
    const ended = performance.now();
    await waitFor("the list to be free", () => (exclusiveTasks(dir).length === 0 ? true : undefined), 5, 2);
    const latency = performance.now() - ended;
    assert.ok(latency < 1000, `freed after ${latency.toFixed(1)} ms`);
  });

  it("after kill -9, a restarted agent keeps a running workload's list and frees it when the workload ends", async () => {
    const { dir, socket, agent, env } = await nodeWithAgent();
    const { marker, held } = await holdExclusive(dir, env);
    await agent.stop("SIGKILL");
    assert.ok(existsSync(socket), "a killed agent cannot remove its socket");
    const restarted = await startAgent(socket, [`--conf-dir=${dir}`, "--interval=0.2"]);
    assert.equal(exclusiveTasks(dir).length, 1, "the restarted agent freed a live workload's list");
    const refused = runCmk(["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--", "true"], env);
    assert.equal(refused.status, 5, refused.stderr);
    writeFileSync(marker, "");
    await held;
    await waitFor("the list to be free", () => (exclusiveTasks(dir).length === 0 ? true : undefined), 3, 2);
    assert.equal((await restarted.stop()).status, 0);
    assert.equal(existsSync(socket), false, "a stopped agent leaves its socket behind");
  });

  it("stops at once on SIGTERM while a workload holds its lease, and the workload keeps its list for the next agent", async () => {
    const { dir, socket, agent, env } = await nodeWithAgent();
    const { marker, held } = await holdExclusive(dir, env);
    const stopping = performance.now();
    const stopped = await agent.stop("SIGTERM");
    const took = performance.now() - stopping;
    assert.equal(stopped.status, 0, stopped.stderr);
    assert.ok(took < 3000, `the agent took ${took.toFixed(0)} ms to stop (a pod's grace period would end in SIGKILL)`);
    assert.equal(exclusiveTasks(dir).length, 1, "the workload still holds its list");
    const restarted = await startAgent(socket, [`--conf-dir=${dir}`, "--interval=0.2"]);
    writeFileSync(marker, "");
    await held;
    await waitFor("the list to be free", () => (exclusiveTasks(dir).length === 0 ? true : undefined), 3, 2);
    assert.equal((await restarted.stop()).status, 0);
  });

  it("answers garbage, unknown versions, oversized and half-sent requests with an error, and keeps serving", async () => {
    const { socket } = await nodeWithAgent([]);
    assert.match(await converse(socket, "hello\n"), /^CMK\/1 error 2 unsupported protocol "hello"/);
    assert.match(await converse(socket, "CMK/2 allocate pool=exclusive\n"), /^CMK\/1 error 2 unsupported protocol "CMK\/2"/);
    assert.match(await converse(socket, "CMK/1 allocate pool=turbo\n"), /^CMK\/1 error 2 pool=turbo is not a pool/);
    assert.match(await converse(socket, "CMK/1 allocate pool=exclusive color=red\n"), /^CMK\/1 error 2 unknown field "color"/);
    assert.match(await converse(socket, Buffer.alloc(10_000, 0x41)), /^CMK\/1 error 2 request longer than 4096 bytes/);
    assert.match(await converse(socket, Buffer.from([0xff, 0xfe, 0x00, 0x0a])), /^CMK\/1 error 2 /);
    // Half a line, then silence: many such clients at once do not stop others being served.
    const stalled = Array.from({ length: 50 }, () => createConnection(socket).on("error", () => {}));
    for (const connection of stalled) connection.write("CMK/1 allo");
    const status = await converse(socket, "CMK/1 status\n");
    assert.match(status, /^CMK\/1 ok\n\{.*"store":/);
    for (const connection of stalled) connection.destroy();
  });

  it("lets only the socket's owner and group connect, and never takes a PID from the request", async () => {
    const { socket } = await nodeWithAgent();
    assert.match(await converse(socket, "CMK/1 allocate pool=infra pid=1\n"), /^CMK\/1 error 2 unknown field "pid"/);
    // nobody (uid 65534) is neither the socket's owner nor in its group; the directory lets it pass.
    chmodSync(root, 0o755);
    const probe = (path: string): string =>
      spawnSync(
        "setpriv",
        [
          "--reuid=65534",
          "--regid=65534",
          "--clear-groups",
          process.execPath,
          "-e",
          `require("net").connect(${JSON.stringify(path)}).on("error", (e) => { console.log(e.code); process.exit(0); }).on("connect", () => { console.log("connected"); process.exit(0); })`,
        ],
        { encoding: "utf8" },
      ).stdout.trim();
    assert.equal(probe(socket), "EACCES");
    const { socket: open } = await nodeWithAgent(["--socket-mode=0666"]);
    assert.equal(probe(open), "connected", "the mode is not what refused");
  });

  it("records the pod a workload runs in, from its environment as the kernel keeps it", async () => {
    const { dir, env } = await nodeWithAgent();
    const pod = { POD_NAMESPACE: "payments", POD_NAME: "ledger-0", POD_UID: "0b8c6a52-0000-4000-8000-000000000003" };
    const marker = join(root, `pod-${counter}`);
    const holder = spawnCmk(["isolate", `--conf-dir=${dir}`, "--pool=infra", "--", "sh", "-c", `echo held; while [ ! -e ${marker} ]; do sleep 0.01; done`], {
      ...env,
      ...pod,
    });
    const held = collect(holder);
    await new Promise<void>((resolve) => holder.stdout?.once("data", () => resolve()));
    try {
      const tasks = Object.values(readStateDocument(dir)?.tasks ?? {}) as { pod?: unknown }[];
      assert.deepEqual(
        tasks.map((task) => task.pod),
        [{ namespace: "payments", name: "ledger-0", uid: "0b8c6a52-0000-4000-8000-000000000003" }],
      );
    } finally {
      writeFileSync(marker, "");
    }
    assert.equal((await held).status, 0);
  });

  it("ends cleanly on SIGTERM from the moment its socket exists: exit 0, the socket removed", async () => {
    const dir = join(root, "early-sigterm");
    assert.equal(runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"]).status, 0);
    for (let round = 0; round < 5; round++) {
      const socket = join(root, `early-${round}.sock`);
      const agent = spawnCmk(["agent", `--conf-dir=${dir}`, `--socket=${socket}`, "--interval=5"]);
      const ended = collect(agent);
      while (!existsSync(socket)) await new Promise((resolve) => setImmediate(resolve));
      agent.kill("SIGTERM");
      const result = await ended;
      assert.equal(result.status, 0, `round ${round}: ${result.stderr}`);
      assert.equal(existsSync(socket), false, `round ${round}: the socket was left behind`);
    }
  });

  it("refuses a request for another store, so isolate does the work itself", async () => {
    const { dir, socket } = await nodeWithAgent();
    const other = join(root, `other-${counter}`);
    assert.equal(runCmk(["init", `--conf-dir=${other}`, "--num-exclusive-cores=1", "--num-shared-cores=0"]).status, 0);
    assert.match(await converse(socket, `CMK/1 allocate pool=infra store=${encodeURIComponent(other)}\n`), /^CMK\/1 error 2 this agent serves .* not /);
    const run = runCmk(["isolate", `--conf-dir=${other}`, "--pool=infra", "--", "true"], { CMK_AGENT_SOCKET: socket });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(readStateDocument(dir)?.tasks, undefined);
  });
});

isolateBehaviour("through cmk agent", async () => {
  const { dir, env } = await nodeWithAgent();
  return { dir, env };
});

describe("cmk agent under load and crashes", () => {
  it("frees a list within milliseconds when its workload is killed with SIGKILL at random instants, and never leaks one", async () => {
    const { dir, socket, env } = await nodeWithAgent();
    const latencies: number[] = [];
    for (let round = 0; round < 15; round++) {
      const workload = spawnCmk(["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--", "sleep", "5"], env);
      const exited = collect(workload);
      // Half the kills land while isolate is still asking; the others on the running workload.
      const runningFirst = round % 2 === 0;
      if (runningFirst) await waitFor("the list to be held", () => (exclusiveTasks(dir).length > 0 ? true : undefined), 5, 2);
      else await new Promise((resolve) => setTimeout(resolve, Math.random() * 10));
      workload.kill("SIGKILL");
      await exited;
      const killed = performance.now();
      await waitFor("the list to be free", () => (exclusiveTasks(dir).length === 0 ? true : undefined), 2, 2);
      if (runningFirst) latencies.push(performance.now() - killed);
    }
    assert.match(await converse(socket, "CMK/1 status\n"), /"leases":0\b/);
    latencies.sort((a, b) => a - b);
    // The goal (10 ms at p99) is measured by npm run bench; here, a bound no loaded machine misses.
    assert.ok((latencies.at(-1) as number) < 500, `freed after ${latencies.map((ms) => ms.toFixed(1)).join(", ")} ms`);
  });

  it("serves 256 concurrent isolates on a 256-list pool, each its own list; the 257th exits 5 naming holders", async () => {
    const dir = join(root, `wide-${counter}`);
    const socket = join(root, `wide-${counter++}.sock`);
    assert.equal(runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"]).status, 0);
    // 256 exclusive lists of CPUs this machine need not have (isolate --no-affinity never pins them).
    editStateDocument(dir, (document) => {
      const config = document.config as Record<string, Record<string, Record<string, string[]>>>;
      config["exclusive"] = { "0": Object.fromEntries(Array.from({ length: 256 }, (_, index) => [`${4096 + index}`, []])) };
    });
    const agent = await startAgent(socket, [`--conf-dir=${dir}`, "--interval=5"]);
    const env = { CMK_AGENT_SOCKET: socket };
    const workloads = Array.from({ length: 256 }, () =>
      spawn(
        join(repoRoot, "bin", "cmk"),
        ["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--no-affinity", "--", "sh", "-c", 'echo "$CMK_CPUS_ASSIGNED"; read line'],
        {
          env: cmkEnv(env),
          stdio: ["pipe", "pipe", "pipe"],
        },
      ),
    );
    const ended = workloads.map((workload) => collect(workload));
    const given = await Promise.all(
      workloads.map(
        (workload, index) =>
          new Promise<string>((resolve, reject) => {
            workload.stdout?.once("data", (data: Buffer) => resolve(data.toString().trim()));
            workload.once("exit", (code) => reject(new Error(`isolate ${index} ended ${code} before its command ran`)));
          }),
      ),
    );
    try {
      assert.equal(new Set(given).size, 256, "a list was given twice");
      const extra = runCmk(["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--no-affinity", "--", "true"], env);
      assert.equal(extra.status, 5, extra.stderr);
      assert.match(extra.stderr, /0 free of 256 CPU lists, 1 requested; held: \d+ by PID \d+, .* and 248 more/);
      assert.match(await converse(socket, "CMK/1 status\n"), /"leases":256\b/);
    } finally {
      for (const workload of workloads) workload.stdin?.end("done\n");
    }
    for (const result of await Promise.all(ended)) assert.equal(result.status, 0, result.stderr);
    await waitFor("every list to be free", () => (readStateDocument(dir)?.tasks === undefined ? true : undefined), 5, 2);
    assert.equal((await agent.stop()).status, 0);
  });
});
