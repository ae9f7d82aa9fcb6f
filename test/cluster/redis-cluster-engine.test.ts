import { randomUUID } from 'node:crypto';
import { filter, firstValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { redisCluster } from '../../src/cluster/index.js';
import { createEngine } from '../../src/streams/engine.js';
import { FakeProvider, hookUrl, tokenOf } from '../support/fake-provider.js';
import { sharedRedisHooks } from '../support/redis-hooks.js';
import { redisForTests } from '../support/redis-server.js';

const redis = redisForTests();

/**
 * Engines on `redisCluster` (shared log and shared poll schedule on a real redis-server), in
 * real time: what only the two together show.
 */
describe.skipIf(redis.skip !== undefined)('engines of one cluster on Redis', () => {
  const redisServer = sharedRedisHooks({ appendfsync: 'no' });
  const engines = redisServer.closeAfterEach;

  it("polls at once a job whose confirming webhook reached a member that had not yet seen the job's provider id (was: after the watchdog's quiet time)", async () => {
    // Polls only when asked: a webhook job waits a minute between polls.
    const provider = new FakeProvider({ pollPolicy: { intervalMs: 60_000, watchdog: { quietMs: 60_000 } } });
    const prefix = `confirm:${randomUUID()}:`;
    const member = async () => {
      const engine = await createEngine({ providers: [provider], cluster: await redisCluster({ url: redisServer.server.url, prefix }), webhookUrl: hookUrl, resultsDir: false });
      engines.push(engine);
      return engine;
    };
    const a = await member();
    const b = await member();
    // A records the job and asks the provider, which takes its time to answer…
    let answer!: () => void;
    provider.createGate = new Promise((resolve) => (answer = resolve));
    const submitted = a.submit({ provider: 'fake', kind: 'transcription', input: { type: 'url', url: 'https://example.com/a.wav' } });
    await expect.poll(() => provider.created.length).toBe(1);
    const id = a.snapshot().jobs[0]!.id;
    await firstValueFrom(b.job$(id));
    // …while the provider already calls back, at B, with a notice that asks for a poll.
    const token = tokenOf(provider.created[0]!.webhookUrl);
    expect(await b.ingestWebhook({ provider: 'fake', token, body: { id: 'ext-1', unrecognised: true } })).toMatchObject({ outcome: 'duplicate' });
    answer();
    const job = await submitted;
    expect(job.externalId).toBe('ext-1');
    await firstValueFrom(b.job$(id).pipe(filter((j) => j.externalId === 'ext-1')));
    // The poll B was asked for is made (by either member), not a minute later.
    await expect.poll(() => provider.pollsOf.get('ext-1') ?? 0, { timeout: 3000 }).toBeGreaterThanOrEqual(1);
  });
});
