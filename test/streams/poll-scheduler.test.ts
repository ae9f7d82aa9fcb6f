import { asyncScheduler, map, of, timer, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { PollScheduler, type LaneEvent, type PollOutcome, type PollPolicy } from '../../src/streams/poll-scheduler.js';

const policy = (overrides: Partial<PollPolicy> = {}): PollPolicy => ({
  intervalMs: 10,
  backoff: { initialMs: 20, maxMs: 1000 },
  rate: { limit: 100, windowMs: 10 },
  maxInFlight: 10,
  ...overrides,
});

const ok: PollOutcome = { type: 'ok', terminal: false };
const done: PollOutcome = { type: 'ok', terminal: true };

/**
 * Runs `body` in virtual time (TestScheduler) and returns the polls made, as `frame:jobId`
 * words. `answers[id]` gives a job's successive poll outcomes (the last one repeats). The
 * scheduler closes at `endAt`.
 */
function scenario(
  endAt: number,
  answers: Record<string, PollOutcome[]>,
  body: (polls: PollScheduler, schedule: (at: number, work: () => void) => void) => void,
  options: { random?: () => number; latency?: number; laneEvents?: LaneEvent[]; tickMs?: number | 'default' } = {},
): string {
  const calls: string[] = [];
  new TestScheduler((actual, expected) => expect(actual).toEqual(expected)).run(() => {
    const next = (id: string): PollOutcome => {
      const list = answers[id] ?? [ok];
      return (list.length > 1 ? list.shift() : list[0]) ?? ok;
    };
    const polls = new PollScheduler({
      poll: (id): Observable<PollOutcome> => {
        calls.push(`${asyncScheduler.now()}:${id}`);
        const outcome = next(id);
        return options.latency === undefined ? of(outcome) : timer(options.latency).pipe(map(() => outcome));
      },
      random: options.random ?? (() => 0.5),
      // Exact milliseconds unless a scenario asks otherwise: most check times to the millisecond.
      ...(options.tickMs === 'default' ? {} : { tickMs: options.tickMs ?? 1 }),
      ...(options.laneEvents === undefined ? {} : { onLaneEvent: (event: LaneEvent) => options.laneEvents!.push(event) }),
    });
    const schedule = (at: number, work: () => void): void => {
      asyncScheduler.schedule(work, at);
    };
    body(polls, schedule);
    schedule(endAt, () => polls.close());
  });
  return calls.join(' ');
}

describe('PollScheduler', () => {
  it('polls at the interval and stops at the terminal answer', () => {
    const calls = scenario(100, { a: [ok, ok, done] }, (polls) => {
      polls.defineLane('k', policy());
      polls.add('a', { lane: 'k', hooked: false });
    });
    expect(calls).toBe('10:a 20:a 30:a');
  });

  it('stops polling a job that is removed', () => {
    const calls = scenario(50, {}, (polls, schedule) => {
      polls.defineLane('k', policy());
      polls.add('a', { lane: 'k', hooked: false });
      schedule(25, () => polls.remove('a'));
    });
    expect(calls).toBe('10:a 20:a');
  });

  it("backs off a failing job with full jitter, without touching the lane's other jobs", () => {
    // random 0.5: after failure n the delay is max(interval 10, 0.5 * 20 * 2^(n-1)) = 10, 20, 40.
    const failed: PollOutcome = { type: 'failed' };
    const calls = scenario(90, { a: [failed, failed, failed, ok], b: [ok] }, (polls) => {
      polls.defineLane('k', policy());
      polls.add('a', { lane: 'k', hooked: false });
      polls.add('b', { lane: 'k', hooked: false, dueAt: 5 });
    });
    expect(calls).toBe('5:b 10:a 15:b 20:a 25:b 35:b 40:a 45:b 55:b 65:b 75:b 80:a 85:b');
  });

  it('honours Retry-After for every job of the credential', () => {
    const calls = scenario(75, { a: [{ type: 'rate-limited', retryAfterMs: 50 }, ok], b: [ok] }, (polls) => {
      polls.defineLane('k', policy());
      polls.add('a', { lane: 'k', hooked: false });
      polls.add('b', { lane: 'k', hooked: false, dueAt: 12 });
    });
    // a is limited at 10: nothing goes out until 60, where b (due since 12) probes first.
    expect(calls).toBe('10:a 60:b 60:a 70:b 70:a');
  });

  it('during an outage lets one probe through per backoff step, then recovers every job', () => {
    const down: PollOutcome = { type: 'unavailable' };
    const calls = scenario(75, { a: [down, ok], b: [down, ok], c: [ok] }, (polls) => {
      polls.defineLane('k', policy({ backoff: { initialMs: 40, maxMs: 1000 }, intervalMs: 100 }));
      polls.add('a', { lane: 'k', hooked: false, dueAt: 10 });
      polls.add('b', { lane: 'k', hooked: false, dueAt: 11 });
      polls.add('c', { lane: 'k', hooked: false, dueAt: 12 });
    });
    // 10: a fails, the lane waits 0.5*40 = 20. 30: probe b fails, the lane waits 0.5*80 = 40.
    // 70: probe c answers, so a and b follow at once.
    expect(calls).toBe('10:a 30:b 70:c 70:a 70:b');
  });

  it('in a long outage, probes at most outageProbeMs apart once the backoff has grown past it, and notices recovery within that (issue #14, B7)', () => {
    const down: PollOutcome = { type: 'unavailable' };
    // 20 probes fail, the 21st is answered. The jittered backoff (0.5 × ceiling) would grow to 2,000.
    const laneEvents: LaneEvent[] = [];
    const calls = scenario(
      5000,
      { a: [...Array.from({ length: 20 }, () => down), ok] },
      (polls) => {
        polls.defineLane('k', policy({ backoff: { initialMs: 40, maxMs: 4000 }, intervalMs: 10_000, outageProbeMs: 100 }));
        polls.add('a', { lane: 'k', hooked: false, dueAt: 10 });
      },
      { laneEvents },
    )
      .split(' ')
      .map((call) => Number(call.split(':')[0]));
    expect(calls).toHaveLength(21);
    const gaps = calls.slice(1).map((at, i) => at - (calls[i] as number));
    // Without the cap the waits would be 20, 40, 80, 160, …, 2,000: here none is over 100.
    expect(gaps.slice(0, 3)).toEqual([20, 40, 80]);
    expect(Math.max(...gaps)).toBe(100);
    expect(laneEvents.find((e) => e.type === 'lane-recovered')).toMatchObject({ at: calls[20] });
  });

  it('honours a Retry-After longer than the backoff on a 503', () => {
    const calls = scenario(60, { a: [{ type: 'unavailable', retryAfterMs: 45 }, ok] }, (polls) => {
      polls.defineLane('k', policy({ intervalMs: 100 }));
      polls.add('a', { lane: 'k', hooked: false, dueAt: 5 });
    });
    expect(calls).toBe('5:a 50:a');
  });

  it('staggers due jobs through the token bucket', () => {
    const calls = scenario(20, {}, (polls) => {
      polls.defineLane('k', policy({ rate: { limit: 2, windowMs: 10 } }));
      for (const id of ['a', 'b', 'c', 'd', 'e']) polls.add(id, { lane: 'k', hooked: false, dueAt: 0 });
    });
    // Two tokens at once, then one every 5 ms.
    expect(calls).toBe('0:a 0:b 5:c 10:d 15:e');
  });

  it('keeps at most maxInFlight polls in flight', () => {
    const calls = scenario(
      25,
      {},
      (polls) => {
        polls.defineLane('k', policy({ maxInFlight: 2 }));
        for (const id of ['a', 'b', 'c']) polls.add(id, { lane: 'k', hooked: false, dueAt: 0 });
      },
      { latency: 8 },
    );
    expect(calls).toBe('0:a 0:b 8:c 18:a 18:b');
  });

  it('in watchdog mode, polls slowly while webhooks arrive and speeds up once one is overdue', () => {
    const calls = scenario(105, {}, (polls, schedule) => {
      polls.defineLane('k', policy({ watchdog: { quietMs: 30 } }));
      polls.add('hooked', { lane: 'k', hooked: true });
      polls.add('plain', { lane: 'k', hooked: false, dueAt: 5 });
      schedule(20, () => polls.noteWebhook('hooked'));
      schedule(40, () => polls.noteWebhook('hooked'));
    });
    // Webhooks at 20 and 40 push the hooked job's first poll to 70; none after, so every 10 from then.
    expect(calls.split(' ').filter((c) => c.endsWith('hooked')).join(' ')).toBe('70:hooked 80:hooked 90:hooked 100:hooked');
    expect(calls.split(' ').filter((c) => c.endsWith('plain'))).toHaveLength(10);
  });

  it('polls at once when asked to confirm a thin webhook', () => {
    const calls = scenario(30, {}, (polls, schedule) => {
      polls.defineLane('k', policy({ intervalMs: 100 }));
      polls.add('a', { lane: 'k', hooked: false });
      schedule(7, () => polls.pollNow('a'));
    });
    expect(calls).toBe('7:a');
  });

  it('serves a submission before due polls, after the Retry-After wait', async () => {
    let granted = 0;
    const calls = scenario(40, { a: [{ type: 'rate-limited', retryAfterMs: 20 }, ok] }, (polls, schedule) => {
      polls.defineLane('k', policy({ intervalMs: 100, rate: { limit: 1, windowMs: 5 } }));
      polls.add('a', { lane: 'k', hooked: false, dueAt: 0 });
      schedule(5, () => {
        void polls.acquire('k').then(() => (granted += 1));
      });
    });
    // a is limited at 0, so the lane is blocked until 20; the submission takes the token at 20
    // (one per 5 ms), so a's next poll waits for the one at 25.
    expect(calls).toBe('0:a 25:a');
    await Promise.resolve();
    expect(granted).toBe(1);
  });

  it('does not let a steady stream of submissions starve due polls: they take turns for the tokens (the demo at one job every 40 ms polled almost nothing)', async () => {
    let granted = 0;
    const calls = scenario(100, { a: [ok], b: [ok] }, (polls, schedule) => {
      polls.defineLane('k', policy({ intervalMs: 1000, rate: { limit: 1, windowMs: 10 } }));
      polls.add('a', { lane: 'k', hooked: false, dueAt: 0 });
      polls.add('b', { lane: 'k', hooked: false, dueAt: 0 });
      // Ten submissions waiting from the start: before the fix every token went to them first.
      schedule(0, () => {
        for (let i = 0; i < 10; i++) void polls.acquire('k').then(() => (granted += 1));
      });
    });
    // One token per 10 ms: a poll, a submission, a poll, a submission, …
    expect(calls).toBe('0:a 20:b');
    await Promise.resolve();
    expect(granted).toBeGreaterThanOrEqual(8);
  });

  it('by default polls on a 20 ms tick: every job due within a tick goes at its start, in the order scheduled (one wake-up, not one per millisecond)', () => {
    const calls = scenario(
      1100,
      {},
      (polls) => {
        polls.defineLane('k', policy({ intervalMs: 1000 }));
        polls.add('c', { lane: 'k', hooked: false, dueAt: 39 });
        polls.add('a', { lane: 'k', hooked: false, dueAt: 21 });
        polls.add('b', { lane: 'k', hooked: false, dueAt: 32 });
        polls.add('d', { lane: 'k', hooked: false, dueAt: 41 });
      },
      { tickMs: 'default' },
    );
    // Not 21:a 32:b 39:c 41:d; the next round is due at 1020 and 1040 (20 + 1000, 40 + 1000).
    expect(calls).toBe('20:c 20:a 20:b 40:d 1020:c 1020:a 1020:b 1040:d');
  });

  it("shortens a lane's tick to a fiftieth of a short interval, so no poll goes more than 2 % early", () => {
    // intervalMs 100: a 2 ms tick, not 20 (which would poll b 15 ms early, at 20).
    const calls = scenario(30, {}, (polls) => {
      polls.defineLane('k', policy({ intervalMs: 100 }));
      polls.add('a', { lane: 'k', hooked: false, dueAt: 3 });
      polls.add('b', { lane: 'k', hooked: false, dueAt: 35 });
    }, { tickMs: 'default' });
    expect(calls).toBe('2:a');
  });

  it('on the tick, ends a Retry-After wait at the first tick after it, never before', () => {
    const calls = scenario(100, { a: [{ type: 'rate-limited', retryAfterMs: 25 }, ok] }, (polls) => {
      polls.defineLane('k', policy({ intervalMs: 1000 }));
      polls.add('a', { lane: 'k', hooked: false, dueAt: 0 });
    }, { tickMs: 20 });
    expect(calls).toBe('0:a 40:a');
  });

  it('on the tick, still polls at once when asked to confirm a webhook', () => {
    const calls = scenario(
      30,
      {},
      (polls, schedule) => {
        polls.defineLane('k', policy({ intervalMs: 1000 }));
        polls.add('a', { lane: 'k', hooked: false });
        schedule(7, () => polls.pollNow('a'));
      },
      { tickMs: 20 },
    );
    expect(calls).toBe('7:a');
  });

  it('settles polls answered by promises in one batch: a job removed or finished meanwhile is not polled again', async () => {
    const answers = new Map<string, (outcome: PollOutcome) => void>();
    const made: string[] = [];
    const polls = new PollScheduler({
      poll: (id) => {
        made.push(id);
        return new Promise<PollOutcome>((resolve) => answers.set(id, resolve));
      },
      tickMs: 1,
    });
    polls.defineLane('k', policy({ intervalMs: 60_000 }));
    for (const id of ['a', 'b', 'c', 'd']) polls.add(id, { lane: 'k', hooked: false, dueAt: 0 });
    expect(made).toEqual(['a', 'b', 'c', 'd']);
    polls.remove('b');
    // All four answer in one microtask checkpoint; c's answer is terminal.
    answers.get('a')!(ok);
    answers.get('b')!(ok);
    answers.get('c')!(done);
    answers.get('d')!(ok);
    await Promise.resolve();
    await Promise.resolve();
    expect([polls.has('a'), polls.has('b'), polls.has('c'), polls.has('d')]).toEqual([true, false, false, true]);
    expect(polls.size).toBe(2);
    // a and d were scheduled again (for a minute from now), b and c not: confirming all four
    // polls exactly the two still tracked.
    for (const id of ['a', 'b', 'c', 'd']) polls.pollNow(id);
    expect(made).toEqual(['a', 'b', 'c', 'd', 'a', 'd']);
    polls.close();
  });

  it('refuses a job on an undefined lane', () => {
    const polls = new PollScheduler({ poll: () => of(ok) });
    expect(() => polls.add('a', { lane: 'nope', hooked: false })).toThrow('poll lane "nope" is not defined');
  });
});

describe('PollScheduler confirming polls', () => {
  it('after a confirm, polls at the normal interval until the next webhook', () => {
    const calls = scenario(75, {}, (polls, schedule) => {
      polls.defineLane('k', policy({ watchdog: { quietMs: 30 } }));
      polls.add('h', { lane: 'k', hooked: true });
      schedule(5, () => {
        polls.noteWebhook('h');
        polls.pollNow('h');
      });
      schedule(40, () => polls.noteWebhook('h'));
    });
    // 5: the confirming poll; then every 10 (the provider may lag its webhook) until the webhook
    // at 40 restores the quiet period: next poll at 70.
    expect(calls).toBe('5:h 15:h 25:h 35:h 70:h');
  });
});

describe('PollScheduler lane events', () => {
  it('reports an outage once however many probes fail (503s), then one recovery with when it began', () => {
    const down: PollOutcome = { type: 'unavailable' };
    const events: LaneEvent[] = [];
    scenario(
      75,
      { a: [down, ok], b: [down, ok], c: [ok] },
      (polls) => {
        polls.defineLane('k', policy({ backoff: { initialMs: 40, maxMs: 1000 }, intervalMs: 100 }));
        polls.add('a', { lane: 'k', hooked: false, dueAt: 10 });
        polls.add('b', { lane: 'k', hooked: false, dueAt: 11 });
        polls.add('c', { lane: 'k', hooked: false, dueAt: 12 });
      },
      { laneEvents: events },
    );
    // Polls at 10 (a fails), 30 (b fails), 70 (c answers): one outage, one recovery.
    expect(events).toEqual([
      { type: 'lane-outage', lane: 'k', at: 10, until: 30 },
      { type: 'lane-recovered', lane: 'k', at: 70, cause: 'unavailable', since: 10, failures: 2 },
    ]);
  });

  it('reports a rate-limit block (429, Retry-After) once, not once per poll answered 429 during it, and a new block again', () => {
    const limited = (retryAfterMs: number): PollOutcome => ({ type: 'rate-limited', retryAfterMs });
    const events: LaneEvent[] = [];
    const calls = scenario(
      200,
      { a: [limited(50), ok, ok, limited(30), ok], b: [limited(50), ok], c: [limited(50), ok] },
      (polls) => {
        polls.defineLane('k', policy({ intervalMs: 40 }));
        for (const id of ['a', 'b', 'c']) polls.add(id, { lane: 'k', hooked: false, dueAt: 0 });
      },
      { latency: 5, laneEvents: events },
    );
    // Three polls in flight answer 429 at 5: one block until 55, reported once. Probe a at 55
    // answers at 60: recovered. a's poll at 145 answers 429 at 150: a new block until 180.
    expect(calls).toBe('0:a 0:b 0:c 55:a 60:b 60:c 100:a 105:b 105:c 145:a 180:b 185:c 185:a');
    expect(events).toEqual([
      { type: 'lane-rate-limited', lane: 'k', at: 5, until: 55, retryAfterMs: 50 },
      { type: 'lane-recovered', lane: 'k', at: 60, cause: 'rate-limited', since: 5, failures: 3 },
      { type: 'lane-rate-limited', lane: 'k', at: 150, until: 180, retryAfterMs: 30 },
      { type: 'lane-recovered', lane: 'k', at: 185, cause: 'rate-limited', since: 150, failures: 1 },
    ]);
  });
});
