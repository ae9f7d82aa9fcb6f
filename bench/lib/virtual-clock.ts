import { setImmediate as nextTurn } from 'node:timers/promises';
import type { VirtualTimeScheduler } from 'rxjs';

/**
 * Runs a virtual clock up to `endMs`: fires the due timers of the next instant, then lets every
 * promise settle (one event-loop turn) before time moves on, so async code (a provider call that
 * answers with a promise, the engine's group commit) behaves as it would in real time, only
 * without waiting. Deterministic given the same random numbers.
 */
export async function runVirtualClock(clock: VirtualTimeScheduler, endMs: number): Promise<void> {
  for (;;) {
    await nextTurn();
    const next = clock.actions[0];
    if (next === undefined || next.delay > endMs) {
      clock.frame = endMs;
      return;
    }
    clock.maxFrames = next.delay;
    clock.flush();
  }
}

/** A seeded uniform [0, 1) generator (mulberry32), so each round's jitter differs but repeats. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
