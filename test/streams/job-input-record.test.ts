import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseRecord } from '../../src/cluster/redis-log-record.js';
import { createEngine } from '../../src/streams/engine.js';
import { FileStore } from '../../src/streams/file-store.js';
import { createSnapshot } from '../../src/streams/job-reducer.js';
import { JobSnapshot } from '../../src/streams/job-snapshot.js';
import { FakeProvider } from '../support/fake-provider.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'jobstream-input-record-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const SECRET = 'abcdefghijklmnopqrstuv';

/** A job as stores wrote it before `input` and `retryOf` existed. */
function oldRecord(id: string): Record<string, unknown> {
  const { input: _input, retryOf: _retryOf, ...job } = createSnapshot({
    id,
    provider: 'fake',
    kind: 'transcription',
    externalId: `ext-${id}`,
    name: 'old',
    metadata: {},
    options: {},
    createdAt: 1,
  });
  return { ...job, status: 'failed', version: 2, error: { code: 'X', message: 'x' } };
}

describe('JobSnapshot input and retryOf', () => {
  it('a record without them parses with both null', () => {
    const record = oldRecord('job_old');
    expect(Object.hasOwn(record, 'input')).toBe(false);
    expect(JobSnapshot.parse(record)).toMatchObject({ input: null, retryOf: null });
  });

  it('a Redis record without them parses with both null; one with them keeps them', () => {
    const old = parseRecord(JSON.stringify({ seq: 3, previousStatus: 'queued', secret: SECRET, job: oldRecord('job_old') }), 'test');
    expect(old.job).toMatchObject({ input: null, retryOf: null });
    const job = { ...oldRecord('job_new'), input: { type: 'upload', filename: 'a.wav', contentType: 'audio/wav', bytes: 3 }, retryOf: 'job_old' };
    const kept = parseRecord(JSON.stringify({ seq: 4, previousStatus: 'queued', secret: SECRET, job }), 'test');
    expect(kept.job).toMatchObject({ input: job.input, retryOf: 'job_old' });
  });

  it('a file store written before the fields loads (journal and snapshot), with both null; new jobs keep theirs across a restart', async () => {
    const store = await FileStore.open({ dir });
    await store.append([{ job: oldRecord('job_journal') as never, secret: SECRET }]);
    await store.compact(() => [{ job: oldRecord('job_snap') as never, secret: SECRET }]);
    await store.append([{ job: oldRecord('job_journal') as never, secret: SECRET }]);
    await store.close();

    const provider = new FakeProvider();
    let firstId = '';
    let retryId = '';
    const engine = await createEngine({ providers: [provider], dataDir: dir });
    try {
      expect(engine.get('job_snap')).toMatchObject({ input: null, retryOf: null, name: 'old' });
      expect(engine.get('job_journal')).toMatchObject({ input: null, retryOf: null, name: 'old' });
      // An old record's input is not known: not retryable, and said so.
      await expect(engine.retry('job_journal')).rejects.toMatchObject({ code: 'NOT_RETRYABLE', message: expect.stringMatching(/input is not known/) });
      const first = await engine.submit({ provider: 'fake', kind: 'transcription', input: { type: 'url', url: 'https://example.com/a.wav' } });
      await engine.cancel(first.id);
      const retry = await engine.retry(first.id);
      expect(retry).toMatchObject({ input: { type: 'url', url: 'https://example.com/a.wav' }, retryOf: first.id });
      firstId = first.id;
      retryId = retry.id;
    } finally {
      await engine.close();
    }
    const again = await createEngine({ providers: [provider], dataDir: dir });
    try {
      expect(again.get(retryId)).toMatchObject({ retryOf: firstId, input: { type: 'url', url: 'https://example.com/a.wav' } });
      expect(again.query({}, { retryOf: firstId }).jobs.map((job) => job.id)).toEqual([retryId]);
    } finally {
      await again.close();
    }
  });
});
