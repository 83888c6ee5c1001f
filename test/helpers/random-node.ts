// Random nodes for property tests: a shape (sockets, cores, threads, NUMA and L3 splits, core-id
// scheme, CPU numbering), then offline CPUs, isolcpus (whole cores, sometimes odd CPUs, with or
// without the kernel's flags), SST-BF base frequencies and SST-CP preferences, built through
// fixtureTopology, the in-memory twin of the sysfs trees gen-sysfs-fixture writes.
import { type FixtureSpec, fixtureTopology } from "../../scripts/gen-sysfs-fixture.ts";
import { CpuSet } from "../../src/core/cpuset.ts";
import type { Topology } from "../../src/core/topology.ts";
import { fc } from "./property.ts";

export interface Node {
  readonly spec: FixtureSpec;
  readonly topology: Topology;
}

/** A random node: shape first, then which CPUs are offline and isolated and their power attributes. */
export const nodeArbitrary: fc.Arbitrary<Node> = fc
  .record({
    sockets: fc.integer({ min: 1, max: 4 }),
    coresPerSocket: fc.integer({ min: 1, max: 8 }),
    threadsPerCore: fc.integer({ min: 1, max: 2 }),
    numa: fc.integer({ min: 1, max: 2 }),
    l3: fc.integer({ min: 1, max: 4 }),
    coreIdsRepeatAcrossSockets: fc.boolean(),
    coreIdStride: fc.integer({ min: 1, max: 3 }),
    cpuNumbering: fc.constantFrom("thread-major" as const, "core-major" as const),
  })
  .chain((shape) => {
    const total = shape.sockets * shape.coresPerSocket * shape.threadsPerCore;
    const cpuFlags = fc.array(fc.boolean(), { minLength: total, maxLength: total });
    return fc.record({
      shape: fc.constant(shape),
      // Mostly none offline; CPU 0 never (the kernel keeps it).
      offline: fc.oneof({ weight: 3, arbitrary: fc.constant([] as boolean[]) }, { weight: 1, arbitrary: cpuFlags }),
      // Isolate whole cores mostly (per-core choice), sometimes odd CPUs too (partial isolation).
      isolatedCores: fc.array(fc.boolean(), { minLength: shape.sockets * shape.coresPerSocket, maxLength: shape.sockets * shape.coresPerSocket }),
      isolation: fc.constantFrom("none", "cores", "cores+cpus"),
      strayCpus: cpuFlags,
      isolcpusFlags: fc.constantFrom("", "domain,managed_irq,"),
      // SST-BF frequencies on half the nodes, SST-CP preferences on a fifth (fast-check's freq n gives undefined once in n).
      frequencies: fc.option(cpuFlags, { nil: undefined, freq: 2 }),
      epp: fc.oneof(
        { weight: 4, arbitrary: fc.constant(undefined) },
        {
          weight: 1,
          arbitrary: fc.array(fc.constantFrom("performance", "balance_performance", "balance_power", "power"), { minLength: total, maxLength: total }),
        },
      ),
    });
  })
  .map(({ shape, offline, isolatedCores, isolation, strayCpus, isolcpusFlags, frequencies, epp }) => {
    const totalCores = shape.sockets * shape.coresPerSocket;
    const threadMajor = shape.cpuNumbering === "thread-major";
    // The global core a CPU belongs to under the spec's numbering (gen-sysfs-fixture's placeCpus).
    const coreOf = (cpu: number): number => (threadMajor ? cpu % totalCores : Math.floor(cpu / shape.threadsPerCore));
    const offlineCpus = offline.flatMap((flag, cpu) => (flag && cpu !== 0 ? [cpu] : []));
    const isolated = [
      ...(isolation === "none" ? [] : strayCpus.flatMap((_flag, cpu) => (isolatedCores[coreOf(cpu)] ? [cpu] : []))),
      ...(isolation === "cores+cpus" ? strayCpus.flatMap((flag, cpu) => (flag ? [cpu] : [])) : []),
    ];
    const spec: FixtureSpec = {
      sockets: shape.sockets,
      coresPerSocket: shape.coresPerSocket,
      threadsPerCore: shape.threadsPerCore,
      numaPerSocket: Math.min(shape.numa, shape.coresPerSocket),
      l3PerSocket: Math.min(shape.l3, shape.coresPerSocket),
      coreIdsRepeatAcrossSockets: shape.coreIdsRepeatAcrossSockets,
      coreIdStride: shape.coreIdStride,
      cpuNumbering: shape.cpuNumbering,
      ...(offlineCpus.length === 0 ? {} : { offline: CpuSet.of(offlineCpus).toString() }),
      cmdline: `BOOT_IMAGE=/vmlinuz root=/dev/sda1${isolated.length === 0 ? "" : ` isolcpus=${isolcpusFlags}${CpuSet.of(isolated).toString()}`}`,
      ...(frequencies === undefined ? {} : { baseFrequencyKHz: (cpu: number) => (frequencies[coreOf(cpu)] ? 2700000 : 2100000) }),
      ...(epp === undefined ? {} : { epp: (cpu: number) => epp[coreOf(cpu)] }),
    };
    // A counterexample prints as the spec that rebuilds it, with the per-core power attributes.
    const described = JSON.stringify({ ...spec, fastCores: frequencies, epp });
    return { spec, topology: fixtureTopology(spec), [fc.toStringMethod]: () => `fixtureTopology(${described})` };
  });
