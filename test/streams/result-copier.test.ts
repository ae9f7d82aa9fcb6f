import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, toArray } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/streams/engine.js';
import { ProviderError } from '../../src/streams/errors.js';
import { FileStore } from '../../src/streams/file-store.js';
import { MemoryStore } from '../../src/streams/job-store.js';
import { FakeProvider } from '../support/fake-provider.js';

let dir: string;
const engines: Engine[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'jobstream-results-'));
});
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
  await rm(dir, { recursive: true, force: true });
});

async function setup(provider = new FakeProvider(), store: 'memory' | 'file' = 'memory') {
  const engine = await createEngine({
    providers: [provider],
    ...(store === 'memory' ? { store: new MemoryStore(), resultsDir: join(dir, 'results') } : { dataDir: dir }),
  });
  engines.push(engine);
  return engine;
}

const input = { type: 'url' as const, url: 'https://example.com/a.wav' };

describe('copying result files into the data directory', () => {
  it('records pending with the success, then complete with the files; job$ completes once settled', async () => {
    const provider = new FakeProvider();
    const engine = await setup(provider);
    const job = await engine.submit({ provider: 'fake', kind: 'transcription', input });
    const seen = firstValueFrom(engine.job$(job.id).pipe(toArray()));
    provider.set('ext-1', 'DONE', { result: 'r1' });
    const all = await seen;
    const succeeded = all.filter((s) => s.status === 'succeeded');
    expect(succeeded.map((s) => [s.artifacts?.state, s.source])).toEqual([
      ['pending', 'poll'],
      ['complete', 'results'],
    ]);
    expect(succeeded[1]?.version).toBe(succeeded[0]!.version + 1);
    expect(succeeded[1]).toMatchObject({ result: 'r1', error: null, artifacts: { files: [{ name: 'result.txt', contentType: 'text/plain', bytes: 13 }] } });
    expect(await readFile(join(dir, 'results', job.id, 'result.txt'), 'utf8')).toBe('content of r1');
    expect((await engine.waitFor(job.id)).artifacts?.state).toBe('complete');
  });

  it('reached$ and settled$ tell each job once, where a statuses filter tells a succeeded job twice (the demo submitted every MIDI job twice, issue #15)', async () => {
    const provider = new FakeProvider();
    const engine = await setup(provider);
    const filtered: number[] = [];
    const reached: number[] = [];
    const settled: string[] = [];
    engine.changes$({ statuses: ['succeeded'] }).subscribe((change) => filtered.push(change.job.version));
    engine.reached$('succeeded').subscribe((job) => reached.push(job.version));
    engine.reached$(['running', 'canceled']).subscribe((job) => reached.push(-job.version));
    engine.settled$().subscribe((job) => settled.push(`${job.status}/${job.artifacts?.state ?? '-'}`));
    const job = await engine.submit({ provider: 'fake', kind: 'transcription', input });
    provider.set('ext-1', 'WORKING', { progress: 0.5 });
    await firstValueFrom(engine.reached$('running'));
    provider.set('ext-1', 'DONE', { result: 'r1' });
    const final = await engine.waitFor(job.id, { timeoutMs: 5000 });
    expect(final.artifacts?.state).toBe('complete');
    // The success, then the change that recorded the copies: both are "succeeded".
    expect(filtered).toEqual([final.version - 1, final.version]);
    expect(reached).toEqual([-(final.version - 2), final.version - 1]);
    expect(settled).toEqual(['succeeded/complete']);
  });

  it('serves the local copy after the provider has deleted the file', async () => {
    const provider = new FakeProvider();
    const engine = await setup(provider);
    const job = await engine.submit({ provider: 'fake', kind: 'transcription', input });
    provider.set('ext-1', 'DONE', { result: 'kept' });
    await engine.waitFor(job.id, { timeoutMs: 5000 });
    provider.failures.push({ on: 'download', error: new ProviderError('fake', 'rejected', 'expired after 14 days', { status: 404 }) });
    const download = await engine.openResult(job.id, 'result.txt');
    const chunks: Buffer[] = [];
    for await (const chunk of download.body) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('content of kept');
    expect(provider.failures).toHaveLength(1);
  });

  it('retries a failing download, then completes', async () => {
    const provider = new FakeProvider();
    const engine = await setup(provider);
    const down = () => new ProviderError('fake', 'unavailable', 'bad gateway', { status: 502 });
    provider.failures.push({ on: 'download', error: down() }, { on: 'download', error: down() });
    const job = await engine.submit({ provider: 'fake', kind: 'transcription', input });
    provider.set('ext-1', 'DONE', { result: 'r' });
    // Backoff here is up to 1 s, then 2 s (full jitter): within the wait below.
    const done = await engine.waitFor(job.id, { timeoutMs: 10_000 });
    expect(done.artifacts?.state).toBe('complete');
    expect(provider.downloads).toBe(3);
  }, 15_000);

  it('gives up on a refusal at once, recording why; the job stays succeeded', async () => {
    const provider = new FakeProvider();
    const engine = await setup(provider);
    provider.failures.push({ on: 'download', error: new ProviderError('fake', 'rejected', 'gone', { status: 404 }) });
    const job = await engine.submit({ provider: 'fake', kind: 'transcription', input });
    provider.set('ext-1', 'DONE', { result: 'r' });
    const done = await engine.waitFor(job.id, { timeoutMs: 5000 });
    expect(done).toMatchObject({ status: 'succeeded', result: 'r', artifacts: { state: 'failed', files: [] } });
    expect(done.artifacts?.error).toMatch(/result\.txt: fake: gone \(after 1 attempt\)/);
    expect(provider.downloads).toBe(1);
  });

  it('leaves jobs without files alone', async () => {
    const provider = new FakeProvider();
    const engine = await setup(provider);
    const job = await engine.submit({ provider: 'fake', kind: 'transcription', input });
    provider.set('ext-1', 'DONE', { result: { notes: 3 } });
    expect((await engine.waitFor(job.id, { timeoutMs: 5000 })).artifacts).toBeNull();
  });

  it('picks up copies that were still pending when the engine stopped', async () => {
    const provider = new FakeProvider();
    let open!: () => void;
    provider.downloadGate = new Promise((resolve) => (open = resolve));
    const first = await setup(provider, 'file');
    const job = await first.submit({ provider: 'fake', kind: 'transcription', input });
    provider.set('ext-1', 'DONE', { result: 'later' });
    await expect.poll(() => provider.downloads).toBe(1);
    expect(first.get(job.id)?.artifacts?.state).toBe('pending');
    await first.close();
    engines.splice(engines.indexOf(first), 1);

    open();
    const second = await setup(provider, 'file');
    expect((await second.waitFor(job.id, { timeoutMs: 5000 })).artifacts?.state).toBe('complete');
    expect(await readFile(join(dir, 'results', job.id, 'result.txt'), 'utf8')).toBe('content of later');
    await second.close();
    // Nothing half-written is left behind.
    const reopened = await FileStore.open({ dir });
    const stored = (await reopened.load()).find((s) => s.job.id === job.id);
    await reopened.close();
    expect(stored?.job.artifacts?.state).toBe('complete');
  });
});
