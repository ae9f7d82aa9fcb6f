import { mkdtemp, readdir, readFile, rm, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/streams/engine.js';
import { FileStore } from '../../src/streams/file-store.js';
import { createSnapshot } from '../../src/streams/job-reducer.js';
import type { StoredJob } from '../../src/streams/job-store.js';
import { FakeProvider, hookUrl, tokenOf } from '../support/fake-provider.js';

let dir: string;
const open: { close(): Promise<void> }[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'jobstream-store-'));
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
  await rm(dir, { recursive: true, force: true });
});

async function engineOn(provider: FakeProvider, options: { compactMinBytes?: number } = {}): Promise<Engine> {
  const store = await FileStore.open({ dir, ...options });
  const engine = await createEngine({ providers: [provider], store, webhookUrl: hookUrl });
  open.push(engine);
  return engine;
}

function stored(id: string, version = 1): StoredJob {
  const job = createSnapshot({ id, provider: 'fake', kind: 'transcription', externalId: `ext-${id}`, name: null, metadata: {}, options: {}, createdAt: 1 });
  return { job: { ...job, version }, secret: 'abcdefghijklmnopqrstuv' };
}

const input = { type: 'url' as const, url: 'https://example.com/a.wav' };

describe('FileStore through the engine', () => {
  it('keeps jobs across a restart and resumes polling the unfinished ones', async () => {
    const provider = new FakeProvider();
    const first = await engineOn(provider);
    const done = await first.submit({ provider: 'fake', kind: 'transcription', input });
    provider.set('ext-1', 'DONE', { result: 'r1' });
    await first.waitFor(done.id, { timeoutMs: 5000 });
    const pending = await first.submit({ provider: 'fake', kind: 'separation', input, name: 'keep me' });
    await first.close();

    provider.set('ext-2', 'DONE', { result: ['vocals'] });
    const second = await engineOn(provider);
    expect(second.get(done.id)).toMatchObject({ status: 'succeeded', result: 'r1' });
    expect(second.get(pending.id)).toMatchObject({ status: 'queued', name: 'keep me' });
    expect(await second.waitFor(pending.id, { timeoutMs: 5000 })).toMatchObject({ status: 'succeeded', result: ['vocals'] });
  });

  it('still accepts webhooks for a job after a restart (the secret is kept)', async () => {
    const provider = new FakeProvider();
    const first = await engineOn(provider);
    const job = await first.submit({ provider: 'fake', kind: 'transcription', input });
    const token = tokenOf(provider.created[0]?.webhookUrl);
    await first.close();
    const second = await engineOn(provider);
    const result = await second.ingestWebhook({ provider: 'fake', token, body: { id: 'ext-1', status: 'DONE', result: 'x' } });
    expect(result).toMatchObject({ outcome: 'applied', job: { id: job.id, status: 'succeeded' } });
  });

  it('fails a job whose submission was interrupted before the provider answered', async () => {
    const store = await FileStore.open({ dir });
    open.push(store);
    const job = createSnapshot({ id: 'job_lost', provider: 'fake', kind: 'transcription', externalId: null, name: null, metadata: {}, options: {}, createdAt: 1 });
    await store.append([{ job, secret: 'abcdefghijklmnopqrstuv' }]);
    await store.close();
    const engine = await engineOn(new FakeProvider());
    expect(engine.get('job_lost')).toMatchObject({ status: 'failed', error: { code: 'SUBMIT_INTERRUPTED' }, source: 'restore' });
  });

  it('refuses a second engine on the same directory, and allows one after close', async () => {
    const first = await engineOn(new FakeProvider());
    await expect(FileStore.open({ dir })).rejects.toMatchObject({ code: 'STORE_LOCKED', message: expect.stringContaining(`pid ${process.pid}`) });
    await first.close();
    const again = await FileStore.open({ dir });
    open.push(again);
    expect(await again.load()).toEqual([]);
  });

  it('takes over a lock left by a process that died', async () => {
    await writeFile(join(dir, 'LOCK'), JSON.stringify({ pid: 2 ** 22 + 12345, host: (await import('node:os')).hostname(), since: 'then' }));
    const store = await FileStore.open({ dir });
    open.push(store);
    expect(JSON.parse(await readFile(join(dir, 'LOCK'), 'utf8'))).toMatchObject({ pid: process.pid });
  });

  it('compacts the journal into the lowdb snapshot and loads the same jobs back', async () => {
    const provider = new FakeProvider();
    const engine = await engineOn(provider, { compactMinBytes: 2000 });
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push((await engine.submit({ provider: 'fake', kind: 'transcription', input })).id);
    await engine.close();
    const files = await readdir(dir);
    const snapshot = JSON.parse(await readFile(join(dir, 'jobs.json'), 'utf8')) as { generation: number; jobs: unknown[] };
    expect(snapshot.generation).toBeGreaterThan(0);
    expect(files.filter((f) => f.startsWith('journal-')).every((f) => Number(/\d+/.exec(f)?.[0]) >= snapshot.generation)).toBe(true);

    const again = await engineOn(provider);
    expect(again.snapshot().jobs.map((j) => j.id).sort()).toEqual([...ids].sort());
    expect(again.snapshot().jobs.every((j) => j.externalId !== null)).toBe(true);
  });
});

describe('FileStore with damaged files', () => {
  async function loadFails(): Promise<unknown> {
    const store = await FileStore.open({ dir });
    open.push(store);
    return store.load().then(
      () => new Error('load succeeded'),
      (error: unknown) => error,
    );
  }

  it('names the snapshot file when it is truncated, and leaves it as it was', async () => {
    const text = JSON.stringify({ format: 1, generation: 0, jobs: [stored('job_a')] });
    await writeFile(join(dir, 'jobs.json'), text.slice(0, text.length / 2));
    const error = await loadFails();
    expect(error).toMatchObject({ code: 'STORE_CORRUPT', file: join(dir, 'jobs.json') });
    expect((error as Error).message).toMatch(/jobs\.json is damaged: it is not valid JSON/);
    expect(await readFile(join(dir, 'jobs.json'), 'utf8')).toBe(text.slice(0, text.length / 2));
  });

  it('says which field of the snapshot is wrong', async () => {
    const bad = { ...stored('job_a'), job: { ...stored('job_a').job, status: 'exploded' } };
    await writeFile(join(dir, 'jobs.json'), JSON.stringify({ format: 1, generation: 0, jobs: [bad] }));
    expect(((await loadFails()) as Error).message).toMatch(/jobs\[0\]\.job\.status/);
  });

  it('reports garbage inside the journal with its line', async () => {
    await writeFile(join(dir, 'journal-00000000.jsonl'), `${JSON.stringify(stored('job_a'))}\n#garbage#\n${JSON.stringify(stored('job_b'))}\n`);
    const error = await loadFails();
    expect(error).toMatchObject({ code: 'STORE_CORRUPT' });
    expect((error as Error).message).toContain('journal-00000000.jsonl is damaged: line 2 is not valid JSON');
  });

  it('reports an empty snapshot file rather than starting empty', async () => {
    await writeFile(join(dir, 'jobs.json'), '');
    expect(((await loadFails()) as Error).message).toContain('the file is empty');
  });

  it('drops a torn last journal line (never acknowledged) and keeps appending cleanly', async () => {
    const path = join(dir, 'journal-00000000.jsonl');
    await writeFile(path, `${JSON.stringify(stored('job_a', 1))}\n${JSON.stringify(stored('job_a', 2))}\n{"job":{"id":"job_a","vers`);
    const store = await FileStore.open({ dir });
    open.push(store);
    expect((await store.load()).map((s) => s.job.version)).toEqual([2]);
    await store.append([stored('job_b', 1)]);
    await store.close();
    const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as StoredJob).job.id)).toEqual(['job_a', 'job_a', 'job_b']);
  });

  it('keeps the highest version of a job across journal lines', async () => {
    const path = join(dir, 'journal-00000000.jsonl');
    await writeFile(path, `${JSON.stringify(stored('job_a', 3))}\n`);
    await appendFile(path, `${JSON.stringify(stored('job_a', 2))}\n`);
    const store = await FileStore.open({ dir });
    open.push(store);
    expect((await store.load())[0]?.job.version).toBe(3);
  });
});
