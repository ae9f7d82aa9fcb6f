import { setImmediate as nextTurn } from 'node:timers/promises';
import { VirtualTimeScheduler } from 'rxjs';

/**
 * Virtual time for code that mixes scheduler timers with promises (the engine: polls are timers,
 * provider calls and store writes are promises). Pass it as the engine's `scheduler`; nothing
 * happens on the clock until the test calls {@link VirtualClock.advance}, which runs the timers
 * due in order and lets the promise work each one starts settle before the next one.
 *
 * `TestScheduler.run` cannot drive such code: it flushes every timer synchronously, before any
 * promise has settled.
 *
 * @example
 * const clock = new VirtualClock();
 * const engine = await createEngine({ providers, store: new MemoryStore(), scheduler: clock });
 * const done = engine.waitFor(id);
 * await clock.advance(1_000);
 */
export class VirtualClock extends VirtualTimeScheduler {
  constructor(start = Date.UTC(2025, 0, 1)) {
    super();
    this.frame = start;
  }

  /** Moves time forward by `ms`, running each timer that falls due and settling its promises. */
  async advance(ms: number): Promise<void> {
    const until = this.frame + ms;
    for (;;) {
      await settle();
      const next = this.actions[0];
      if (next === undefined || next.delay > until) break;
      this.maxFrames = next.delay;
      this.flush();
    }
    this.frame = until;
  }

  /** Advances in steps of `stepMs` until `done()` holds; fails after `limitMs` of virtual time. */
  async until(done: () => boolean, options: { stepMs?: number; limitMs?: number } = {}): Promise<void> {
    const stepMs = options.stepMs ?? 5;
    const limit = this.frame + (options.limitMs ?? 60_000);
    await settle();
    while (!done()) {
      if (this.frame >= limit) throw new Error(`not reached within ${options.limitMs ?? 60_000} ms of virtual time`);
      await this.advance(stepMs);
    }
  }
}

/** Lets every promise chain that needs no real timer run to its end. */
async function settle(): Promise<void> {
  // A few turns: a chain may hop through more than one macrotask (a stream's end, a write).
  for (let i = 0; i < 3; i++) await nextTurn();
}
