import { mkdir, mkdtemp, readdir, readFile, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/streams/engine.js';
import { InvalidRequestError } from '../../src/streams/errors.js';
import { FileStore } from '../../src/streams/file-store.js';
import { createSnapshot } from '../../src/streams/job-reducer.js';
import type { JobStatus } from '../../src/streams/job-status.js';
import type { StoredJob } from '../../src/streams/job-store.js';
import { FakeProvider, hookUrl } from '../support/fake-provider.js';

let dir: string;
const open: { close(): Promise<void> }[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'jobstream-damage-'));
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
  await rm(dir, { recursive: true, force: true });
});

async function storeOn(options: { compactMinBytes?: number } = {}): Promise<FileStore> {
  const store = await FileStore.open({ dir, fsync: false, ...options });
  open.push(store);
  return store;
}

function stored(id: string, version: number, status: JobStatus = 'running'): StoredJob {
  const job = createSnapshot({ id, provider: 'fake', kind: 'transcription', externalId: `ext-${id}`, name: null, metadata: {}, options: {}, createdAt: 1 });
  return { job: { ...job, status, version }, secret: 'abcdefghijklmnopqrstuv' };
}

/** Loads the directory as the next start would: the jobs, or the error that stopped it. */
async function nextStart(): Promise<StoredJob[] | Error> {
  const store = await storeOn();
  return store.load().then(
    async (jobs) => {
      await store.close();
      return jobs;
    },
    (error: unknown) => error as Error,
  );
}

/** Ten jobs, each first `running` (one batch), then `succeeded` (one batch each), then closed cleanly. */
async function tenJobsSucceeded(): Promise<string> {
  const store = await storeOn();
  await store.load();
  const ids = Array.from({ length: 10 }, (_, i) => `job_${i}`);
  await store.append(ids.map((id) => stored(id, 1)));
  for (const id of ids) await store.append([stored(id, 2, 'succeeded')]);
  await store.close();
  return join(dir, 'journal-00000000.jsonl');
}

/** What a kill -9 leaves: no record of a clean shutdown. */
const crashed = (): Promise<void> => rm(join(dir, 'clean-shutdown.json'), { force: true });

describe('a damaged data directory stops start-up with an error naming the file (issue #10, point 9)', () => {
  it('a missing jobs.json beside journal-00000003.jsonl is damage naming jobs.json (reproduces: started silently with 370 of 1,562 jobs)', async () => {
    // Generation 0 without a snapshot is a store that never compacted: fine, also after a crash.
    const young = await storeOn();
    await young.load();
    await young.append([stored('job_0', 1)]);
    await young.close();
    await crashed();
    expect(await nextStart()).toMatchObject([{ job: { id: 'job_0' } }]);

    const store = await storeOn({ compactMinBytes: 0 });
    await store.load();
    for (let i = 0; i < 3; i++) {
      await store.append([stored(`job_${i}`, 1)]);
      await store.compact(() => Array.from({ length: i + 1 }, (_, k) => stored(`job_${k}`, 1)));
    }
    await store.append([stored('job_3', 1)]);
    await store.close();
    expect((await readdir(dir)).filter((f) => f.startsWith('journal-'))).toEqual(['journal-00000003.jsonl']);
    await unlink(join(dir, 'jobs.json'));
    await crashed();

    const error = await nextStart();
    expect(error).toMatchObject({ code: 'STORE_CORRUPT', file: join(dir, 'jobs.json') });
    expect((error as Error).message).toMatch(/jobs\.json is damaged: it is missing, but journal-00000003\.jsonl continues from generation 3/);
  });

  it('a journal cut in the middle after a clean shutdown is damage naming it (reproduces: 195 jobs back from succeeded to running)', async () => {
    const path = await tenJobsSucceeded();
    const text = await readFile(path, 'utf8');
    // Cut in the middle of a line, as `truncate -s 50%` does.
    await truncate(path, Math.floor(Buffer.byteLength(text) / 2));

    const error = await nextStart();
    expect(error).toMatchObject({ code: 'STORE_CORRUPT', file: path });
    expect((error as Error).message).toMatch(/is \d+ bytes, but was \d+ bytes when the store was last closed cleanly: it was cut or changed since/);
    // Nothing was changed: the next try says the same.
    expect((await readFile(path, 'utf8')).length).toBe(Math.floor(Buffer.byteLength(text) / 2));
  });

  it('a journal cut exactly at a batch boundary after a clean shutdown is damage too', async () => {
    const path = await tenJobsSucceeded();
    const lines = (await readFile(path, 'utf8')).split('\n');
    // The first batch (10 lines, all running) and 2 of the 10 one-line batches that followed.
    await writeFile(path, lines.slice(0, 12).join('\n') + '\n');
    expect(await nextStart()).toMatchObject({ code: 'STORE_CORRUPT', file: path });
  });

  it('a journal missing a line inside a batch is damage even after a crash (not a torn last write)', async () => {
    const path = await tenJobsSucceeded();
    await crashed();
    const lines = (await readFile(path, 'utf8')).split('\n');
    lines.splice(4, 1);
    await writeFile(path, lines.join('\n'));
    const error = await nextStart();
    expect(error).toMatchObject({ code: 'STORE_CORRUPT', file: path });
    expect((error as Error).message).toContain('line 5 is line 6 of a batch of 10');
  });

  it('a changed line is damage: it no longer matches its checksum', async () => {
    const path = await tenJobsSucceeded();
    await crashed();
    await writeFile(path, (await readFile(path, 'utf8')).replace('"status":"succeeded"', '"status":"running"  '));
    expect(((await nextStart()) as Error).message).toMatch(/line 11 does not match its checksum/);
  });

  it('after a crash, a torn last batch is dropped whole (none of it was acknowledged) and appending goes on', async () => {
    const path = await tenJobsSucceeded();
    await crashed();
    const intact = await readFile(path, 'utf8');
    // A three-job batch of which the crash left one line and a half.
    const store = await storeOn();
    await store.load();
    await store.append([stored('job_0', 3, 'succeeded'), stored('job_1', 3, 'succeeded'), stored('job_2', 3, 'succeeded')]);
    await store.close();
    await crashed();
    const grown = await readFile(path, 'utf8');
    const torn = grown.slice(0, intact.length + Math.floor((grown.length - intact.length) / 2));
    await writeFile(path, torn);

    const again = await storeOn();
    const jobs = await again.load();
    expect(jobs.map((s) => s.job.version)).toEqual(Array(10).fill(2));
    expect(await readFile(path, 'utf8')).toBe(intact);
    await again.append([stored('job_0', 3, 'succeeded')]);
    await again.close();
    expect((await nextStart()) as StoredJob[]).toContainEqual(stored('job_0', 3, 'succeeded'));
  });

  it('a torn batch in a journal that is not the last one is damage', async () => {
    const path = await tenJobsSucceeded();
    await crashed();
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.slice(0, text.length - 20));
    await writeFile(join(dir, 'journal-00000001.jsonl'), '');
    const error = await nextStart();
    expect(error).toMatchObject({ code: 'STORE_CORRUPT', file: path });
    expect((error as Error).message).toMatch(/line 20 is incomplete, and it is not the last journal/);
  });

  it('5,000-deep JSON in a journal line is damage naming the file and the line (was a bare "Maximum call stack size exceeded")', async () => {
    const deep = '['.repeat(5000) + ']'.repeat(5000);
    const line = JSON.stringify(stored('job_a', 1)).replace('"options":{}', `"options":{"x":${deep}}`);
    await writeFile(join(dir, 'journal-00000000.jsonl'), `${JSON.stringify(stored('job_b', 1))}\n${line}\n`);
    const error = await nextStart();
    expect(error).toMatchObject({ code: 'STORE_CORRUPT', file: join(dir, 'journal-00000000.jsonl') });
    expect((error as Error).message).toMatch(/line 2: job\.options\.x: .*nested deeper than 256 levels/);
  });

  it('5,000-deep JSON in jobs.json is damage naming the file', async () => {
    const deep = '['.repeat(5000) + ']'.repeat(5000);
    const job = JSON.stringify({ ...stored('job_a', 1) }).replace('"result":null', `"result":${deep}`);
    await writeFile(join(dir, 'jobs.json'), `{"format":1,"generation":0,"jobs":[${job}]}`);
    const error = await nextStart();
    expect(error).toMatchObject({ code: 'STORE_CORRUPT', file: join(dir, 'jobs.json') });
    expect((error as Error).message).toMatch(/jobs\[0\]\.job\.result: .*nested deeper than 256 levels/);
  });

  it('jobs.json being a directory is damage naming the file (was a bare EISDIR)', async () => {
    await mkdir(join(dir, 'jobs.json'));
    const error = await nextStart();
    expect(error).toMatchObject({ code: 'STORE_CORRUPT', file: join(dir, 'jobs.json') });
    expect((error as Error).message).toContain('jobs.json is damaged: it is a directory, not a file');
  });

  it('a journal being a directory is damage naming it', async () => {
    await mkdir(join(dir, 'journal-00000000.jsonl'));
    const error = await nextStart();
    expect(error).toMatchObject({ code: 'STORE_CORRUPT', file: join(dir, 'journal-00000000.jsonl') });
  });

  it('a jobs.json cut short after its first lines is damage (it says how many jobs it holds)', async () => {
    const store = await storeOn({ compactMinBytes: 0 });
    await store.load();
    const jobs = Array.from({ length: 5 }, (_, i) => stored(`job_${i}`, 1));
    await store.append(jobs);
    await store.compact(() => jobs);
    await store.close();
    await crashed();
    const path = join(dir, 'jobs.json');
    const lines = (await readFile(path, 'utf8')).split('\n');
    await writeFile(path, `${lines.slice(0, 3).join('\n')}\n`);
    const error = await nextStart();
    expect(error).toMatchObject({ code: 'STORE_CORRUPT', file: path });
    expect((error as Error).message).toContain('before the end of its lists: the file was cut short');
  });
});

describe('deeply nested JSON in a request (issue #10, point 9d)', () => {
  it('3,000-deep options in engine.submit are an invalid request naming the field (was a stack overflow)', async () => {
    const engine = await createEngine({ providers: [new FakeProvider()], webhookUrl: hookUrl });
    open.push(engine);
    const options = { model: JSON.parse('['.repeat(3000) + ']'.repeat(3000)) as unknown };
    const error = await engine.submit({ provider: 'fake', kind: 'transcription', input: { type: 'url', url: 'https://example.com/a.wav' }, options } as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect((error as InvalidRequestError).issues).toEqual([{ field: 'options.model', reason: 'nested deeper than 64 levels' }]);
  });
});
