// The node drawn for a terminal: sockets, NUMA nodes and cores in a grid, each core labelled with
// its core id (what --excl-non-isolcpus takes) and each CPU marked with its pool, whether a task
// holds it, and whether a failed check involves it; then a legend, pool totals and the checks.
// Every line fits the given width where a single item can. Pure: lines out, no terminal codes
// beyond colour.
import { type CheckName, checkNames, failedChecks, type NodeChecks } from "./checks.ts";
import { CpuSet } from "./cpuset.ts";
import { cpuListsOf, type NodeState } from "./node-state.ts";
import { type PoolName, poolNames } from "./pools.ts";
import type { Core, Topology } from "./topology.ts";

const poolStyle: Readonly<Record<PoolName, { letter: string; colour: number }>> = {
  exclusive: { letter: "E", colour: 31 },
  "exclusive-non-isolcpus": { letter: "N", colour: 35 },
  shared: { letter: "S", colour: 33 },
  infra: { letter: "I", colour: 32 },
};

export interface MapInput {
  readonly topology: Topology;
  readonly state: NodeState | null;
  readonly checks: NodeChecks;
  /** Notes about the node to show under the map (isolcpus the kernel command line spelt oddly). */
  readonly notes: readonly string[];
}

export interface MapOptions {
  readonly colour: boolean;
  /** Columns to fit in; narrower than 20 is taken as 20. */
  readonly width: number;
}

/** A piece of text and how many columns it takes (colour codes take none). */
interface Piece {
  readonly text: string;
  readonly width: number;
}

export function renderNodeMap(input: MapInput, options: MapOptions): string[] {
  const width = Math.max(20, options.width);
  const paint = painter(options.colour);
  return [
    ...gridLines(input, width, paint),
    "",
    ...wrapPieces("legend: ", legendPieces(paint), width),
    ...poolLines(input.state, width),
    ...checkLines(input.checks, width, paint),
    ...input.notes.flatMap((note) => wrapWords("warning: ", note, width)),
  ];
}

type Paint = (text: string, codes: readonly number[]) => Piece;

function painter(colour: boolean): Paint {
  return (text, codes) => ({ text: colour && codes.length > 0 ? `\x1b[${codes.join(";")}m${text}\x1b[0m` : text, width: text.length });
}

/** Sockets, then per NUMA node a row of cores, wrapped to the width. */
function gridLines(input: MapInput, width: number, paint: Paint): string[] {
  const { topology } = input;
  const cell = cellPainter(input, paint);
  const idWidth = String(Math.max(0, ...topology.cores.map((core) => core.id))).length + 1;
  const lines: string[] = [];
  for (const socket of topology.sockets) {
    lines.push(`socket ${socket.id}`);
    for (const numa of [...new Set(socket.cores.map((core) => core.numaNode))]) {
      const label = numa < 0 ? "  " : `  numa ${numa}  `;
      const cores = socket.cores.filter((core) => core.numaNode === numa).map((core) => coreCell(core, idWidth, cell));
      lines.push(...wrapPieces(label, cores, width, " "));
    }
  }
  return lines;
}

/** How one CPU looks: its id, its pool's letter, and a mark (! failed check, * taken, ~ isolated and free). */
function cellPainter(input: MapInput, paint: Paint): (cpu: number) => Piece {
  const { topology, state, checks } = input;
  const poolOf = new Map<number, PoolName>();
  const taken = new Set<number>();
  for (const pool of state?.pools.values() ?? []) {
    for (const list of cpuListsOf(pool)) {
      for (const cpu of list.cpus) {
        poolOf.set(cpu, pool.name);
        if (list.tasks.length > 0) taken.add(cpu);
      }
    }
  }
  const failing = failedChecks(checks).reduce((all, name) => all.union(checks[name].cpus), CpuSet.empty);
  const cpuWidth = String(topology.online.last ?? 0).length;
  return (cpu) => {
    const pool = poolOf.get(cpu);
    const style = pool === undefined ? undefined : poolStyle[pool];
    const mark = failing.has(cpu) ? "!" : taken.has(cpu) ? "*" : topology.isolcpus.has(cpu) ? "~" : " ";
    const codes = [...(taken.has(cpu) ? [1] : []), ...(failing.has(cpu) ? [7] : []), ...(style === undefined ? [2] : [style.colour])];
    return paint(`${String(cpu).padStart(cpuWidth)}${style?.letter ?? "."}${mark}`, codes);
  };
}

function coreCell(core: Core, idWidth: number, cell: (cpu: number) => Piece): Piece {
  const cpus = [...core.cpus].map(cell);
  const label = `c${core.id}`.padEnd(idWidth);
  return {
    text: `${label}[${cpus.map((piece) => piece.text).join(" ")}]`,
    width: label.length + 1 + cpus.reduce((sum, piece) => sum + piece.width + 1, 0),
  };
}

function legendPieces(paint: Paint): Piece[] {
  return [
    ...poolNames.map((name) => paint(`${poolStyle[name].letter} ${name}`, [poolStyle[name].colour])),
    paint(". no pool", []),
    paint("* taken", []),
    paint("~ isolated, free", []),
    paint("! in a failed check", []),
    paint("c<n> core id", []),
  ];
}

/** Pieces after a prefix, as many to a line as fit; continuation lines are indented like the prefix. */
function wrapPieces(prefix: string, pieces: readonly Piece[], width: number, separator = "  "): string[] {
  const lines: string[] = [];
  let text = prefix;
  let used = prefix.length;
  let empty = true;
  for (const piece of pieces) {
    if (!empty && used + separator.length + piece.width > width) {
      lines.push(text);
      text = " ".repeat(prefix.length);
      used = prefix.length;
      empty = true;
    }
    text += `${empty ? "" : separator}${piece.text}`;
    used += (empty ? 0 : separator.length) + piece.width;
    empty = false;
  }
  lines.push(text);
  return lines;
}

/** A sentence after a prefix, wrapped at spaces; continuation lines are indented like the prefix. */
function wrapWords(prefix: string, text: string, width: number): string[] {
  return wrapPieces(
    prefix,
    text.split(" ").map((word) => ({ text: word, width: word.length })),
    width,
    " ",
  );
}

/** A line of totals per pool, its figures wrapped under each other when the width is short. */
function poolLines(state: NodeState | null, width: number): string[] {
  if (state === null) return ["pools: none (run cmk init)"];
  return [...state.pools.values()].flatMap((pool) => {
    const lists = [...cpuListsOf(pool)];
    const busy = lists.filter((list) => list.tasks.length > 0).length;
    const tasks = new Set(lists.flatMap((list) => list.tasks)).size;
    const cpus = lists.reduce((count, list) => count + list.cpus.size, 0);
    const figures = [
      `${String(lists.length).padStart(4)} lists`,
      `${String(cpus).padStart(5)} CPUs`,
      `${String(busy).padStart(4)} taken`,
      `${String(tasks).padStart(5)} tasks`,
    ];
    return wrapPieces(
      `${pool.name.padEnd(24)} `,
      figures.map((text) => ({ text, width: text.length })),
      width,
      " ",
    );
  });
}

/** One line with every check's state, then each error and warning, wrapped. */
function checkLines(checks: NodeChecks, width: number, paint: Paint): string[] {
  const state = (name: CheckName): Piece => {
    const check = checks[name];
    if (check.errors.length > 0) return paint(`${name} FAILED`, [1, 31]);
    return check.warnings.length > 0 ? paint(`${name} warning`, [33]) : paint(`${name} ok`, []);
  };
  const details = checkNames.flatMap((name) => [
    ...checks[name].errors.flatMap((error) => wrapWords(`  ${name}: `, error, width)),
    ...checks[name].warnings.flatMap((warning) => wrapWords(`  ${name} warning: `, warning, width)),
  ]);
  return [...wrapPieces("checks: ", checkNames.map(state), width, ", "), ...details];
}
