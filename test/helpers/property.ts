// Settings shared by the property tests (test/unit/*.property.test.ts, fast-check): a fixed seed,
// so every run tries the same cases and a failure reproduces, and a number of runs per property
// that keeps the whole property suite within seconds on 2 cores. On failure fast-check prints the
// seed, the path to the shrunk counterexample and the counterexample itself.
//
//   CMK_PROPERTY_SEED=<n>    another seed (a failure's seed replays it; "random" for a fresh one)
//   CMK_PROPERTY_RUNS=<x>    multiply every property's runs by x (e.g. 20 for a longer search)
import fc from "fast-check";

const seedText = process.env["CMK_PROPERTY_SEED"];
const scaleText = process.env["CMK_PROPERTY_RUNS"];

/** The seed of every property: fixed unless CMK_PROPERTY_SEED says otherwise. */
export const propertySeed = seedText === "random" ? Date.now() ^ (Math.random() * 0x100000000) : seedText === undefined ? 20261203 : Number(seedText);

const scale = scaleText === undefined ? 1 : Number(scaleText);
if (!Number.isInteger(propertySeed) || !(scale > 0)) throw new Error("CMK_PROPERTY_SEED must be an integer or random, CMK_PROPERTY_RUNS a positive number");

/** fast-check's parameters for a property tried `runs` times (scaled by CMK_PROPERTY_RUNS). */
export function runs<T = unknown>(count: number): fc.Parameters<T> {
  return { seed: propertySeed, numRuns: Math.max(1, Math.round(count * scale)) };
}

export { fc };
