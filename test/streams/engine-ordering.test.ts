import fc from 'fast-check';
import { firstValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/streams/engine.js';
import { MemoryStore } from '../../src/streams/job-store.js';
import { isTerminal, rank } from '../../src/streams/job-status.js';
import { FakeProvider, hookUrl, tokenOf, type FakeWebhookBody } from '../support/fake-provider.js';

const STATUS_RANK: Record<string, number> = { WAITING: 0, WORKING: 1, DONE: 2, BROKEN: 2 };

describe('Engine under duplicated and reordered deliveries (property)', () => {
  it('shows every subscriber strictly rising versions, the highest rank seen, and nothing after terminal', async () => {
    const delivery = fc.record({
      status: fc.constantFrom('WAITING', 'WORKING', 'DONE', 'BROKEN'),
      progress: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(delivery, { minLength: 1, maxLength: 10 }), fc.array(fc.nat(), { maxLength: 20 }), async (seen, picks) => {
        const provider = new FakeProvider();
        const engine = await createEngine({ providers: [provider], store: new MemoryStore(), webhookUrl: hookUrl });
        let unfinished: Promise<unknown> | undefined;
        try {
          const job = await engine.submit({ provider: 'fake', kind: 'transcription', input: { type: 'url', url: 'https://example.com/a.wav' } });
          const token = tokenOf(provider.created[0]?.webhookUrl);
          const early = firstValueFrom(engine.job$(job.id).pipe(toArray()));
          // Every observation once, plus duplicates picked at random, all racing each other.
          const list = [...seen, ...picks.map((i) => seen[i % seen.length]!)];
          const results = await Promise.allSettled(
            list.map((d) => {
              const body: FakeWebhookBody = { id: 'ext-1', status: d.status, ...(d.progress === undefined ? {} : { progress: d.progress }) };
              return engine.ingestWebhook({ provider: 'fake', token, body });
            }),
          );
          expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
          const final = engine.get(job.id)!;
          const maxRank = Math.max(...list.map((d) => STATUS_RANK[d.status]!));
          expect(rank(final.status)).toBe(maxRank);

          const late = engine.job$(job.id);
          if (isTerminal(final.status)) {
            const versions = (await early).map((j) => j.version);
            expect(versions).toEqual([...versions].sort((a, b) => a - b));
            expect(new Set(versions).size).toBe(versions.length);
            expect((await early).filter((j) => isTerminal(j.status))).toHaveLength(1);
            expect((await firstValueFrom(late.pipe(toArray()))).map((j) => j.version)).toEqual([final.version]);
          } else {
            expect((await firstValueFrom(late)).version).toBe(final.version);
            unfinished = early;
          }
        } finally {
          await engine.close();
        }
        // A job stream that never finished ends with ENGINE_CLOSED instead of hanging.
        if (unfinished !== undefined) await expect(unfinished).rejects.toMatchObject({ code: 'ENGINE_CLOSED' });
      }),
      { numRuns: 150 },
    );
  });
});
