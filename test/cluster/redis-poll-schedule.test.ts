import type { Redis } from 'ioredis';
import { Observable } from 'rxjs';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { connectRedis, createRedisConnection } from '../../src/cluster/redis-connection.js';
import { RedisPollSchedule, type PollScheduleError, type RedisPollScheduleOptions } from '../../src/cluster/redis-poll-schedule.js';
import type { LaneEvent, PollOutcome, PollPolicy } from '../../src/streams/poll-scheduler.js';
import { killAllRedis, redisForTests, startRedis, type RunningRedis } from '../support/redis-server.js';

const redis = redisForTests();

const LANE = 'sim:key-1';

/** One poll as the fake provider saw it. Times are `Date.now()`, the clock Redis's `TIME` reads too. */
interface Call {
  member: string;
  jobId: string;
  start: number;
  end?: number;
  outcome?: PollOutcome;
  /** Calls in flight cluster-wide when this one started, itself included. */
  concurrent: number;
  abandoned?: boolean;
}

type Answer = (call: Call) => PollOutcome | 'hang';

/**
 * A provider shared by every member: it records each poll, counts polls of one job that overlap,
 * and answers after `latencyMs` (its response time) with what `answer` says at that moment.
 */
class FakeProvider {
  readonly calls: Call[] = [];
  overlaps = 0;
  latencyMs = 3;
  answer: Answer = () => ({ type: 'ok', terminal: false });
  #inFlight = 0;
  readonly #inFlightByJob = new Map<string, number>();
  readonly #waiters = new Set<() => void>();

  poll(member: string): (jobId: string) => Observable<PollOutcome> {
    return (jobId) =>
      new Observable<PollOutcome>((subscriber) => {
        const running = this.#inFlightByJob.get(jobId) ?? 0;
        if (running > 0) this.overlaps += 1;
        this.#inFlightByJob.set(jobId, running + 1);
        const call: Call = { member, jobId, start: Date.now(), concurrent: ++this.#inFlight };
        this.calls.push(call);
        let open = true;
        const finish = (): void => {
          open = false;
          this.#inFlight -= 1;
          this.#inFlightByJob.set(jobId, (this.#inFlightByJob.get(jobId) ?? 1) - 1);
        };
        // The provider's response time (not a synchronisation: nothing waits on it).
        const timer = setTimeout(() => {
          const outcome = this.answer(call);
          if (outcome === 'hang') return this.notify();
          call.end = Date.now();
          call.outcome = outcome;
          finish();
          subscriber.next(outcome);
          subscriber.complete();
          this.notify();
        }, this.latencyMs);
        this.notify();
        return () => {
          clearTimeout(timer);
          if (!open) return;
          call.abandoned = true;
          finish();
          this.notify();
        };
      });
  }

  of(jobId: string): Call[] {
    return this.calls.filter((call) => call.jobId === jobId);
  }

  notify(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  /** Resolves when `done()` holds, checked after every poll event and lane event; fails after `ms`. */
  until(done: () => boolean, ms: number, what: string): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!done()) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`${what}: not within ${ms} ms`));
      }, ms);
      this.#waiters.add(check);
    });
  }
}

function policy(overrides: Partial<PollPolicy> = {}): PollPolicy {
  return {
    intervalMs: 50,
    backoff: { initialMs: 100, maxMs: 1_000 },
    rate: { limit: 100_000, windowMs: 1_000 },
    maxInFlight: 16,
    ...overrides,
  };
}

interface Member {
  name: string;
  schedule: RedisPollSchedule;
  events: LaneEvent[];
  errors: PollScheduleError[];
  connection: Redis;
}

describe.skipIf(redis.skip !== undefined)('RedisPollSchedule', () => {
  let server: RunningRedis;
  let admin: Redis;
  let provider: FakeProvider;
  let prefix = '';
  let tests = 0;
  const cleanups: Array<() => Promise<void> | void> = [];
  /** Lane events of every member, in the order they were heard. */
  let events: Array<LaneEvent & { member: string }> = [];

  beforeAll(async () => {
    server = await startRedis({ appendfsync: 'no' });
    admin = await connectRedis(createRedisConnection({ url: server.url }));
  });

  afterAll(async () => {
    admin?.disconnect();
    await server?.close();
    await killAllRedis();
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  function fresh(): void {
    prefix = `t${++tests}:`;
    provider = new FakeProvider();
    events = [];
  }

  async function member(name: string, lanePolicy: PollPolicy, options: Partial<RedisPollScheduleOptions> = {}, url = server.url): Promise<Member> {
    const connection = await connectRedis(createRedisConnection({ url }));
    const laneEvents: LaneEvent[] = [];
    const errors: PollScheduleError[] = [];
    const schedule = new RedisPollSchedule({
      poll: provider.poll(name),
      redis: connection,
      prefix,
      memberId: name,
      leaseMs: 2_000,
      ...options,
      onLaneEvent: (event) => {
        laneEvents.push(event);
        events.push({ ...event, member: name });
        provider.notify();
      },
      onError: (error) => {
        errors.push(error);
        provider.notify();
      },
    });
    schedule.defineLane(LANE, lanePolicy);
    cleanups.push(() => {
      schedule.close();
      connection.disconnect();
    });
    return { name, schedule, events: laneEvents, errors, connection };
  }

  const jobIds = (n: number): string[] => Array.from({ length: n }, (_, i) => `job-${i}`);

  it('makes each due poll once across three members: every job polled, none by two members at once, no repeat within an interval', async () => {
    fresh();
    const intervalMs = 300;
    const lanePolicy = policy({ intervalMs, maxInFlight: 20 });
    const members = [await member('a', lanePolicy), await member('b', lanePolicy), await member('c', lanePolicy)];
    const ids = jobIds(300);
    // Every member adds every job (as each does at start-up): the first add sets the time.
    for (const m of members) for (const id of ids) m.schedule.add(id, { lane: LANE, hooked: false, dueAt: Date.now() });
    await provider.until(() => ids.every((id) => provider.of(id).filter((c) => c.end !== undefined).length >= 3), 10_000, 'every job polled three times');

    expect(provider.overlaps).toBe(0);
    let duplicates = 0;
    for (const id of ids) {
      const starts = provider.of(id).map((c) => c.start);
      for (let i = 1; i < starts.length; i++) if (starts[i]! - starts[i - 1]! < intervalMs - 2) duplicates += 1;
    }
    expect(duplicates).toBe(0);
    for (const m of members) {
      expect(provider.calls.filter((c) => c.member === m.name).length).toBeGreaterThan(0);
      expect(m.schedule.size).toBe(300);
      expect(m.errors).toEqual([]);
    }
  });

  it("holds every member's calls while a Retry-After that one member saw runs", async () => {
    fresh();
    const a = await member('a', policy({ maxInFlight: 4 }));
    const b = await member('b', policy({ maxInFlight: 4 }));
    for (const id of jobIds(40)) a.schedule.add(id, { lane: LANE, hooked: false, dueAt: Date.now() });
    const count = (name: string): number => provider.calls.filter((c) => c.member === name).length;
    await provider.until(() => count('a') >= 5 && count('b') >= 5, 5_000, 'both members polling');
    let armed = true;
    provider.answer = (call) => {
      if (armed && call.member === 'a') {
        armed = false;
        return { type: 'rate-limited', retryAfterMs: 400 };
      }
      return { type: 'ok', terminal: false };
    };
    await provider.until(() => a.events.some((e) => e.type === 'lane-rate-limited'), 5_000, 'the 429 seen by a');
    const blocked = a.events.find((e) => e.type === 'lane-rate-limited')!;
    expect(blocked.type === 'lane-rate-limited' && blocked.retryAfterMs).toBe(400);
    expect(blocked.until - blocked.at).toBe(400);
    await provider.until(() => provider.calls.some((c) => c.member === 'b' && c.start >= blocked.until), 5_000, 'b polling again after the block');

    // Calls claimed just before the block may start a moment after it was written; 20 ms covers that.
    const duringBlock = provider.calls.filter((c) => c.start > blocked.at + 20 && c.start < blocked.until - 1);
    expect(duringBlock).toEqual([]);
    expect(b.events.filter((e) => e.type === 'lane-rate-limited')).toEqual([]);
  });

  it('lets one probe out at a time cluster-wide during an outage, spaced by the probe interval, and notices recovery within one', async () => {
    fresh();
    const probeIntervalMs = 150;
    const lanePolicy = policy({ intervalMs: 30, maxInFlight: 8, backoff: { initialMs: 1_000, maxMs: 5_000 } });
    const members = [await member('a', lanePolicy, { probeIntervalMs }), await member('b', lanePolicy, { probeIntervalMs }), await member('c', lanePolicy, { probeIntervalMs })];
    for (const id of jobIds(30)) members[0]!.schedule.add(id, { lane: LANE, hooked: false, dueAt: Date.now() });
    await provider.until(() => provider.calls.length >= 30, 5_000, 'polling under way');

    let down = true;
    provider.answer = () => (down ? { type: 'unavailable' } : { type: 'ok', terminal: false });
    await provider.until(() => events.some((e) => e.type === 'lane-outage'), 5_000, 'the outage noticed');
    const outage = events.find((e) => e.type === 'lane-outage')!;
    const probes = (): Call[] => provider.calls.filter((c) => c.start > outage.at + 20);
    await provider.until(() => probes().filter((c) => c.end !== undefined).length >= 6, 5_000, 'six probes answered');
    const up = Date.now();
    down = false;
    await provider.until(() => events.some((e) => e.type === 'lane-recovered'), 5_000, 'the recovery noticed');
    const recovered = events.find((e) => e.type === 'lane-recovered')!;

    const during = probes().filter((c) => c.start < up);
    expect(during.map((c) => c.concurrent)).toEqual(during.map(() => 1));
    for (let i = 1; i < during.length; i++) expect(during[i]!.start - during[i - 1]!.end!).toBeGreaterThanOrEqual(probeIntervalMs - 2);
    expect(recovered.at - up).toBeLessThanOrEqual(probeIntervalMs + 100);
    expect(recovered.type === 'lane-recovered' && recovered.cause).toBe('unavailable');
    // Each transition is reported once, by the member that made it.
    expect(events.filter((e) => e.type === 'lane-outage')).toHaveLength(1);
    expect(events.filter((e) => e.type === 'lane-recovered')).toHaveLength(1);
  });

  it("reports every lane's health from Redis, the same on every member: 429 deadline, outage and its next probe, recovery", async () => {
    fresh();
    const lanePolicy = policy({ intervalMs: 60_000, rate: { limit: 10, windowMs: 1_000 } });
    const a = await member('a', lanePolicy);
    const b = await member('b', lanePolicy);
    for (const id of jobIds(7)) a.schedule.add(id, { lane: LANE, hooked: false });
    await a.schedule.flush();
    const healthy = await b.schedule.lanes();
    expect(healthy).toEqual([
      { lane: LANE, jobs: 7, ratePerSecond: 10, burst: 10, tokens: healthy[0]!.tokens, state: 'ok', since: null, blockedUntil: null, nextProbeAt: null, failures: 0 },
    ]);
    expect(healthy[0]!.tokens).toBeGreaterThan(9);

    a.schedule.reportFailure(LANE, { type: 'rate-limited', retryAfterMs: 60_000 });
    await provider.until(() => a.events.some((e) => e.type === 'lane-rate-limited'), 5_000, 'the 429 reported');
    const limited = a.events.find((e) => e.type === 'lane-rate-limited')!;
    const [rateLimited] = await b.schedule.lanes();
    expect(rateLimited).toMatchObject({ state: 'rate-limited', since: limited.at, blockedUntil: limited.at + 60_000, nextProbeAt: null, failures: 1, jobs: 7 });
    expect(rateLimited!.tokens).toBeLessThan(1);

    a.schedule.reportFailure(LANE, { type: 'unavailable', retryAfterMs: 90_000 });
    await provider.until(() => a.events.some((e) => e.type === 'lane-outage'), 5_000, 'the outage reported');
    const outage = a.events.find((e) => e.type === 'lane-outage')!;
    const [down] = await b.schedule.lanes();
    expect(down).toMatchObject({ state: 'outage', since: limited.at, blockedUntil: outage.until, nextProbeAt: outage.until, failures: 2 });
    expect(outage.until - outage.at).toBe(90_000);

    a.schedule.reportSuccess(LANE);
    await provider.until(() => a.events.some((e) => e.type === 'lane-recovered'), 5_000, 'the recovery reported');
    expect(await a.schedule.lanes()).toMatchObject([{ state: 'ok', since: null, nextProbeAt: null, failures: 0 }]);
  });

  it("makes acquire wait out a block another member reported, take tokens of the shared bucket, and free its waiters on close", async () => {
    fresh();
    const lanePolicy = policy({ rate: { limit: 5, windowMs: 500 } });
    const a = await member('a', lanePolicy);
    const b = await member('b', lanePolicy);
    const c = await member('c', lanePolicy);
    a.schedule.reportFailure(LANE, { type: 'rate-limited', retryAfterMs: 300 });
    await provider.until(() => a.events.length > 0, 5_000, 'the 429 reported');
    const blocked = a.events[0]!;
    expect(blocked).toMatchObject({ type: 'lane-rate-limited', lane: LANE, retryAfterMs: 300 });
    if (blocked.type !== 'lane-rate-limited') return;

    // Closing frees a waiter at once, block or not.
    const abandoned = c.schedule.acquire(LANE);
    c.schedule.close();
    await abandoned;

    const grants: number[] = [];
    const take = (m: Member): Promise<void> => m.schedule.acquire(LANE).then(() => void grants.push(Date.now()));
    await Promise.all([take(b), take(a), take(b), take(a), take(b), take(a), take(b)]);
    grants.sort((x, y) => x - y);
    // No call before the block ends; the 429 emptied the bucket, which refills one token per 100 ms.
    expect(grants[0]! - blocked.until).toBeGreaterThanOrEqual(-1);
    expect(grants[6]! - blocked.at).toBeGreaterThanOrEqual(700 - 2);

    b.schedule.reportSuccess(LANE);
    await provider.until(() => b.events.length > 0, 5_000, 'the recovery reported');
    expect(b.events).toEqual([expect.objectContaining({ type: 'lane-recovered', cause: 'rate-limited', since: blocked.at, failures: 1 })]);
    expect(a.events).toHaveLength(1);
  });

  it('keeps one token bucket for the whole cluster: all members together stay within the rate', async () => {
    fresh();
    const limit = 20;
    const windowMs = 250;
    const lanePolicy = policy({ intervalMs: 20, maxInFlight: 10, rate: { limit, windowMs } });
    const members = [await member('a', lanePolicy), await member('b', lanePolicy), await member('c', lanePolicy)];
    provider.latencyMs = 1;
    for (const id of jobIds(150)) members[0]!.schedule.add(id, { lane: LANE, hooked: false, dueAt: Date.now() });
    await provider.until(() => provider.calls.length >= 150, 10_000, '150 polls');

    const starts = provider.calls.map((c) => c.start).sort((x, y) => x - y);
    for (const span of [windowMs, 500, 1_000]) {
      let most = 0;
      for (const [i, from] of starts.entries()) {
        let n = 0;
        for (let j = i; j < starts.length && starts[j]! <= from + span; j++) n += 1;
        most = Math.max(most, n);
      }
      // A full bucket (the burst) plus what refills during the span, plus 3 for the few
      // milliseconds between a claim in Redis and the poll's start here.
      expect(most, `polls within ${span} ms`).toBeLessThanOrEqual(limit + (span * limit) / windowMs + 3);
    }
    expect(new Set(provider.calls.map((c) => c.member)).size).toBeGreaterThan(1);
  });

  it("has the others poll a closed member's jobs once its leases expire, within lease plus one interval", async () => {
    fresh();
    const leaseMs = 500;
    const intervalMs = 50;
    const lanePolicy = policy({ intervalMs, maxInFlight: 6 });
    const members = [await member('a', lanePolicy, { leaseMs }), await member('b', lanePolicy, { leaseMs }), await member('c', lanePolicy, { leaseMs })];
    const ids = jobIds(60);
    for (const m of members) for (const id of ids) m.schedule.add(id, { lane: LANE, hooked: false, dueAt: Date.now() });
    await provider.until(() => new Set(provider.calls.map((c) => c.member)).size === 3, 5_000, 'all three polling');

    // From now on member c's polls never answer: it will be closed with them in flight.
    provider.answer = (call) => (call.member === 'c' ? 'hang' : { type: 'ok', terminal: false });
    const hanging = (): Call[] => provider.calls.filter((c) => c.member === 'c' && c.end === undefined && !c.abandoned);
    await provider.until(() => hanging().length >= 3, 5_000, 'c with polls in flight');
    const orphans = hanging();
    members[2]!.schedule.close();
    const closedAt = Date.now();
    const firstAfter = (id: string): Call | undefined => provider.of(id).find((c) => c.member !== 'c' && c.start >= closedAt);
    await provider.until(() => orphans.every((o) => firstAfter(o.jobId) !== undefined), 5_000, "c's jobs polled by the others");

    expect(orphans.every((o) => o.abandoned === true)).toBe(true);
    for (const orphan of orphans) {
      const next = firstAfter(orphan.jobId)!;
      expect(next.start - closedAt).toBeLessThanOrEqual(leaseMs + intervalMs + 100);
      // Nobody took the job while c's lease held (c started its poll a few ms after the claim).
      expect(next.start - orphan.start).toBeGreaterThanOrEqual(leaseMs - 25);
    }
    expect(provider.overlaps).toBe(0);
    await provider.until(() => ids.every((id) => firstAfter(id) !== undefined), 5_000, 'every job polled after the close');
  });

  it('shares add (first time kept), pollNow, noteWebhook, remove and a terminal answer between members', async () => {
    fresh();
    const lanePolicy = policy({ intervalMs: 50, watchdog: { quietMs: 5_000 } });
    const a = await member('a', lanePolicy);
    const b = await member('b', lanePolicy);
    const due = async (id: string): Promise<number | undefined> => {
      const score = await admin.zscore(`${prefix}due:${LANE}`, id);
      return score === null ? undefined : Number(score);
    };
    const redisNow = async (): Promise<number> => {
      const [seconds, micros] = await admin.time();
      return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    };

    // add: a job some member scheduled keeps its time.
    a.schedule.add('late', { lane: LANE, hooked: true, dueAt: Date.now() + 10_000 });
    await a.schedule.flush();
    b.schedule.add('late', { lane: LANE, hooked: true, dueAt: Date.now() });
    await b.schedule.flush();
    expect((await due('late'))! - (await redisNow())).toBeGreaterThan(9_000);
    expect(a.schedule.has('late') && b.schedule.has('late')).toBe(true);

    // pollNow at a member that did not add the job brings it forward for the cluster.
    a.schedule.add('w', { lane: LANE, hooked: true, dueAt: Date.now() + 10_000 });
    a.schedule.add('clock', { lane: LANE, hooked: false, dueAt: Date.now() });
    await a.schedule.flush();
    expect(b.schedule.has('w')).toBe(false);
    b.schedule.pollNow('w');
    // …and until the next webhook it is polled at the plain interval, not the quiet time.
    await provider.until(() => provider.of('w').filter((c) => c.end !== undefined).length >= 2, 2_000, "'w' polled twice soon after pollNow");

    // noteWebhook pushes the next poll back to the quiet time (never forward)…
    a.schedule.add('h', { lane: LANE, hooked: true, dueAt: Date.now() + 1_000 });
    await a.schedule.flush();
    b.schedule.noteWebhook('h');
    b.schedule.noteWebhook('late');
    await b.schedule.flush();
    expect((await due('h'))! - (await redisNow())).toBeGreaterThan(4_500);
    expect((await due('late'))! - (await redisNow())).toBeGreaterThan(8_000);
    // …also for a job polled at the plain interval after pollNow.
    b.schedule.noteWebhook('w');
    await b.schedule.flush();
    const polledBefore = provider.of('w').length;
    const clockBefore = provider.of('clock').length;
    await provider.until(() => provider.of('clock').length >= clockBefore + 10, 5_000, 'ten more polls of the clock job');
    // The one poll that may have been in flight when the webhook came.
    expect(provider.of('w').length - polledBefore).toBeLessThanOrEqual(1);

    // remove stops polling for everyone.
    a.schedule.remove('w');
    await a.schedule.flush();
    expect(a.schedule.has('w')).toBe(false);
    expect(await due('w')).toBeUndefined();
    expect(await admin.exists(`${prefix}poll-job:w`)).toBe(0);

    // A terminal answer ends the job's polling.
    provider.answer = (call) => ({ type: 'ok', terminal: call.jobId === 'end' });
    b.schedule.add('end', { lane: LANE, hooked: false, dueAt: Date.now() });
    await provider.until(() => provider.of('end').some((c) => c.end !== undefined), 2_000, "'end' polled");
    const removedAt = provider.of('w').length;
    const clockNow = provider.of('clock').length;
    await provider.until(() => provider.of('clock').length >= clockNow + 5, 5_000, 'five more polls of the clock job');
    expect(provider.of('end')).toHaveLength(1);
    expect(provider.of('w')).toHaveLength(removedAt);
    expect(await due('end')).toBeUndefined();
    expect(a.errors.concat(b.errors)).toEqual([]);
  });

  it("keeps a pollNow that reaches Redis before the job's add (another member's, held back by an outage): the add then polls it at once, not after the quiet time", async () => {
    fresh();
    const lanePolicy = policy({ intervalMs: 50, watchdog: { quietMs: 30_000 } });
    const a = await member('a', lanePolicy);
    const b = await member('b', lanePolicy);
    // A webhook asked b to confirm a job whose add a has not sent yet.
    b.schedule.pollNow('early');
    await b.schedule.flush();
    a.schedule.add('early', { lane: LANE, hooked: true });
    await provider.until(() => provider.of('early').some((c) => c.end !== undefined), 2_000, "'early' polled soon after its add");
    expect(await admin.exists(`${prefix}poll-now:early`)).toBe(0);
    // A pollNow of a job nobody schedules leaves only a marker that expires.
    b.schedule.pollNow('never-added');
    await b.schedule.flush();
    expect(await admin.pttl(`${prefix}poll-now:never-added`)).toBeGreaterThan(0);
    expect(a.errors.concat(b.errors)).toEqual([]);
  });

  it('keeps a poll a webhook asked for (pollNow) when another webhook comes before any member claimed it (was: pushed back to the quiet time)', async () => {
    fresh();
    const lanePolicy = policy({ intervalMs: 50, watchdog: { quietMs: 30_000 } });
    const a = await member('a', lanePolicy);
    const b = await member('b', lanePolicy);
    // Nobody claims for a moment (as if the lane's budget were spent), so the order is certain.
    const [seconds] = await admin.time();
    const blockedUntil = Number(seconds) * 1000 + 1_500;
    await admin.hset(`${prefix}poll-lane:${LANE}`, 'blockedUntil', blockedUntil);
    a.schedule.add('x', { lane: LANE, hooked: true });
    await a.schedule.flush();
    // A confirming webhook at b, then a plain one (a retry of an earlier notice) at a.
    b.schedule.pollNow('x');
    await b.schedule.flush();
    a.schedule.noteWebhook('x');
    await a.schedule.flush();
    expect(Number(await admin.zscore(`${prefix}due:${LANE}`, 'x'))).toBeLessThan(blockedUntil);
    await provider.until(() => provider.of('x').some((c) => c.end !== undefined), 5_000, "'x' polled once the lane is open again");
    expect(provider.of('x')[0]!.start).toBeGreaterThanOrEqual(blockedUntil);
    // Claimed: the next webhook pushes the poll after it back to the quiet time again.
    expect(await admin.hget(`${prefix}poll-job:x`, 'confirm')).toBe('0');
    expect(a.errors.concat(b.errors)).toEqual([]);
  });

  it('reports a change it could not send, keeps it, and sends it once Redis is back', async () => {
    fresh();
    const own = await startRedis({ appendfsync: 'always' });
    cleanups.push(() => own.close());
    const a = await member('a', policy(), {}, own.url);
    a.schedule.add('before', { lane: LANE, hooked: false, dueAt: Date.now() });
    await provider.until(() => provider.of('before').length > 0, 5_000, "'before' polled");

    await own.kill();
    a.schedule.add('x', { lane: LANE, hooked: false, dueAt: Date.now() });
    await provider.until(() => a.errors.some((e) => e.operation === 'add'), 5_000, 'the failed add reported');
    const failed = a.errors.find((e) => e.operation === 'add')!;
    expect(failed).toMatchObject({ code: 'POLL_SCHEDULE_FAILED', jobId: 'x', lane: LANE, retried: true });
    expect(a.schedule.pending).toBe(1);
    // Redis stays away while the add and the claims fail a few more times.
    await vi.waitFor(() => expect(a.schedule.failures).toBeGreaterThanOrEqual(6), { timeout: 5_000, interval: 10 });

    cleanups.push(await own.restart().then((restarted) => () => restarted.close()));
    await provider.until(() => provider.of('x').length > 0, 5_000, "'x' polled after Redis came back");
    expect(a.schedule.pending).toBe(0);
    // A loop that keeps failing is reported once, and counted every time.
    expect(a.errors.filter((e) => e.operation === 'add')).toHaveLength(1);
    expect(a.errors.filter((e) => e.operation === 'claim').length).toBeLessThanOrEqual(1);
    expect(a.schedule.failures).toBeGreaterThan(a.errors.length);
  });
});
