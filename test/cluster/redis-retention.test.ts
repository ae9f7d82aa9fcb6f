import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RedisSharedLog } from '../../src/cluster/redis-shared-log.js';
import { createEngine } from '../../src/streams/engine.js';
import type { EngineEvent } from '../../src/streams/engine-options.js';
import type { JobSnapshot } from '../../src/streams/job-snapshot.js';
import { PollScheduler } from '../../src/streams/poll-scheduler.js';
import { FakeProvider, hookUrl, tokenOf } from '../support/fake-provider.js';
import { sharedRedisHooks } from '../support/redis-hooks.js';
import { redisForTests } from '../support/redis-server.js';
import { VirtualClock } from '../support/virtual-clock.js';

const redis = redisForTests();
const RETAIN_MS = 60_000;
const input = { type: 'url' as const, url: 'https://example.com/a.wav' };

/**
 * Retention in a cluster: every member sweeps (no lock); each removal is a compare-and-set in
 * Redis that is idempotent, so members sweeping at once agree and neither fails.
 */
describe.skipIf(redis.skip !== undefined)('retention in a cluster on Redis', () => {
  const redisServer = sharedRedisHooks({ appendfsync: 'no' });
  const engines = redisServer.closeAfterEach;

  it('two members sweep at once without errors: each finished job is removed once from Redis and from both; a running one stays; a member started later neither has them nor replays their changes', async () => {
    const provider = new FakeProvider({ pollPolicy: { intervalMs: 60_000 } });
    const clock = new VirtualClock();
    const prefix = `retention:${randomUUID()}:`;
    const errors: EngineEvent[] = [];
    const member = async () => {
      const log = await RedisSharedLog.open({ url: redisServer.server.url, prefix });
      const engine = await createEngine({
        providers: [provider],
        cluster: { log, pollSchedule: (options) => new PollScheduler(options), close: () => log.close() },
        scheduler: clock,
        webhookUrl: hookUrl,
        resultsDir: false,
        retainMs: RETAIN_MS,
      });
      engine.events$.subscribe((event) => {
        if (event.type === 'store-error') errors.push(event);
      });
      engines.push(engine);
      return engine;
    };
    const a = await member();
    const b = await member();
    const jobs: JobSnapshot[] = [];
    for (let i = 0; i < 30; i++) jobs.push(await a.submit({ provider: 'fake', kind: 'transcription', input }));
    const running = await b.submit({ provider: 'fake', kind: 'transcription', input });
    // Half the webhooks reach each member.
    for (let i = 0; i < 30; i++) {
      const target = i % 2 === 0 ? a : b;
      await target.ingestWebhook({ provider: 'fake', token: tokenOf(provider.created[i]!.webhookUrl), body: { id: `ext-${i + 1}`, status: i % 3 === 0 ? 'BROKEN' : 'DONE' } });
    }
    await expect.poll(() => jobs.every((job) => b.get(job.id)?.status !== 'queued' && a.get(job.id)?.status !== 'queued')).toBe(true);
    const seq = a.seq;
    await expect.poll(() => b.seq).toBe(seq);
    await clock.advance(RETAIN_MS + 1);

    const [fromA, fromB] = await Promise.all([a.sweepRetention(), b.sweepRetention()]);
    const ids = jobs.map((job) => job.id).sort();
    // Each member drops every job from its own table: the one that removed it in Redis, and the other, which finds it gone.
    expect([...fromA.removed].sort()).toEqual(ids);
    expect([...fromB.removed].sort()).toEqual(ids);
    expect(errors).toEqual([]);
    for (const engine of [a, b]) expect(engine.snapshot().jobs.map((job) => job.id)).toEqual([running.id]);
    expect(a.changesSince(a.epoch, seq)).toBeUndefined();

    // A member started now loads neither the jobs nor their changes, and the seq goes on.
    const c = await member();
    expect(c.snapshot().jobs.map((job) => job.id)).toEqual([running.id]);
    expect(c.seq).toBe(seq);
    expect(c.changesSince(c.epoch, 0)).toBeUndefined();
    expect(c.newerThan({ epoch: c.epoch, seq, versions: { [jobs[0]!.id]: 3 } })!.gone).toEqual([jobs[0]!.id]);
    const next = await c.submit({ provider: 'fake', kind: 'transcription', input });
    expect(c.history(next.id).map((change) => change.seq)).toEqual([seq + 1, seq + 2]);
    await expect.poll(() => a.get(next.id)?.version).toBe(2);
    expect(a.changesSince(a.epoch, seq + 1)!.map((change) => [change.seq, change.job.id])).toEqual([[seq + 2, next.id]]);
    expect(errors).toEqual([]);
  }, 30_000);

  it('RedisSharedLog.remove removes a job only at the version given or older, counts one already gone as removed, and records the seq', async () => {
    const provider = new FakeProvider({ pollPolicy: { intervalMs: 60_000 } });
    const prefix = `retention-cas:${randomUUID()}:`;
    const log = await RedisSharedLog.open({ url: redisServer.server.url, prefix });
    const engine = await createEngine({
      providers: [provider],
      cluster: { log, pollSchedule: (options) => new PollScheduler(options), close: () => log.close() },
      scheduler: new VirtualClock(),
      webhookUrl: hookUrl,
      resultsDir: false,
    });
    engines.push(engine);
    const job = await engine.submit({ provider: 'fake', kind: 'transcription', input });
    await engine.ingestWebhook({ provider: 'fake', token: tokenOf(provider.created[0]!.webhookUrl), body: { id: 'ext-1', status: 'BROKEN' } });
    const stored = engine.get(job.id)!;
    expect(stored.version).toBe(3);
    expect(await log.remove([{ id: job.id, version: 2 }])).toEqual({ removed: [], atSeq: 3 });
    expect((await log.load()).jobs.map((record) => record.job.id)).toEqual([job.id]);
    expect((await log.load()).removedAt).toBeUndefined();
    expect(await log.remove([{ id: job.id, version: 3 }])).toEqual({ removed: [job.id], atSeq: 3 });
    expect(await log.remove([{ id: job.id, version: 3 }])).toEqual({ removed: [job.id], atSeq: 3 });
    expect(await log.load()).toEqual({ jobs: [], seq: 3, removedAt: 3 });
    expect(await log.remove([])).toEqual({ removed: [], atSeq: 0 });
  });
});
