import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/streams/engine.js';
import { InvalidRequestError } from '../../src/streams/errors.js';
import { recordConfirmation, reduce, createSnapshot } from '../../src/streams/job-reducer.js';
import type { JobSnapshot } from '../../src/streams/job-snapshot.js';
import { computeJobStats, resolveStatsQuery } from '../../src/streams/job-stats.js';
import { FakeProvider, hookUrl, tokenOf } from '../support/fake-provider.js';
import { VirtualClock } from '../support/virtual-clock.js';

const url = { type: 'url' as const, url: 'https://example.com/song.wav' };
const T0 = Date.UTC(2025, 0, 1);

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function open(dataDir: string, clock: VirtualClock, provider = new FakeProvider()): Promise<{ engine: Engine; provider: FakeProvider }> {
  const engine = await createEngine({ providers: [provider], dataDir, scheduler: clock, random: () => 0.5, webhookUrl: hookUrl, resultsDir: false });
  cleanup.push(() => engine.close());
  return { engine, provider };
}

describe('job stats from the stored jobs', () => {
  it('counts created and finished jobs per bucket, durations, failure rate and detection lag, the same after a restart', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'jobstream-stats-'));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const clock = new VirtualClock(T0);
    const { engine, provider } = await open(dataDir, clock);
    const hook = (i: number, body: Record<string, unknown>) => engine.ingestWebhook({ provider: 'fake', token: tokenOf(provider.created[i]?.webhookUrl), body });

    // A: created at 0 s, finished by a poll at ~2 s, the webhook says the same 1.5 s later.
    const a = await engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    await clock.advance(2000);
    provider.set('ext-1', 'DONE', { result: 'a' });
    await clock.until(() => engine.get(a.id)?.status === 'succeeded');
    const polled = engine.get(a.id)!;
    expect(polled.finished).toMatchObject({ source: 'poll', confirmLagMs: null });
    await clock.advance(1500);
    const webhookAt = clock.now();
    expect((await hook(0, { id: 'ext-1', status: 'DONE', result: 'a' })).outcome).toBe('duplicate');
    const confirmed = engine.get(a.id)!;
    expect(confirmed.finished).toEqual({ at: polled.finished!.at, source: 'poll', confirmLagMs: webhookAt - polled.finished!.at });
    expect(confirmed.status).toBe('succeeded');

    // B: created at ~5 s, failed by a webhook at ~7 s.
    await clock.advance(5000 - (clock.now() - T0));
    const b = await engine.submit({ provider: 'fake', kind: 'separation', input: url });
    await clock.advance(2000);
    await hook(1, { id: 'ext-2', status: 'BROKEN' });
    // C: created at ~7 s, canceled at ~8 s. D: created at ~8 s, still running.
    const c = await engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    await clock.advance(1000);
    await engine.cancel(c.id);
    const d = await engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    await hook(3, { id: 'ext-4', status: 'WORKING' });

    const query = { from: T0, to: T0 + 10_000, bucketMs: 1000 };
    const before = engine.jobStats(query);
    const jobs = [a, b, c, d].map((job) => engine.get(job.id)!);
    const finish = (job: JobSnapshot) => job.finished!.at;
    const bucketOf = (time: number) => Math.floor((time - T0) / 1000);

    // A restart: the stats come from the data directory, not from anything kept in memory.
    await engine.close();
    const later = new VirtualClock(T0 + 3_600_000);
    const restarted = await open(dataDir, later);
    const stats = restarted.engine.jobStats(query);
    expect(stats).toEqual(before);

    expect(stats.statusNow).toEqual({ queued: 0, running: 1, succeeded: 1, failed: 1, canceled: 1 });
    expect(stats.buckets).toHaveLength(10);
    const expected = Array.from({ length: 10 }, (_, i) => ({ start: T0 + i * 1000, created: 0, succeeded: 0, failed: 0, canceled: 0 }));
    for (const job of jobs) expected[bucketOf(job.createdAt)]!.created += 1;
    expected[bucketOf(finish(jobs[0]!))]!.succeeded += 1;
    expected[bucketOf(finish(jobs[1]!))]!.failed += 1;
    expected[bucketOf(finish(jobs[2]!))]!.canceled += 1;
    expect(stats.buckets).toEqual(expected);
    expect(expected.reduce((sum, bucket) => sum + bucket.created, 0)).toBe(4);

    const durationA = finish(jobs[0]!) - jobs[0]!.createdAt;
    const durationC = finish(jobs[2]!) - jobs[2]!.createdAt;
    expect(stats.durations).toEqual([
      { provider: 'fake', kind: 'separation', count: 1, p50Ms: finish(jobs[1]!) - jobs[1]!.createdAt, p95Ms: finish(jobs[1]!) - jobs[1]!.createdAt, maxMs: 2000 },
      { provider: 'fake', kind: 'transcription', count: 2, p50Ms: Math.min(durationA, durationC), p95Ms: Math.max(durationA, durationC), maxMs: Math.max(durationA, durationC) },
    ]);
    expect(stats.failureRate).toEqual([{ provider: 'fake', finished: 3, failed: 1, rate: 1 / 3 }]);
    const lag = webhookAt - polled.finished!.at;
    expect(lag).toBeGreaterThanOrEqual(1500);
    expect(stats.detectionLag).toEqual([{ provider: 'fake', source: 'poll', count: 1, p50Ms: lag, p95Ms: lag }]);

    // Defaults: the last hour of the engine's clock, 60 buckets.
    const defaults = restarted.engine.jobStats();
    expect(defaults).toMatchObject({ to: later.now(), from: later.now() - 3_600_000, bucketMs: 60_000 });
    expect(defaults.buckets).toHaveLength(60);
  });

  it('refuses buckets under 1 s, more than 1000 buckets, and an empty window', () => {
    const now = T0;
    expect(resolveStatsQuery({ from: now - 1_000_000, to: now, bucketMs: 1000 }, now).bucketMs).toBe(1000);
    expect(() => resolveStatsQuery({ from: now - 1_000_000, to: now, bucketMs: 999 }, now)).toThrow(InvalidRequestError);
    expect(() => resolveStatsQuery({ from: now - 1_000_001, to: now, bucketMs: 1000 }, now)).toThrow(/1001 buckets; at most 1000/);
    expect(() => resolveStatsQuery({ from: now, to: now }, now)).toThrow(/before to/);
    // A long window without a width gets 60 buckets, however long.
    expect(resolveStatsQuery({ from: now - 86_400_000, to: now }, now)).toEqual({ from: now - 86_400_000, to: now, bucketMs: 1_440_000 });
  });

  it('records the other channel once, for the same terminal status only', () => {
    const created = createSnapshot({ id: 'job_1', provider: 'p', kind: 'k', externalId: 'x', name: null, metadata: {}, options: {}, createdAt: 0 });
    const done = reduce(created, { status: 'succeeded', source: 'webhook', observedAt: 100 });
    expect(done.finished).toEqual({ at: 100, source: 'webhook', confirmLagMs: null });
    expect(recordConfirmation(done, { status: 'succeeded', source: 'webhook', observedAt: 150 })).toBe(done);
    expect(recordConfirmation(done, { status: 'failed', source: 'poll', observedAt: 150 })).toBe(done);
    const confirmed = recordConfirmation(done, { status: 'succeeded', source: 'poll', observedAt: 340 });
    expect(confirmed).toMatchObject({ finished: { at: 100, source: 'webhook', confirmLagMs: 240 }, version: done.version + 1, source: 'webhook' });
    expect(recordConfirmation(confirmed, { status: 'succeeded', source: 'poll', observedAt: 900 })).toBe(confirmed);
    const canceled = reduce(created, { status: 'canceled', source: 'cancel', observedAt: 50 });
    expect(recordConfirmation(canceled, { status: 'canceled', source: 'poll', observedAt: 60 })).toBe(canceled);
  });

  it('computes over 100 000 jobs in well under a second (target: 50 ms)', () => {
    const jobs: JobSnapshot[] = [];
    const statuses = ['queued', 'running', 'succeeded', 'failed', 'canceled'] as const;
    for (let i = 0; i < 100_000; i++) {
      const base = createSnapshot({ id: `job_${i}`, provider: `p${i % 4}`, kind: `k${i % 3}`, externalId: `x${i}`, name: null, metadata: {}, options: {}, createdAt: T0 + i * 30 });
      const status = statuses[i % 5]!;
      jobs.push(status === 'queued' ? base : reduce(base, { status, source: i % 2 === 0 ? 'poll' : 'webhook', observedAt: T0 + i * 30 + (i % 997) * 10 }));
    }
    const query = resolveStatsQuery({ from: T0, to: T0 + 3_000_000, bucketMs: 3000 }, T0);
    computeJobStats(jobs, query);
    const started = performance.now();
    const stats = computeJobStats(jobs, query);
    const elapsed = performance.now() - started;
    console.log(`computeJobStats over 100k jobs: ${elapsed.toFixed(1)} ms`);
    expect(stats.buckets.reduce((sum, b) => sum + b.created, 0)).toBe(100_000);
    expect(stats.statusNow).toEqual({ queued: 20_000, running: 20_000, succeeded: 20_000, failed: 20_000, canceled: 20_000 });
    // Generous on a shared 2-core machine; the figure above is what to read.
    expect(elapsed).toBeLessThan(500);
  });
});
