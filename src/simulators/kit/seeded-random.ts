import { randomInt } from 'node:crypto';

/** A source of uniform random numbers in [0, 1), like `Math.random`. */
export type Random = () => number;

/**
 * Creates a deterministic pseudo-random source (mulberry32).
 *
 * Simulators take a `seed` option so tests can reproduce every decision (job outcome,
 * durations, faults). Without a seed the generator is seeded from `node:crypto`.
 *
 * @example
 * const random = createRandom(42);
 * const a = random(); // always the same first value for seed 42
 */
export function createRandom(seed?: number): Random {
  let state = (seed ?? randomInt(0, 2 ** 32 - 1)) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Picks one element of a non-empty list with the given random source.
 *
 * @example
 * pick(createRandom(1), ['a', 'b']); // 'a' or 'b', stable for seed 1
 */
export function pick<T>(random: Random, items: readonly [T, ...T[]]): T {
  const index = Math.min(items.length - 1, Math.floor(random() * items.length));
  return items[index] ?? items[0];
}

/**
 * Draws a number uniformly from [min, max].
 *
 * @example
 * between(createRandom(1), 10, 20); // a value from 10 to 20
 */
export function between(random: Random, min: number, max: number): number {
  return min + (max - min) * random();
}

/**
 * A lowercase hex id of `length` digits, one draw a digit (deterministic per seed).
 *
 * @example
 * hexId(createRandom(1), 24); // the same 24 digits for seed 1
 */
export function hexId(random: Random, length: number): string {
  let id = '';
  while (id.length < length) id += Math.floor(random() * 16).toString(16);
  return id;
}

/**
 * A version-4-shaped UUID drawn from 32 hex digits of the seeded source.
 *
 * @example
 * seededUuid(createRandom(1)); // e.g. '3f1c…-…-4…-a…-…', the same for seed 1
 */
export function seededUuid(random: Random): string {
  const h = hexId(random, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20)}`;
}
