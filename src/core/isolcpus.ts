// The CPUs the kernel keeps out of scheduler load balancing, read from the kernel command line.
// Accepts the kernel's full isolcpus syntax and never fails: anything it cannot use becomes a warning.
import { CpuSet } from "./cpuset.ts";
import { CmkError } from "./errors.ts";

export interface Isolcpus {
  /** CPUs isolated from the scheduler's load balancing (the `domain` isolation). */
  readonly cpus: CpuSet;
  /** Flags given with the list (`domain`, `nohz`, `managed_irq`). */
  readonly flags: readonly string[];
  readonly warnings: readonly string[];
}

const knownFlags = new Set(["domain", "nohz", "managed_irq"]);

/** Splits a kernel command line into parameters, honouring double quotes; stops at `--` (init's arguments). */
export function kernelParameters(cmdline: string): string[] {
  const parameters: string[] = [];
  const pattern = /(?:[^\s"]+|"[^"]*")+/g;
  for (const match of cmdline.matchAll(pattern)) {
    const token = match[0];
    if (token === "--") break;
    parameters.push(token.replaceAll('"', ""));
  }
  return parameters;
}

export function parseIsolcpus(cmdline: string, lastCpu?: number): Isolcpus {
  const warnings: string[] = [];
  const flags = new Set<string>();
  let cpus = CpuSet.empty;
  for (const parameter of kernelParameters(cmdline)) {
    const separator = parameter.indexOf("=");
    if (separator < 0 || parameter.slice(0, separator) !== "isolcpus") continue;
    const value = parameter.slice(separator + 1);
    const ownFlags = new Set<string>();
    let listed = CpuSet.empty;
    for (const item of value.split(",")) {
      if (item === "") continue;
      if (knownFlags.has(item)) {
        ownFlags.add(item);
        continue;
      }
      try {
        listed = listed.union(CpuSet.parse(item, lastCpu === undefined ? { what: "isolcpus item" } : { lastCpu, what: "isolcpus item" }));
      } catch (error) {
        if (!(error instanceof CmkError)) throw error;
        warnings.push(`ignoring "${item}" in kernel parameter ${parameter}: not a CPU, range or known flag (domain, nohz, managed_irq)`);
      }
    }
    for (const flag of ownFlags) flags.add(flag);
    // Without flags the kernel applies `domain`; with flags, only `domain` removes CPUs from load balancing.
    if (ownFlags.size > 0 && !ownFlags.has("domain")) {
      if (!listed.isEmpty) {
        warnings.push(`kernel parameter ${parameter} has no "domain" flag, so CPUs ${listed} stay in scheduler load balancing; treating them as not isolated`);
      }
      continue;
    }
    cpus = cpus.union(listed);
  }
  return { cpus, flags: [...flags], warnings };
}
