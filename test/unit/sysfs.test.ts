import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { type FixtureSpec, fixtures, fixtureTopology, generateSysfs } from "../../scripts/gen-sysfs-fixture.ts";
import { readHostTopology } from "../../src/adapters/host-topology.ts";
import { readCpuRecords } from "../../src/adapters/sysfs.ts";
import { CpuSet } from "../../src/core/cpuset.ts";
import { CmkError } from "../../src/core/errors.ts";
import type { CpuRecord, Topology } from "../../src/core/topology.ts";
import { buildTopology, sstBfCpus } from "../../src/core/topology.ts";

const generator = fileURLToPath(new URL("../../scripts/gen-sysfs-fixture.ts", import.meta.url));

// host-2048 is some 50,000 files: on tmpfs it takes a second, on a busy disk half a minute.
const scratch = process.env["TMPDIR"] ?? (existsSync("/dev/shm") ? "/dev/shm" : tmpdir());

function tempDir(): string {
  return mkdtempSync(join(scratch, "cmk-sysfs-"));
}

/** A generated fixture tree for the tests of one describe block, removed afterwards. */
function useFixture(name: string): { readonly dir: string } {
  const handle = { dir: "" };
  before(() => {
    handle.dir = tempDir();
    generateSysfs(handle.dir, fixtures[name] as NonNullable<(typeof fixtures)[string]>);
  });
  after(() => rmSync(handle.dir, { recursive: true, force: true }));
  return handle;
}

/** The isolcpus CPUs of the fixture's cmdline, flags (domain, managed_irq) dropped. */
function isolcpusOf(dir: string): CpuSet {
  const value = /(?:^|\s)isolcpus=(\S+)/.exec(readFileSync(join(dir, "proc", "cmdline"), "utf8"))?.[1];
  return value === undefined
    ? CpuSet.empty
    : CpuSet.parse(
        value
          .split(",")
          .filter((item) => /^\d/.test(item))
          .join(","),
      );
}

function topologyOf(dir: string, power = false): Topology {
  return buildTopology(readCpuRecords({ root: dir, power }), isolcpusOf(dir));
}

/** Each socket's cores as plain CPU lists: [["0,8", "1,9"], ["4,12", ...]]. */
function coreLists(topology: Topology): string[][] {
  return topology.sockets.map((socket) => socket.cores.map((core) => core.cpus.toPlainList()));
}

function record(topology: Topology, cpu: number): CpuRecord {
  const found = topology.cpus.get(cpu);
  assert.ok(found, `CPU ${cpu} is in the topology`);
  return found;
}

function assertShape(topology: Topology, sockets: number, coresPerSocket: number, threadsPerCore: number): void {
  assert.equal(topology.sockets.length, sockets, "sockets");
  for (const socket of topology.sockets) {
    assert.equal(socket.cores.length, coresPerSocket, `cores of socket ${socket.id}`);
    for (const core of socket.cores) assert.equal(core.cpus.size, threadsPerCore, `threads of core ${core.cpus.toPlainList()}`);
  }
  assert.equal(topology.online.size, sockets * coresPerSocket * threadsPerCore);
}

function isolatedCores(topology: Topology): string[] {
  return topology.cores.filter((core) => core.isolated).map((core) => core.cpus.toPlainList());
}

describe("fixtureTopology, the in-memory twin of a generated tree", () => {
  // Property tests build many topologies with it: it must be what cmk reads from the tree.
  for (const [name, spec] of Object.entries(fixtures)) {
    if (name === "host-2048") continue; // 50,000 files for no new case.
    it(`equals what cmk reads from the ${name} tree, power attributes and isolcpus included`, () => {
      const dir = tempDir();
      try {
        generateSysfs(dir, spec);
        assert.deepEqual(fixtureTopology(spec), readHostTopology(dir, join(dir, "proc"), true).topology);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

describe("fixture plain-1s2c", () => {
  const fixture = useFixture("plain-1s2c");

  it("is one socket of two single-thread cores on one NUMA node sharing one L3", () => {
    const topology = topologyOf(fixture.dir);
    assertShape(topology, 1, 2, 1);
    assert.deepEqual(coreLists(topology), [["0", "1"]]);
    assert.deepEqual(
      topology.cores.map((core) => core.id),
      [0, 1],
    );
    assert.deepEqual(
      [0, 1].map((cpu) => record(topology, cpu).numaNode),
      [0, 0],
    );
    assert.equal(record(topology, 0).l3, record(topology, 1).l3);
    assert.ok(topology.isolcpus.isEmpty);
  });
});

describe("fixture example-2s16c", () => {
  const fixture = useFixture("example-2s16c");

  it("has two sockets of four two-thread cores, core n = CPUs n and n+8", () => {
    const topology = topologyOf(fixture.dir);
    assertShape(topology, 2, 4, 2);
    assert.deepEqual(coreLists(topology), [
      ["0,8", "1,9", "2,10", "3,11"],
      ["4,12", "5,13", "6,14", "7,15"],
    ]);
    assert.deepEqual(
      topology.cores.map((core) => core.id),
      [0, 1, 2, 3, 4, 5, 6, 7],
    );
  });

  it("puts each socket on its own NUMA node and L3", () => {
    const topology = topologyOf(fixture.dir);
    assert.deepEqual(
      [0, 8, 4, 12].map((cpu) => record(topology, cpu).numaNode),
      [0, 0, 1, 1],
    );
    assert.notEqual(record(topology, 3).l3, record(topology, 4).l3);
    assert.equal(record(topology, 4).l3, record(topology, 15).l3);
  });

  it("isolates three whole cores per socket", () => {
    const topology = topologyOf(fixture.dir);
    assert.deepEqual(isolatedCores(topology), ["0,8", "1,9", "2,10", "4,12", "5,13", "6,14"]);
    assert.ok(topology.cores.every((core) => !core.partiallyIsolated));
  });
});

describe("fixture example-1s8c", () => {
  const fixture = useFixture("example-1s8c");

  it("has one socket of eight two-thread cores with cores 1 and 2 isolated", () => {
    const topology = topologyOf(fixture.dir);
    assertShape(topology, 1, 8, 2);
    assert.deepEqual(coreLists(topology)[0], ["0,8", "1,9", "2,10", "3,11", "4,12", "5,13", "6,14", "7,15"]);
    assert.deepEqual(isolatedCores(topology), ["1,9", "2,10"]);
  });
});

describe("fixture server-4s256", () => {
  const fixture = useFixture("server-4s256");

  it("has four sockets of 32 two-thread cores whose repeated kernel core ids stay distinct cores", () => {
    const topology = topologyOf(fixture.dir);
    assertShape(topology, 4, 32, 2);
    assert.equal(topology.cores.length, 128);
    const kernelIds = Array.from({ length: 32 }, (_, index) => index * 2);
    for (const socket of topology.sockets)
      assert.deepEqual(
        socket.cores.map((core) => core.kernelCoreId),
        kernelIds,
      );
    // Kernel core_id 0 exists on every socket, each time with its own CPUs.
    assert.deepEqual(
      topology.cores.filter((core) => core.kernelCoreId === 0).map((core) => core.cpus.toPlainList()),
      ["0,128", "32,160", "64,192", "96,224"],
    );
  });

  it("numbers cores 0-127 across the node as lscpu -p does: socket s holds 32s to 32s+31", () => {
    const topology = topologyOf(fixture.dir);
    topology.sockets.forEach((socket, index) => {
      assert.deepEqual(
        socket.cores.map((core) => core.id),
        Array.from({ length: 32 }, (_, core) => 32 * index + core),
        `socket ${socket.id}`,
      );
    });
    const byId = new Map(topology.cores.map((core) => [core.id, core]));
    assert.equal(byId.get(0)?.cpus.toPlainList(), "0,128");
    assert.equal(byId.get(33)?.cpus.toPlainList(), "33,161");
    assert.equal(byId.get(33)?.kernelCoreId, 2);
  });

  it("splits each socket into two NUMA nodes and four L3 groups", () => {
    const topology = topologyOf(fixture.dir);
    assert.deepEqual(
      [0, 15, 16, 144, 32, 48, 255].map((cpu) => record(topology, cpu).numaNode),
      [0, 0, 1, 1, 2, 3, 7],
    );
    assert.deepEqual(
      [0, 7, 8, 136, 31, 40, 255].map((cpu) => record(topology, cpu).l3),
      [0, 0, 1, 1, 3, 5, 15],
    );
    assert.equal(new Set(topology.cores.map((core) => core.numaNode)).size, 8);
  });

  it("isolates cores 4-15 of every socket, both threads", () => {
    const topology = topologyOf(fixture.dir);
    for (const socket of topology.sockets) {
      const isolated = socket.cores.filter((core) => core.isolated).map((core) => core.kernelCoreId);
      assert.deepEqual(
        isolated,
        Array.from({ length: 12 }, (_, index) => (index + 4) * 2),
        `socket ${socket.id}`,
      );
    }
    assert.ok(topology.cores.every((core) => !core.partiallyIsolated));
  });
});

describe("fixture host-2048", () => {
  const fixture = useFixture("host-2048");

  it("has 2048 CPUs: 8 sockets of 128 two-thread cores on 16 NUMA nodes", () => {
    const topology = topologyOf(fixture.dir);
    assertShape(topology, 8, 128, 2);
    assert.equal(new Set(topology.cores.map((core) => core.numaNode)).size, 16);
    assert.deepEqual(topology.sockets[7]?.cores[127]?.cpus.toPlainList(), "1023,2047");
    assert.equal(record(topology, 2047).numaNode, 15);
    assert.equal(isolatedCores(topology).length, 112);
  });
});

describe("fixture offline-mix", () => {
  const fixture = useFixture("offline-mix");

  it("leaves offline CPUs out and keeps a core with one thread online", () => {
    const topology = topologyOf(fixture.dir);
    assert.equal(topology.online.toString(), "0-5,8-14");
    for (const cpu of [6, 7, 15]) assert.equal(topology.cpus.has(cpu), false, `offline CPU ${cpu}`);
    assert.deepEqual(coreLists(topology), [
      ["0,8", "1,9", "2,10", "3,11"],
      ["4,12", "5,13", "14"],
    ]);
    assert.equal(record(topology, 14).numaNode, 1);
  });

  it("numbers socket 1's cores 4, 5 and 6 (kernel core_id 0, 1, 2); offline CPUs take no number", () => {
    const topology = topologyOf(fixture.dir);
    assert.deepEqual(
      topology.sockets.map((socket) => socket.cores.map((core) => core.id)),
      [
        [0, 1, 2, 3],
        [4, 5, 6],
      ],
    );
    assert.deepEqual(
      topology.sockets[1]?.cores.map((core) => core.kernelCoreId),
      [0, 1, 2],
    );
  });

  it("has a partially isolated core", () => {
    const topology = topologyOf(fixture.dir);
    assert.deepEqual(
      topology.cores.filter((core) => core.partiallyIsolated).map((core) => core.cpus.toPlainList()),
      ["1,9"],
    );
    assert.deepEqual(isolatedCores(topology), ["2,10"]);
  });

  it("writes the kernel's offline layout: a cpuN/online of 0 and no topology", () => {
    const cpuRoot = join(fixture.dir, "sys", "devices", "system", "cpu");
    assert.equal(readFileSync(join(cpuRoot, "offline"), "utf8"), "6-7,15\n");
    assert.equal(readFileSync(join(cpuRoot, "cpu6", "online"), "utf8"), "0\n");
    assert.equal(existsSync(join(cpuRoot, "cpu6", "topology")), false);
    assert.equal(existsSync(join(cpuRoot, "cpu0", "online")), false);
    assert.equal(readFileSync(join(cpuRoot, "cpu14", "topology", "thread_siblings_list"), "utf8"), "14\n");
  });
});

describe("fixture sst-bf", () => {
  const fixture = useFixture("sst-bf");

  it("reports base frequencies with power, and SST-BF finds the four fast cores among the isolated ones", () => {
    const topology = topologyOf(fixture.dir, true);
    assertShape(topology, 1, 8, 2);
    assert.equal(record(topology, 0).baseFrequencyKHz, 2100000);
    assert.equal(record(topology, 11).baseFrequencyKHz, 2700000);
    const fast = sstBfCpus(topology);
    assert.equal(fast.toString(), "1,3-4,6,9,11-12,14");
    assert.equal(isolatedCores(topology).length, 6);
    assert.ok(fast.isSubsetOf(topology.isolcpus));
  });

  it("does not read base frequencies without power", () => {
    const records = readCpuRecords({ root: fixture.dir, power: false });
    assert.ok(records.every((cpu) => !("baseFrequencyKHz" in cpu) && !("epp" in cpu)));
    assert.ok(sstBfCpus(buildTopology(records, CpuSet.empty)).isEmpty);
  });
});

describe("fixture sst-cp", () => {
  const fixture = useFixture("sst-cp");

  it("reports each CPU's energy performance preference with power", () => {
    const topology = topologyOf(fixture.dir, true);
    const eppOf = (cpu: number): string | undefined => record(topology, cpu).epp;
    assert.deepEqual([0, 8, 1, 9].map(eppOf), ["performance", "performance", "performance", "performance"]);
    assert.deepEqual([2, 10, 3, 11].map(eppOf), ["balance_power", "balance_power", "balance_power", "balance_power"]);
    assert.deepEqual([4, 7, 12, 15].map(eppOf), ["power", "power", "power", "power"]);
    assert.ok([...topology.cpus.values()].every((cpu) => cpu.baseFrequencyKHz === undefined));
  });

  it("does not read preferences without power", () => {
    assert.ok(readCpuRecords({ root: fixture.dir, power: false }).every((cpu) => !("epp" in cpu)));
  });
});

describe("fixtures in general", () => {
  it("core-major numbering makes siblings adjacent", () => {
    const dir = tempDir();
    try {
      generateSysfs(dir, { sockets: 2, coresPerSocket: 2, threadsPerCore: 2, cpuNumbering: "core-major" });
      assert.deepEqual(coreLists(topologyOf(dir)), [
        ["0,1", "2,3"],
        ["4,5", "6,7"],
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the generator refuses to write over an existing system root", () => {
    const dir = tempDir();
    try {
      generateSysfs(dir, fixtures["plain-1s2c"] as NonNullable<(typeof fixtures)[string]>);
      assert.throws(() => generateSysfs(dir, { sockets: 1, coresPerSocket: 1, threadsPerCore: 1 }), /already exists/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the CLI lists fixtures and generates one by name", () => {
    const list = execFileSync(process.execPath, [generator, "--list"], { encoding: "utf8" });
    for (const name of Object.keys(fixtures)) assert.match(list, new RegExp(`^${name}\\t`, "m"));
    const dir = tempDir();
    try {
      execFileSync(process.execPath, [generator, "example-2s16c", join(dir, "root")], { encoding: "utf8" });
      assert.equal(readCpuRecords({ root: join(dir, "root"), power: false }).length, 16);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Whether util-linux's lscpu is installed here, to check the core ids against it. */
const hasLscpu = spawnSync("lscpu", ["--version"]).error === undefined;

/**
 * lscpu -p's Core column (CPU -> core) for a generated tree. lscpu also reads the sibling hex
 * masks and /proc/cpuinfo, which the generator does not write, so they are added first.
 */
function lscpuCores(dir: string): Map<number, number> {
  const cpuRoot = join(dir, "sys", "devices", "system", "cpu");
  const online: number[] = [];
  for (const entry of readdirSync(cpuRoot)) {
    const topology = join(cpuRoot, entry, "topology");
    if (!/^cpu\d+$/.test(entry) || !existsSync(topology)) continue;
    online.push(Number(entry.slice(3)));
    for (const name of ["thread_siblings", "core_siblings"]) {
      writeFileSync(join(topology, name), `${CpuSet.parse(readFileSync(join(topology, `${name}_list`), "utf8")).toKernelMask()}\n`);
    }
  }
  writeFileSync(
    join(dir, "proc", "cpuinfo"),
    online
      .sort((a, b) => a - b)
      .map((cpu) => `processor\t: ${cpu}\nvendor_id\t: GenuineIntel\n\n`)
      .join(""),
  );
  const output = execFileSync("lscpu", [`--sysroot=${dir}`, "--parse=CPU,CORE"], { encoding: "utf8" });
  const cores = new Map<number, number>();
  for (const line of output.split("\n")) {
    const match = /^(\d+),(\d+)$/.exec(line);
    if (match !== null) cores.set(Number(match[1]), Number(match[2]));
  }
  return cores;
}

/** Each online CPU's core id as cmk numbers it. */
function cmkCores(topology: Topology): Map<number, number> {
  return new Map(topology.cores.flatMap((core) => core.cpus.ids.map((cpu) => [cpu, core.id] as const)).sort(([a], [b]) => a - b));
}

describe("core ids are lscpu -p's Core column", () => {
  const shapes: Record<string, FixtureSpec> = {
    "server-4s256": fixtures["server-4s256"] as FixtureSpec,
    "offline-mix": fixtures["offline-mix"] as FixtureSpec,
    // Two sockets of SMT cores with siblings adjacent and sparse kernel core ids that repeat per socket.
    "2-socket SMT, siblings adjacent": { sockets: 2, coresPerSocket: 3, threadsPerCore: 2, cpuNumbering: "core-major", coreIdStride: 4, offline: "3" },
  };
  for (const [name, spec] of Object.entries(shapes)) {
    it(name, { skip: !hasLscpu && "lscpu is not installed here" }, () => {
      const dir = tempDir();
      try {
        generateSysfs(dir, spec);
        const topology = topologyOf(dir);
        assert.deepEqual(cmkCores(topology), lscpuCores(dir));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it("2-socket SMT with siblings adjacent: ids in order of each core's lowest online CPU", () => {
    const dir = tempDir();
    try {
      generateSysfs(dir, shapes["2-socket SMT, siblings adjacent"] as FixtureSpec);
      const topology = topologyOf(dir);
      // CPU 3 is offline: core 1 keeps CPU 2 alone.
      assert.deepEqual(coreLists(topology), [
        ["0,1", "2", "4,5"],
        ["6,7", "8,9", "10,11"],
      ]);
      assert.deepEqual(
        topology.cores.map((core) => core.id),
        [0, 1, 2, 3, 4, 5],
      );
      assert.deepEqual(
        topology.cores.map((core) => core.kernelCoreId),
        [0, 4, 8, 0, 4, 8],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("reader fallbacks and errors", () => {
  const fixture = useFixture("example-2s16c");
  const cpuRoot = (): string => join(fixture.dir, "sys", "devices", "system", "cpu");

  it("an L3 without an id is named by its lowest CPU, and missing die_id reads as die 0", () => {
    const dir = tempDir();
    try {
      generateSysfs(dir, fixtures["example-2s16c"] as NonNullable<(typeof fixtures)[string]>);
      const root = join(dir, "sys", "devices", "system", "cpu");
      for (const entry of readdirSync(root).filter((name) => /^cpu\d+$/.test(name))) {
        rmSync(join(root, entry, "cache", "index3", "id"));
        rmSync(join(root, entry, "topology", "die_id"));
        rmSync(join(root, entry, "topology", "die_cpus_list"));
      }
      const topology = topologyOf(dir);
      assert.deepEqual(
        [0, 15].map((cpu) => record(topology, cpu).l3),
        [0, 4],
      );
      assert.ok([...topology.cpus.values()].every((cpu) => cpu.die === 0));
      assertShape(topology, 2, 4, 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("no NUMA directory means node -1, no L3 means L3 -1", () => {
    const dir = tempDir();
    try {
      generateSysfs(dir, fixtures["example-2s16c"] as NonNullable<(typeof fixtures)[string]>);
      rmSync(join(dir, "sys", "devices", "system", "node"), { recursive: true });
      const root = join(dir, "sys", "devices", "system", "cpu");
      for (const entry of readdirSync(root).filter((name) => /^cpu\d+$/.test(name))) {
        rmSync(join(root, entry, "cache", "index3"), { recursive: true, force: true });
      }
      const records = readCpuRecords({ root: dir, power: false });
      assert.equal(records.length, 16);
      assert.ok(records.every((cpu) => cpu.numaNode === -1 && cpu.l3 === -1));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a root without sysfs is a clear error naming the file and the variable", () => {
    const dir = tempDir();
    try {
      assert.throws(
        () => readCpuRecords({ root: dir, power: false }),
        (error: unknown) => {
          assert.ok(error instanceof CmkError);
          assert.equal(error.kind, "failure");
          assert.ok(error.message.startsWith(`cannot read CPU topology from ${dir}/sys/devices/system/cpu/online: ENOENT`), error.message);
          assert.match(error.message, /CMK_DEV_LSCPU_SYSFS/);
          assert.doesNotMatch(error.message, /\n/);
          return true;
        },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a malformed or missing mandatory file is an error naming it", () => {
    // CPU 0's: the reader takes a core's core_id from its first CPU.
    const coreId = join(cpuRoot(), "cpu0", "topology", "core_id");
    const original = readFileSync(coreId, "utf8");
    try {
      writeFileSync(coreId, "three\n");
      assert.throws(
        () => readCpuRecords({ root: fixture.dir, power: false }),
        (error: unknown) => error instanceof CmkError && error.message.includes(coreId) && /not an integer/.test(error.message),
      );
      rmSync(coreId);
      assert.throws(
        () => readCpuRecords({ root: fixture.dir, power: false }),
        (error: unknown) => error instanceof CmkError && error.message.includes(`${coreId}: ENOENT`),
      );
      writeFileSync(join(cpuRoot(), "online"), "0-x\n");
      assert.throws(
        () => readCpuRecords({ root: fixture.dir, power: false }),
        (error: unknown) => error instanceof CmkError && error.message.includes(join(cpuRoot(), "online")) && /CPU list/.test(error.message),
      );
    } finally {
      writeFileSync(coreId, original);
      writeFileSync(join(cpuRoot(), "online"), "0-15\n");
    }
  });
});

describe("this machine's sysfs", () => {
  const onlineFile = "/sys/devices/system/cpu/online";

  it("reads every online CPU, as many as nproc counts", { skip: !existsSync(onlineFile) && "no sysfs here" }, () => {
    const records = readCpuRecords({ root: "/", power: true });
    assert.deepEqual(
      records.map((cpu) => cpu.id),
      CpuSet.parse(readFileSync(onlineFile, "utf8")).ids,
    );
    // nproc counts the CPUs this process may run on, which can be fewer than those online.
    const nproc = Number(execFileSync("nproc", { encoding: "utf8" }).trim());
    assert.ok(nproc >= 1 && nproc <= records.length, `nproc ${nproc} vs ${records.length} online`);
    const topology = buildTopology(records, CpuSet.empty);
    assert.equal(
      topology.cores.reduce((sum, core) => sum + core.cpus.size, 0),
      records.length,
    );
    if (hasLscpu) {
      const lscpu = execFileSync("lscpu", ["--parse=CPU,CORE"], { encoding: "utf8" })
        .split("\n")
        .filter((line) => /^\d+,\d+$/.test(line));
      assert.deepEqual(
        [...cmkCores(topology)].map(([cpu, core]) => `${cpu},${core}`),
        lscpu,
        "core ids as lscpu -p prints them",
      );
    }
    for (const cpu of records) {
      const coreId = Number(readFileSync(`/sys/devices/system/cpu/cpu${cpu.id}/topology/core_id`, "utf8"));
      assert.equal(cpu.core, coreId, `core_id of CPU ${cpu.id}`);
    }
  });
});
