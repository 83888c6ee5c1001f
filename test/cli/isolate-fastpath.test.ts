// `cmk isolate`'s native fast path (native/cmk_fastpath.c) against a fake cmk agent: a Unix
// socket server in this process that speaks docs/agent-protocol.md, records each request and the
// process that sent it (SO_PEERCRED), and answers what a test scripts. The command must run in
// place (the process that asked is the command), pinned to this machine's real CPUs, holding the
// connection until it and every process that inherited it have exited; everything the fast path
// does not take must reach the TypeScript path unchanged. Always this machine's CPUs, also when
// CMK_TEST_TOPOLOGY pretends another topology: the CPUs a command is pinned to must exist.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type PeerCredentials, peerCredentials } from "../../src/adapters/peer-process.ts";
import { CpuSet } from "../../src/core/cpuset.ts";
import { cmkBin, cmkEnv, runCmk, scratchDir } from "../helpers/cmk.ts";
import { allowedCpuList, cmkMask } from "../helpers/topology.ts";

const root = scratchDir("fastpath");
let counter = 0;
const fresh = (name: string): string => join(root, `${name}-${counter++}`);

/** The CPUs this test may run on, and one of them to pin commands to. */
const allowed = CpuSet.parse(allowedCpuList("self"));
const target = CpuSet.of([allowed.last as number]);

/** What the agent saw of one connection. */
interface Connection {
  readonly peer: PeerCredentials;
  /** The request line, without its newline, once it arrived. */
  line?: string;
  /** When this side saw the connection close (performance.now()). */
  readonly closed: Promise<number>;
  isClosed: boolean;
}

/** Answers a request: the text to send, or null to send nothing (yet). */
type Answer = (line: string, socket: Socket) => string | null;

interface FakeAgent {
  readonly path: string;
  readonly connections: Connection[];
  answer: Answer;
}

/** The answer `CMK/1 ok` with these variables. */
function ok(variables: Readonly<Record<string, string>>): Answer {
  return () =>
    `CMK/1 ok\n${Object.entries(variables)
      .map(([name, value]) => `${name}=${value}\n`)
      .join("")}\n`;
}

const pinnedTo = (cpus: CpuSet): Answer => ok({ CMK_CPUS_ASSIGNED: cpus.toString(), CMK_CPUS_ASSIGNED_MASK: cmkMask(cpus) });
const refusal =
  (status: number, message: string): Answer =>
  () =>
    `CMK/1 error ${status} ${message}\n\n`;

async function fakeAgent(answer: Answer = pinnedTo(target)): Promise<FakeAgent> {
  const path = fresh("agent.sock");
  const sockets = new Set<Socket>();
  const agent: FakeAgent = { path, connections: [], answer };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    let resolveClosed: (at: number) => void = () => {};
    const connection: Connection = {
      peer: peerCredentials((socket as unknown as { _handle: { fd: number } })._handle.fd),
      closed: new Promise((resolve) => (resolveClosed = resolve)),
      isClosed: false,
    };
    socket.once("close", () => {
      connection.isClosed = true;
      sockets.delete(socket);
      resolveClosed(performance.now());
    });
    agent.connections.push(connection);
    let buffered = "";
    socket.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("latin1");
      const end = buffered.indexOf("\n");
      if (end < 0 || connection.line !== undefined) return;
      connection.line = buffered.slice(0, end);
      const reply = agent.answer(connection.line, socket);
      if (reply !== null) socket.write(reply);
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  after(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return agent;
}

interface Ended {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

interface Running {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly ended: Promise<Ended>;
}

/** Starts `executable` (bin/cmk unless given) asynchronously: the fake agent answers on this event loop. */
function start(args: readonly string[], env: Record<string, string>, options: { executable?: string; cwd?: string; bare?: boolean } = {}): Running {
  const child = spawn(options.executable ?? cmkBin, args, {
    // A workload container's environment for an installed cmk: no Node.js on PATH, nothing inherited.
    env: options.bare === true ? { PATH: "/usr/bin:/bin", ...env } : cmkEnv(env),
    cwd: options.cwd ?? root,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const ended = new Promise<Ended>((resolve) => child.on("close", (status, signal) => resolve({ status, signal, stdout, stderr })));
  return { child, pid: child.pid as number, ended };
}

const run = (args: readonly string[], env: Record<string, string>, options: { executable?: string; cwd?: string; bare?: boolean } = {}): Promise<Ended> =>
  start(args, env, options).ended;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One line of error, as every failure of the fast path reports. */
const oneErrorLine = /^ERROR:cmk:[^\n]+\n$/;

describe("cmk isolate with a cmk agent: the native fast path", () => {
  it("runs the command in place, pinned to the answer's CPUs, with its CMK_CPUS_* and nothing else from the agent", async () => {
    const agent = await fakeAgent(
      ok({
        CMK_CPUS_ASSIGNED: target.toString(),
        CMK_CPUS_ASSIGNED_MASK: cmkMask(target),
        CMK_CPUS_INFRA: allowed.toString(),
        PATH: "/nowhere",
        OTHER: "x",
      }),
    );
    const script = 'echo $$; grep Cpus_allowed_list /proc/self/status; env | grep -e ^CMK_CPUS -e ^OTHER | sort; echo "PATH=$PATH"';
    const running = start(["isolate", "--pool=exclusive", "--", "sh", "-c", script], {
      CMK_AGENT_SOCKET: agent.path,
      CMK_CPUS_SHARED: "stale from an enclosing isolate",
      CMK_CPUS_INFRA: "stale too",
    });
    const result = await running.ended;
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stderr, "");
    assert.equal(
      result.stdout,
      `${running.pid}\nCpus_allowed_list:\t${target}\nCMK_CPUS_ASSIGNED=${target}\nCMK_CPUS_ASSIGNED_MASK=${cmkMask(target)}\nCMK_CPUS_INFRA=${allowed}\nPATH=${process.env["PATH"]}\n`,
    );
    const [connection, ...others] = agent.connections;
    assert.equal(others.length, 0);
    assert.equal(connection?.line, "CMK/1 allocate pool=exclusive count=1 socket=-1 affinity=1 argv0=sh");
    assert.equal(connection.peer.pid, running.pid, "the process that asked is the command: no wrapper, no Node.js");
    assert.equal(connection.peer.uid, process.getuid?.());
    await connection.closed;
  });

  it("sends the request the flags and CMK_NUM_CORES make, values percent-encoded, the conf dir resolved", async () => {
    const agent = await fakeAgent();
    const real = fresh("conf dir é");
    mkdirSync(real);
    const link = fresh("link");
    symlinkSync(real, link);
    const program = "no such prog%";
    const result = await run(["isolate", "--pool", "shared", "--socket-id", "1", "--no-affinity", `--conf-dir=${link}`, program, "--", "arg"], {
      CMK_AGENT_SOCKET: agent.path,
      CMK_NUM_CORES: "2",
    });
    const encode = (text: string): string =>
      [...Buffer.from(text)]
        .map((byte) => (byte > 0x20 && byte < 0x7f && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`))
        .join("");
    assert.equal(
      agent.connections[0]?.line,
      `CMK/1 allocate pool=shared count=2 socket=1 affinity=0 argv0=no%20such%20prog%25 store=${encode(realpathSync(real))}`,
    );
    assert.equal(result.status, 127);
    assert.equal(
      result.stderr,
      `INFO:cmk:--no-affinity: not pinning; the command finds its CPUs in CMK_CPUS_ASSIGNED=${target}\nERROR:cmk:cannot run ${program}: command not found; check the command and PATH\n`,
    );
    // A conf dir that does not exist yet: absolute, with . and .. taken away.
    const missing = await run(["isolate", "--pool=infra", "--conf-dir", "./a/../b//c/.", "--", "true"], { CMK_AGENT_SOCKET: agent.path }, { cwd: real });
    assert.equal(missing.status, 0, missing.stderr);
    assert.equal(agent.connections[1]?.line, `CMK/1 allocate pool=infra count=1 socket=-1 affinity=1 argv0=true store=${encode(`${realpathSync(real)}/b/c`)}`);
  });

  it("takes CMK's form, the command first and its arguments after --, with cmk's flags between", async () => {
    const agent = await fakeAgent();
    const result = await run(["isolate", "printf", "--pool=infra", "--", "[%s]\\n", "a b", "--pool=x", ""], { CMK_AGENT_SOCKET: agent.path });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, "[a b]\n[--pool=x]\n[]\n");
    assert.equal(agent.connections[0]?.line, "CMK/1 allocate pool=infra count=1 socket=-1 affinity=1 argv0=printf");
  });

  it("--no-affinity leaves this process's CPUs as they were", async () => {
    const agent = await fakeAgent();
    const result = await run(
      ["isolate", "--pool=exclusive", "--no-affinity", "--", "sh", "-c", "grep Cpus_allowed_list /proc/self/status; echo $CMK_CPUS_ASSIGNED"],
      {
        CMK_AGENT_SOCKET: agent.path,
      },
    );
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, `Cpus_allowed_list:\t${allowed}\n${target}\n`);
    assert.match(agent.connections[0]?.line ?? "", / affinity=0 /);
  });

  it("gives the workload its NODE_OPTIONS and NODE_EXTRA_CA_CERTS, as the launchers and the TypeScript path together do", async () => {
    const agent = await fakeAgent();
    const script = ["sh", "-c", 'echo "[$NODE_OPTIONS][$NODE_EXTRA_CA_CERTS]"; env | grep -c CMK_WORKLOAD || true'];
    const cases: [Record<string, string>, string][] = [
      [{ NODE_OPTIONS: "--require /nonexistent/tracing.js" }, "[--require /nonexistent/tracing.js][]\n0\n"],
      [{ CMK_WORKLOAD_NODE_OPTIONS: "--max-old-space-size=64" }, "[--max-old-space-size=64][]\n0\n"],
      [{ NODE_OPTIONS: "--mine", CMK_WORKLOAD_NODE_OPTIONS: "--stale" }, "[--mine][]\n0\n"],
      [{ NODE_EXTRA_CA_CERTS: "/etc/extra.pem" }, "[][/etc/extra.pem]\n0\n"],
      [{ CMK_WORKLOAD_NODE_EXTRA_CA_CERTS: "/etc/saved.pem" }, "[][/etc/saved.pem]\n0\n"],
      [{}, "[][]\n0\n"],
    ];
    for (const [env, expected] of cases) {
      const result = await run(["isolate", "--pool=infra", "--", ...script], { CMK_AGENT_SOCKET: agent.path, ...env });
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout, expected, JSON.stringify(env));
    }
    assert.equal(agent.connections.length, cases.length, "every case took the fast path");
  });

  it("exits with the command's own status and dies of its own signals", async () => {
    const agent = await fakeAgent();
    const env = { CMK_AGENT_SOCKET: agent.path };
    assert.equal((await run(["isolate", "--pool=infra", "--", "sh", "-c", "exit 7"], env)).status, 7);
    const killed = await run(["isolate", "--pool=infra", "--", "sh", "-c", "kill -TERM $$"], env);
    assert.deepEqual([killed.status, killed.signal], [null, "SIGTERM"], "no wrapper turns it into 143");
    const trapping = start(["isolate", "--pool=infra", "--", "sh", "-c", 'trap "echo got USR1; exit 42" USR1; echo ready; while :; do sleep 0.05; done'], env);
    await new Promise<void>((resolve) => trapping.child.stdout?.once("data", () => resolve()));
    trapping.child.kill("SIGUSR1");
    const trapped = await trapping.ended;
    assert.equal(trapped.stdout, "ready\ngot USR1\n");
    assert.equal(trapped.status, 42);
    assert.equal(agent.connections.length, 3);
    await Promise.all(agent.connections.map((connection) => connection.closed));
  });

  it("holds the lease until the command and a background child that inherited it have exited", async () => {
    const agent = await fakeAgent();
    const flag = fresh("go");
    const running = start(["isolate", "--pool=infra", "--", "sh", "-c", `(while [ ! -e ${flag} ]; do sleep 0.02; done) >/dev/null 2>&1 & echo started`], {
      CMK_AGENT_SOCKET: agent.path,
    });
    const result = await running.ended;
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, "started\n");
    const connection = agent.connections[0] as Connection;
    await sleep(200);
    assert.equal(connection.isClosed, false, "the background child still holds the connection");
    const released = performance.now();
    writeFileSync(flag, "");
    const closedAt = await connection.closed;
    assert.ok(closedAt >= released, "closed only after the background child ended");
  });

  it("ends with the agent's exit status and message, without running the command", async () => {
    const message = "pool exclusive has 0 free of 1 CPU lists, 1 requested; held: 3,7 by PID 4242";
    const agent = await fakeAgent(refusal(5, message));
    const marker = fresh("ran");
    const result = await run(["isolate", "--pool=exclusive", "--", "touch", marker], { CMK_AGENT_SOCKET: agent.path });
    assert.equal(result.status, 5);
    assert.equal(result.stderr, `ERROR:cmk:${message}\n`);
    assert.equal(existsSync(marker), false);
    await agent.connections[0]?.closed;
  });

  it("falls back to the TypeScript path on error 2, which then speaks in its own words", async () => {
    const agent = await fakeAgent(refusal(2, "store=/elsewhere is not the store this agent serves"));
    const confDir = fresh("uninitialised");
    mkdirSync(confDir);
    const result = await run(["isolate", `--conf-dir=${confDir}`, "--pool=exclusive", "--", "true"], { CMK_AGENT_SOCKET: agent.path, CMK_LOG_LEVEL: "DEBUG" });
    assert.ok(agent.connections[0]?.line?.endsWith(` store=${realpathSync(confDir)}`), agent.connections[0]?.line);
    assert.match(
      result.stderr,
      /agent fast path not taken: the cmk agent at .* does not take this request \(store=\/elsewhere is not the store this agent serves\)/,
    );
    assert.match(result.stderr, new RegExp(`ERROR:cmk:no cmk state in ${confDir}; run cmk init --conf-dir=${confDir} first\\n$`));
    assert.equal(result.status, 8);
  });

  it("runs the TypeScript path, as before, when there is no agent to connect to", async () => {
    const confDir = fresh("uninitialised");
    mkdirSync(confDir);
    const notASocket = fresh("plain-file");
    writeFileSync(notASocket, "");
    for (const [socket, why] of [
      [fresh("missing.sock"), "ENOENT"],
      [notASocket, "ECONNREFUSED"],
    ] as const) {
      const result = await run(["isolate", `--conf-dir=${confDir}`, "--pool=exclusive", "--", "true"], { CMK_AGENT_SOCKET: socket, CMK_LOG_LEVEL: "DEBUG" });
      assert.match(result.stderr, new RegExp(`agent fast path not taken: no cmk agent at ${socket} \\(${why}\\)`));
      assert.match(result.stderr, /ERROR:cmk:no cmk state in /);
      assert.equal(result.status, 8);
    }
  });

  it("leaves every flag, value and setting it does not take to the TypeScript path, without asking the agent", async () => {
    const agent = await fakeAgent();
    const cases: [readonly string[], Record<string, string>, number, RegExp][] = [
      [["--pool=infra", "--bogus", "--", "true"], {}, 2, /unknown flag --bogus/],
      [["--help"], {}, 0, /^Usage: cmk isolate/],
      [["--conf-dir", "-h", "--pool=infra", "--", "true"], {}, 0, /^Usage: cmk isolate/],
      [["--pool=infra", "--pool=infra", "--", "true"], {}, 2, /--pool is given more than once/],
      [["--pool=infra", "--no-affinity=1", "--", "true"], {}, 2, /--no-affinity takes no value/],
      [["--pool=exclusiv", "--", "true"], {}, 2, /--pool="exclusiv" is not a pool; did you mean exclusive\?/],
      [["--pool=infra", "--socket-id=one", "--", "true"], {}, 2, /--socket-id="one" is not valid/],
      [["--pool=infra", "--conf-dir=", "--", "true"], {}, 2, /--conf-dir is empty/],
      [["--pool=infra"], {}, 2, /needs a command to run/],
      [["--pool=infra", "ls", "-l"], {}, 2, /unknown flag -l for cmk isolate; to give it to ls, put it after --/],
      [["--pool=infra", "--kubeconfig=", "--", "true"], {}, 2, /--kubeconfig is empty/],
      [["--pool=infra", "--", "true"], { CMK_NUM_CORES: "2.0" }, 2, /CMK_NUM_CORES="2\.0" is not valid/],
      [["--pool=infra", "--", "true"], { CMK_LOCK_TIMEOUT: "soon" }, 2, /CMK_LOCK_TIMEOUT="soon" is not valid/],
      [["--pool=infra", "--", "true"], { CMK_LOG_LEVEL: "loud" }, 2, /CMK_LOG_LEVEL="loud" is not a log level/],
    ];
    for (const [args, env, status, output] of cases) {
      const result = await run(["isolate", ...args], { CMK_AGENT_SOCKET: agent.path, ...env });
      assert.equal(result.status, status, `${args.join(" ")} ${JSON.stringify(env)}: ${result.stderr}`);
      assert.match(status === 0 ? result.stdout : result.stderr, output, args.join(" "));
    }
    assert.equal(agent.connections.length, 0);
  });

  it("ends with exit 1 and one line, never falling back, when the answer cannot be read or does not come", async () => {
    const agent = await fakeAgent();
    const marker = fresh("ran");
    const cases: [Answer, RegExp][] = [
      [() => "HELLO\n\n", /the cmk agent at .* answered "HELLO", which this cmk cannot read; check that the agent and this cmk are the same version/],
      [() => "CMK/2 ok\n\n", /answered "CMK\/2 ok", which this cmk cannot read/],
      [() => "CMK/1 error 300 too big\n\n", /answered "CMK\/1 error 300 too big"/],
      [() => "CMK/1 ok\n\n", /answered ok without CPUs this cmk can read in CMK_CPUS_ASSIGNED/],
      [() => "CMK/1 ok\nCMK_CPUS_ASSIGNED=zero\n\n", /answered ok without CPUs this cmk can read/],
      [() => "CMK/1 ok\nno equals sign\n\n", /answered "no equals sign"/],
      [() => "CMK/1 ok\n\u0001\u0002\n\n", /answered "\?\?"/],
      [
        (_line, socket) => {
          socket.end("CMK/1 ok\nCMK_CPUS_ASSIGNED=0\n");
          return null;
        },
        /answered "CMK\/1 ok", which this cmk cannot read/,
      ],
      [
        (_line, socket) => {
          socket.end();
          return null;
        },
        /the cmk agent at .* closed the connection without answering/,
      ],
    ];
    for (const [answer, message] of cases) {
      agent.answer = answer;
      const result = await run(["isolate", "--pool=infra", "--", "touch", marker], { CMK_AGENT_SOCKET: agent.path });
      assert.equal(result.status, 1, result.stderr);
      assert.match(result.stderr, oneErrorLine);
      assert.match(result.stderr, message);
    }
    // An agent that never answers: CMK_LOCK_TIMEOUT and a second.
    agent.answer = () => null;
    const started = performance.now();
    const stalled = await run(["isolate", "--pool=infra", "--", "touch", marker], { CMK_AGENT_SOCKET: agent.path, CMK_LOCK_TIMEOUT: "0.2" });
    const waited = performance.now() - started;
    assert.equal(stalled.status, 1);
    assert.match(stalled.stderr, oneErrorLine);
    assert.match(stalled.stderr, /did not answer within 1\.2 s \(CMK_LOCK_TIMEOUT and a second\)/);
    assert.ok(waited >= 1200, `waited ${waited} ms`);
    assert.equal(existsSync(marker), false, "no command ran");
    assert.equal(agent.connections.length, 10, "each asked once, none fell back to run anyway");
  });

  it("ends with exit 6, in isolate's words, when the kernel refuses or narrows the answer's CPUs", async () => {
    // 65535 is above any kernel's CPU ids: refused alone, dropped beside a CPU this process may use.
    const agent = await fakeAgent(pinnedTo(CpuSet.of([65535])));
    const refused = await run(["isolate", "--pool=exclusive", "--", "true"], { CMK_AGENT_SOCKET: agent.path });
    assert.equal(refused.status, 6, refused.stderr);
    assert.match(refused.stderr, oneErrorLine);
    assert.match(
      refused.stderr,
      /^ERROR:cmk:the kernel refused CPU affinity 65535 for thread \d+ \(EINVAL\).*; make those CPUs available to this container or choose another pool\n$/,
    );
    const wider = target.union(CpuSet.of([65535]));
    agent.answer = pinnedTo(wider);
    const narrowed = await run(["isolate", "--pool=exclusive", "--", "true"], { CMK_AGENT_SOCKET: agent.path });
    assert.equal(narrowed.status, 6, narrowed.stderr);
    assert.match(narrowed.stderr, oneErrorLine);
    assert.match(
      narrowed.stderr,
      new RegExp(`the kernel narrowed CPU affinity ${wider} to ${target}: CPUs 65535 are not available here.*; make them available`),
    );
    await Promise.all(agent.connections.map((connection) => connection.closed));
  });

  it("exits 127 or 126, saying why, when the command cannot run", async () => {
    const agent = await fakeAgent();
    const env = { CMK_AGENT_SOCKET: agent.path };
    const missing = await run(["isolate", "--pool=infra", "--", "no-such-command-here"], env);
    assert.equal(missing.status, 127);
    assert.equal(missing.stderr, "ERROR:cmk:cannot run no-such-command-here: command not found; check the command and PATH\n");
    const notExecutable = fresh("not-executable.sh");
    writeFileSync(notExecutable, "#!/bin/sh\necho hi\n", { mode: 0o644 });
    chmodSync(notExecutable, 0o644);
    const denied = await run(["isolate", "--pool=infra", "--", notExecutable], env);
    assert.equal(denied.status, 126);
    assert.equal(denied.stderr, `ERROR:cmk:cannot run ${notExecutable}: permission denied; check the command and PATH\n`);
    const noShebang = fresh("no-shebang.sh");
    writeFileSync(noShebang, "echo hi\n", { mode: 0o755 });
    const unknownFormat = await run(["isolate", "--pool=infra", "--", noShebang], env);
    assert.equal(unknownFormat.status, 126);
    assert.equal(unknownFormat.stderr, `ERROR:cmk:cannot run ${noShebang}: not an executable format (a script needs a #! line); check the command and PATH\n`);
    assert.equal(unknownFormat.stdout, "", "no shell ran it behind the user's back");
  });

  describe("the installed executable", () => {
    const installDir = fresh("opt-bin");
    const installed = join(installDir, "cmk");
    before(() => {
      const result = runCmk(["install", `--install-dir=${installDir}`], {}, root);
      assert.equal(result.status, 0, result.stderr);
    });

    it("takes the fast path too, in a container's bare environment, and falls back through its own Node.js", async () => {
      const agent = await fakeAgent();
      const running = start(
        ["isolate", "--pool=infra", "--", "sh", "-c", "echo $$; grep Cpus_allowed_list /proc/self/status"],
        { CMK_AGENT_SOCKET: agent.path },
        {
          executable: installed,
          bare: true,
        },
      );
      const result = await running.ended;
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout, `${running.pid}\nCpus_allowed_list:\t${target}\n`);
      assert.equal(agent.connections[0]?.peer.pid, running.pid);
      agent.answer = refusal(2, "not this store");
      const confDir = fresh("uninitialised");
      mkdirSync(confDir);
      const fallback = await run(
        ["isolate", `--conf-dir=${confDir}`, "--pool=infra", "--", "true"],
        { CMK_AGENT_SOCKET: agent.path },
        { executable: installed, bare: true },
      );
      assert.equal(fallback.status, 8, fallback.stderr);
      assert.match(fallback.stderr, /^ERROR:cmk:no cmk state in /);
    });

    it("times the fast path against taskset (reported, not asserted: the bench keeps the goals)", async (t) => {
      const agent = await fakeAgent();
      const cpu = String(target.first);
      const timed = async (executable: string, args: readonly string[], env: Record<string, string>): Promise<number> => {
        const started = performance.now();
        const result = await run(args, env, { executable, bare: true });
        assert.equal(result.status, 0, result.stderr);
        return performance.now() - started;
      };
      const samples: Record<"source" | "installed" | "taskset", number[]> = { source: [], installed: [], taskset: [] };
      const env = { CMK_AGENT_SOCKET: agent.path };
      for (let round = 0; round < 21; round++) {
        samples.source.push(await timed(cmkBin, ["isolate", "--pool=infra", "--", "true"], env));
        samples.installed.push(await timed(installed, ["isolate", "--pool=infra", "--", "true"], env));
        samples.taskset.push(await timed("taskset", ["-c", cpu, "true"], {}));
      }
      const median = (values: number[]): string => ([...values].sort((a, b) => a - b)[values.length >> 1] as number).toFixed(2);
      t.diagnostic(
        `median of 21, spawn to exit: bin/cmk isolate -- true ${median(samples.source)} ms, installed cmk isolate -- true ${median(samples.installed)} ms, taskset -c ${cpu} true ${median(samples.taskset)} ms`,
      );
      assert.equal(agent.connections.length, 42, "every isolate took the fast path");
    });
  });
});
