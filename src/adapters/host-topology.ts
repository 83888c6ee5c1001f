// The node's topology as init and node-report see it: sysfs plus isolcpus from the kernel command line.
import { parseIsolcpus } from "../core/isolcpus.ts";
import { buildTopology, type Topology } from "../core/topology.ts";
import { readCmdline } from "./procfs.ts";
import { readCpuRecords } from "./sysfs.ts";

export interface HostTopology {
  readonly topology: Topology;
  readonly warnings: readonly string[];
}

/** `sysRoot` holds sys/devices/system ("/" normally); `kernelFs` the kernel command line (cmdline). */
export function readHostTopology(sysRoot: string, kernelFs: string, power: boolean): HostTopology {
  const records = readCpuRecords({ root: sysRoot, power });
  const lastCpu = records.reduce((last, record) => Math.max(last, record.id), 0);
  const isolcpus = parseIsolcpus(readCmdline(kernelFs), lastCpu);
  return { topology: buildTopology(records, isolcpus.cpus), warnings: isolcpus.warnings };
}
