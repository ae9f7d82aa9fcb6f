import { mkdtemp, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/streams/engine.js';
import { FileStore, type FileStoreOptions } from '../../src/streams/file-store.js';
import { createSnapshot } from '../../src/streams/job-reducer.js';
import type { JsonValue } from '../../src/streams/job-snapshot.js';
import type { StoredJob } from '../../src/streams/job-store.js';
import { FakeProvider, hookUrl, tokenOf } from '../support/fake-provider.js';

let dir: string;
const open: { close(): Promise<void> }[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'jobstream-large-'));
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
  await rm(dir, { recursive: true, force: true });
});

async function storeOn(options: Partial<FileStoreOptions> = {}): Promise<FileStore> {
  const store = await FileStore.open({ dir, fsync: false, ...options });
  open.push(store);
  return store;
}

/** A MIDI-like result (a list of notes), about `kb` KB of JSON: the shape of the 584 KB results that were reported. */
function midi(kb: number, seed: number): JsonValue {
  const notes: JsonValue[] = [];
  for (let t = 0; notes.length * 56 < kb * 1024; t += 0.125) {
    notes.push({ pitch: 30 + ((seed + notes.length * 7) % 60), velocity: 64, start: Math.round(t * 1000) / 1000, end: Math.round((t + 0.25) * 1000) / 1000 });
  }
  return { format: 'midi-notes', seed, notes };
}

function finished(id: string, result: JsonValue, version = 3): StoredJob {
  const job = createSnapshot({ id, provider: 'fake', kind: 'transcription', externalId: `ext-${id}`, name: null, metadata: {}, options: {}, createdAt: 1 });
  return { job: { ...job, status: 'succeeded', version, result }, secret: 'abcdefghijklmnopqrstuv' };
}

async function sizeOf(pattern: RegExp): Promise<number> {
  let bytes = 0;
  for (const file of await readdir(dir)) if (pattern.test(file)) bytes += (await stat(join(dir, file))).size;
  return bytes;
}

const resultFiles = async (): Promise<string[]> => (await readdir(join(dir, 'results-data')).catch(() => [])).sort();

describe('FileStore with large results (issue #10, point 8)', () => {
  it('keeps 40 results of 40 KB (the 767 x 584 KB MIDI reproduction, scaled) out of line: they round-trip across close/reopen and compaction while journal and snapshot stay small', async () => {
    const jobs = Array.from({ length: 40 }, (_, i) => finished(`job_${String(i).padStart(3, '0')}`, midi(40, i)));
    const small = finished('job_small', { url: 'https://example.com/a.mid' });
    const first = await storeOn({ inlineResultMaxBytes: 16 * 1024 });
    await first.load();
    for (const stored of jobs) await first.append([stored]);
    await first.append([small]);
    // Each line only refers to its result: 41 lines of well under 2 KB. A small result stays inline.
    expect(await sizeOf(/^journal-/)).toBeLessThan(41 * 2048);
    expect(await resultFiles()).toHaveLength(40);
    expect(await readFile(join(dir, 'journal-00000000.jsonl'), 'utf8')).toContain('https://example.com/a.mid');
    await first.close();

    const second = await storeOn({ inlineResultMaxBytes: 16 * 1024 });
    const reloaded = await second.load();
    expect(new Map(reloaded.map((s) => [s.job.id, s.job.result]))).toEqual(new Map([...jobs, small].map((s) => [s.job.id, s.job.result])));
    await second.compact(() => reloaded);
    expect(await sizeOf(/^jobs\.json$/)).toBeLessThan(40 * 2048);
    expect(await resultFiles()).toHaveLength(40);
    await second.close();

    const third = await storeOn({ inlineResultMaxBytes: 16 * 1024 });
    const compacted = await third.load();
    expect(compacted.map((s) => s.job.result)).toEqual([...jobs, small].map((s) => s.job.result));
  });

  it('writes an unchanged large result once, however many versions of its job follow', async () => {
    const store = await storeOn({ inlineResultMaxBytes: 1024 });
    await store.load();
    const v3 = finished('job_same', midi(8, 1), 3);
    await store.append([v3]);
    for (let version = 4; version <= 8; version++) await store.append([{ ...v3, job: { ...v3.job, version, updatedAt: version } }]);
    expect(await resultFiles()).toEqual(['job_same.3.json']);
    await store.close();
    const again = await storeOn({ inlineResultMaxBytes: 1024 });
    expect((await again.load())[0]?.job).toMatchObject({ version: 8, result: v3.job.result });
  });

  it('removes result files nothing refers to any more after a compaction, and keeps the others', async () => {
    const store = await storeOn({ inlineResultMaxBytes: 1024 });
    await store.load();
    const a1 = finished('job_a', midi(4, 1), 3);
    const a2 = finished('job_a', midi(4, 2), 4);
    const b = finished('job_b', midi(4, 3), 3);
    await store.append([a1, b]);
    await store.append([a2]);
    expect(await resultFiles()).toEqual(['job_a.3.json', 'job_a.4.json', 'job_b.3.json']);
    await store.compact(() => [a2, b]);
    expect(await resultFiles()).toEqual(['job_a.4.json', 'job_b.3.json']);
    await store.close();
    const again = await storeOn({ inlineResultMaxBytes: 1024 });
    expect(new Map((await again.load()).map((s) => [s.job.id, s.job.result]))).toEqual(new Map([['job_a', a2.job.result], ['job_b', b.job.result]]));
  });

  it('reports a missing result file as damage naming that file, not as a job without a result', async () => {
    const store = await storeOn({ inlineResultMaxBytes: 1024 });
    await store.load();
    await store.append([finished('job_gone', midi(4, 1))]);
    await store.close();
    await unlink(join(dir, 'results-data', 'job_gone.3.json'));
    const again = await storeOn();
    const error = await again.load().then(() => undefined, (e: unknown) => e);
    expect(error).toMatchObject({ code: 'STORE_CORRUPT', file: join(dir, 'results-data', 'job_gone.3.json') });
    expect((error as Error).message).toMatch(/it is missing; it holds the result of job job_gone that journal-00000000\.jsonl line 1 refers to/);
  });

  it('reports a result file of the wrong size as damage naming it', async () => {
    const store = await storeOn({ inlineResultMaxBytes: 1024 });
    await store.load();
    await store.append([finished('job_cut', midi(4, 1))]);
    await store.close();
    const path = join(dir, 'results-data', 'job_cut.3.json');
    await writeFile(path, (await readFile(path, 'utf8')).slice(0, 100));
    const error = await (await storeOn()).load().then(() => undefined, (e: unknown) => e);
    expect(error).toMatchObject({ code: 'STORE_CORRUPT', file: path });
    expect((error as Error).message).toContain('is damaged: it is 100 bytes');
  });

  it('loads a format-1 snapshot (one big JSON document, results inline) and moves its large results out of line at the next compaction', async () => {
    const big = finished('job_old', midi(40, 9));
    const small = finished('job_tiny', 'r1');
    // Exactly what the previous version wrote: format 1, one job per line, results inline.
    await writeFile(join(dir, 'jobs.json'), `{"format":1,"generation":2,"jobs":[\n${JSON.stringify(big)},\n${JSON.stringify(small)}\n]}\n`);
    await writeFile(join(dir, 'journal-00000002.jsonl'), `${JSON.stringify({ ...small, job: { ...small.job, version: 4 } })}\n`);
    const store = await storeOn({ inlineResultMaxBytes: 16 * 1024 });
    const loaded = await store.load();
    expect(new Map(loaded.map((s) => [s.job.id, [s.job.version, s.job.result]]))).toEqual(
      new Map([['job_old', [3, big.job.result]], ['job_tiny', [4, 'r1']]]),
    );
    await store.compact(() => loaded);
    expect(await resultFiles()).toEqual(['job_old.3.json']);
    expect(await sizeOf(/^jobs\.json$/)).toBeLessThan(4096);
    expect(JSON.parse(await readFile(join(dir, 'jobs.json'), 'utf8'))).toMatchObject({ format: 3, generation: 3, count: 2, changeCount: 0 });
    await store.close();
    const again = await storeOn();
    expect(new Map((await again.load()).map((s) => [s.job.id, s.job.result]))).toEqual(new Map([['job_old', big.job.result], ['job_tiny', 'r1']]));
  });

  it('through the engine: a large webhook result is stored out of line and served again after a restart', async () => {
    const provider = new FakeProvider();
    const engineOn = async () => {
      const engine = await createEngine({ providers: [provider], store: await FileStore.open({ dir, inlineResultMaxBytes: 1024 }), webhookUrl: hookUrl });
      open.push(engine);
      return engine;
    };
    const first = await engineOn();
    const job = await first.submit({ provider: 'fake', kind: 'transcription', input: { type: 'url', url: 'https://example.com/a.wav' } });
    const result = 'n'.repeat(200_000);
    await first.ingestWebhook({ provider: 'fake', token: tokenOf(provider.created[0]?.webhookUrl), body: { id: 'ext-1', status: 'DONE', result } });
    await first.close();
    expect(await sizeOf(/^journal-/)).toBeLessThan(8192);
    expect(await resultFiles()).toHaveLength(1);
    const second = await engineOn();
    expect(second.get(job.id)).toMatchObject({ status: 'succeeded', result });
  });
});
