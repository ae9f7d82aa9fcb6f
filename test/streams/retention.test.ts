import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filter, firstValueFrom } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/streams/engine.js';
import type { EngineEvent } from '../../src/streams/engine-options.js';
import { FileStore } from '../../src/streams/file-store.js';
import { FakeProvider, hookUrl, tokenOf } from '../support/fake-provider.js';
import { VirtualClock } from '../support/virtual-clock.js';

const HOUR_MS = 3_600_000;
const input = { type: 'url' as const, url: 'https://example.com/song.wav' };

describe('retention (embedded store)', () => {
  const engines: Engine[] = [];
  const dirs: string[] = [];
  afterEach(async () => {
    await Promise.all(engines.splice(0).map((engine) => engine.close()));
    await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  });

  async function tempDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'jobstream-retention-'));
    dirs.push(dir);
    return dir;
  }

  function removedEvent(engine: Engine): Promise<Extract<EngineEvent, { type: 'removed' }>> {
    return firstValueFrom(engine.events$.pipe(filter((event): event is Extract<EngineEvent, { type: 'removed' }> => event.type === 'removed')));
  }

  it('sweeps at start and every hour on the engine\'s clock: a job goes once it settled longer ago than the period, with its result copies and its kept upload', async () => {
    const dir = await tempDir();
    const upload = join(await tempDir(), 'take.wav');
    await writeFile(upload, 'RIFF audio');
    const provider = new FakeProvider();
    const clock = new VirtualClock();
    const start = clock.now();
    const options = { providers: [provider], dataDir: dir, scheduler: clock, webhookUrl: hookUrl, retainMs: 2 * HOUR_MS };
    const engine = await createEngine(options);
    engines.push(engine);
    const job = await engine.submit({ provider: 'fake', kind: 'transcription', input: { type: 'file', path: upload } });
    await expect(stat(join(dir, 'inputs', job.id))).resolves.toMatchObject({ size: 10 });
    await engine.ingestWebhook({ provider: 'fake', token: tokenOf(provider.created[0]?.webhookUrl), body: { id: 'ext-1', status: 'DONE', result: 'r' } });
    const settled = await engine.waitFor(job.id);
    expect(settled.artifacts?.state).toBe('complete');
    await expect(stat(join(dir, 'results', job.id, 'result.txt'))).resolves.toBeTruthy();

    // The sweeps at 1 h and 2 h find it settled 1 h and 2 h ago: not more than the period.
    await clock.advance(2 * HOUR_MS);
    expect(engine.get(job.id)).toBeDefined();
    expect(engine.retention).toMatchObject({ retainDays: 2 / 24, lastSweepAt: start + 2 * HOUR_MS, removedTotal: 0, oldestKeptFinishedAt: settled.updatedAt });
    const removed = removedEvent(engine);
    await clock.advance(HOUR_MS);
    expect(await removed).toEqual({ type: 'removed', ids: [job.id], at: start + 3 * HOUR_MS });
    expect(engine.get(job.id)).toBeUndefined();
    await expect(stat(join(dir, 'inputs', job.id))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(stat(join(dir, 'results', job.id))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(engine.retention).toMatchObject({ removedTotal: 1, oldestKeptFinishedAt: null });

    // Another job, finished now; the engine stops and starts again three hours later: the sweep at start removes it.
    const next = await engine.submit({ provider: 'fake', kind: 'transcription', input });
    await engine.ingestWebhook({ provider: 'fake', token: tokenOf(provider.created[1]?.webhookUrl), body: { id: 'ext-2', status: 'BROKEN' } });
    await engine.close();
    await clock.advance(3 * HOUR_MS);
    const again = await createEngine(options);
    engines.push(again);
    await expect.poll(() => again.retention.lastSweepAt).toBe(start + 6 * HOUR_MS);
    expect(again.get(next.id)).toBeUndefined();
    expect(again.get(job.id)).toBeUndefined();
    expect(again.snapshot().jobs).toEqual([]);
  });

  it('keeps every job without a period, and sweeps nothing', async () => {
    const clock = new VirtualClock();
    const provider = new FakeProvider();
    const engine = await createEngine({ providers: [provider], dataDir: await tempDir(), scheduler: clock, webhookUrl: hookUrl });
    engines.push(engine);
    const job = await engine.submit({ provider: 'fake', kind: 'transcription', input });
    await engine.ingestWebhook({ provider: 'fake', token: tokenOf(provider.created[0]?.webhookUrl), body: { id: 'ext-1', status: 'BROKEN' } });
    await clock.advance(1000 * HOUR_MS);
    expect(await engine.sweepRetention()).toEqual({ at: clock.now(), removed: [] });
    expect(engine.get(job.id)?.status).toBe('failed');
    expect(engine.retention).toMatchObject({ retainDays: null, lastSweepAt: null, removedTotal: 0 });
  });

  it('refuses a period that is not a positive number of milliseconds', async () => {
    const dir = await tempDir();
    await expect(createEngine({ providers: [new FakeProvider()], dataDir: dir, retainMs: 0 })).rejects.toThrow(/retainMs must be a positive number/);
    await expect(createEngine({ providers: [new FakeProvider()], dataDir: dir, retainMs: Number.NaN })).rejects.toThrow(RangeError);
  });

  it('does not grow the journal or the snapshot with removed jobs: compactions leave them out, and a restart continues the seq', async () => {
    const dir = await tempDir();
    const clock = new VirtualClock();
    const provider = new FakeProvider({ pollPolicy: { intervalMs: HOUR_MS } });
    const open = async () => {
      const engine = await createEngine({
        providers: [provider],
        store: await FileStore.open({ dir, compactMinBytes: 1 }),
        resultsDir: false,
        scheduler: clock,
        webhookUrl: hookUrl,
        retainMs: 1000,
      });
      engines.push(engine);
      return engine;
    };
    const engine = await open();
    const removedIds: string[] = [];
    for (let round = 0; round < 5; round++) {
      const jobs = [];
      for (let i = 0; i < 20; i++) jobs.push(await engine.submit({ provider: 'fake', kind: 'transcription', input, metadata: { round, i } }));
      for (const [i] of jobs.entries()) {
        const n = round * 20 + i;
        await engine.ingestWebhook({ provider: 'fake', token: tokenOf(provider.created[n]?.webhookUrl), body: { id: `ext-${n + 1}`, status: 'BROKEN' } });
      }
      await clock.advance(1001);
      const { removed } = await engine.sweepRetention();
      expect(removed).toHaveLength(20);
      removedIds.push(...removed);
    }
    const kept = await engine.submit({ provider: 'fake', kind: 'transcription', input });
    const seq = engine.seq;
    // Closing waits for any compaction under way (one that overlapped a removal may still hold
    // the removed jobs: the removal line in the journal after it takes them out on load).
    await engine.close();

    // The store as the next start reads it, compacted: nothing of the removed jobs is left.
    const store = await FileStore.open({ dir });
    const loaded = await store.load();
    expect(loaded.map((stored) => stored.job.id)).toEqual([kept.id]);
    expect(store.removedAt).toBeGreaterThanOrEqual(seq - 2);
    await store.compact(() => loaded, () => store.loadedChanges());
    await store.close();
    const snapshot = await readFile(join(dir, 'jobs.json'), 'utf8');
    for (const id of removedIds) expect(snapshot).not.toContain(id);
    expect(snapshot).toContain(kept.id);
    let journalBytes = 0;
    for (const file of await readdir(dir)) if (file.startsWith('journal-')) journalBytes += (await stat(join(dir, file))).size;
    expect(journalBytes).toBe(0);
    // One job's worth, not a hundred.
    expect(snapshot.length).toBeLessThan(5_000);

    const again = await open();
    expect(again.snapshot().jobs.map((job) => job.id)).toEqual([kept.id]);
    expect(again.seq).toBe(seq);
    const next = await again.submit({ provider: 'fake', kind: 'transcription', input });
    expect(again.history(next.id).map((change) => change.seq)).toEqual([seq + 1, seq + 2]);
  });
});
