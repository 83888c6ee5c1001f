// The node drawn for a terminal: sockets, NUMA nodes and cores in a grid, each CPU marked with
// its pool and whether a task holds it, with a legend and pool totals.
import { cpuListsOf, type NodeState } from "./node-state.ts";
import { poolNames, type PoolName } from "./pools.ts";
import type { Topology } from "./topology.ts";

const poolStyle: Readonly<Record<PoolName, { letter: string; colour: number }>> = {
  exclusive: { letter: "E", colour: 31 },
  "exclusive-non-isolcpus": { letter: "N", colour: 35 },
  shared: { letter: "S", colour: 33 },
  infra: { letter: "I", colour: 32 },
};

export function renderNodeMap(topology: Topology, state: NodeState | null, options: { colour: boolean; width: number }): string {
  const poolOf = new Map<number, PoolName>();
  const taken = new Set<number>();
  if (state !== null) {
    for (const pool of state.pools.values()) {
      for (const list of cpuListsOf(pool)) {
        for (const cpu of list.cpus) {
          poolOf.set(cpu, pool.name);
          if (list.tasks.length > 0) taken.add(cpu);
        }
      }
    }
  }
  const paint = (text: string, colour: number | null, bold: boolean): string => {
    if (!options.colour || (colour === null && !bold)) return text;
    return `\x1b[${[bold ? "1" : "", colour === null ? "2" : String(colour)].filter(Boolean).join(";")}m${text}\x1b[0m`;
  };
  const cellWidth = String(topology.online.last ?? 0).length + 2;
  const cpuCell = (cpu: number): string => {
    const pool = poolOf.get(cpu);
    const style = pool === undefined ? null : poolStyle[pool];
    const mark = `${style?.letter ?? "."}${taken.has(cpu) ? "*" : topology.isolcpus.has(cpu) ? "~" : " "}`;
    return paint(`${String(cpu).padStart(cellWidth - 2)}${mark}`, style?.colour ?? null, taken.has(cpu));
  };
  const lines: string[] = [];
  for (const socket of topology.sockets) {
    lines.push(`socket ${socket.id}`);
    const numaNodes = [...new Set(socket.cores.map((core) => core.numaNode))];
    for (const numa of numaNodes) {
      const cores = socket.cores.filter((core) => core.numaNode === numa);
      const label = numa < 0 ? "  " : `  numa ${numa}`;
      const cells = cores.map((core) => `[${[...core.cpus].map(cpuCell).join(" ")}]`);
      const visibleWidth = (cores[0]?.cpus.size ?? 1) * (cellWidth + 1) + 2;
      const perLine = Math.max(1, Math.floor((options.width - label.length - 2) / visibleWidth));
      for (let index = 0; index < cells.length; index += perLine) {
        lines.push(`${index === 0 ? label.padEnd(label.length) : " ".repeat(label.length)}  ${cells.slice(index, index + perLine).join("")}`);
      }
    }
  }
  lines.push("", `legend: ${poolNames.map((name) => paint(`${poolStyle[name].letter} ${name}`, poolStyle[name].colour, false)).join("  ")}  . no pool  * taken  ~ isolated, free`);
  if (state === null) {
    lines.push("pools: none (run cmk init)");
  } else {
    for (const pool of state.pools.values()) {
      const lists = [...cpuListsOf(pool)];
      const busy = lists.filter((list) => list.tasks.length > 0).length;
      const tasks = new Set(lists.flatMap((list) => list.tasks)).size;
      const cpus = lists.reduce((count, list) => count + list.cpus.size, 0);
      lines.push(`${pool.name.padEnd(24)} ${String(lists.length).padStart(4)} lists ${String(cpus).padStart(5)} CPUs ${String(busy).padStart(4)} taken ${String(tasks).padStart(5)} tasks`);
    }
  }
  return `${lines.join("\n")}\n`;
}
