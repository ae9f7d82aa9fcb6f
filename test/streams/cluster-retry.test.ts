import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filter, firstValueFrom } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/streams/engine.js';
import { ProviderError } from '../../src/streams/errors.js';
import { FakeProvider, hookUrl } from '../support/fake-provider.js';
import { MemorySharedStore } from '../support/memory-shared-log.js';
import { VirtualClock } from '../support/virtual-clock.js';

let dir: string;
const engines: Engine[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'jobstream-cluster-retry-'));
});
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
  await rm(dir, { recursive: true, force: true });
});

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Two members on one shared log, each with its own data directory; `resultsDir` shared when given. */
async function cluster(resultsDir: string | undefined) {
  const shared = new MemorySharedStore();
  const provider = new FakeProvider();
  const hashes: string[] = [];
  provider.beforeCreate = async (request) => {
    if (request.input?.type === 'file') hashes.push(sha(await readFile(request.input.path)));
  };
  const members: Engine[] = [];
  for (const name of ['a', 'b']) {
    const engine = await createEngine({
      providers: [provider],
      cluster: shared.backend(),
      dataDir: join(dir, name),
      ...(resultsDir === undefined ? {} : { resultsDir }),
      scheduler: new VirtualClock(),
      webhookUrl: hookUrl,
    });
    engines.push(engine);
    members.push(engine);
  }
  return { provider, hashes, a: members[0]!, b: members[1]! };
}

/** A file input submitted at `a` whose create the provider refuses: a failed job both members see. */
async function failedUpload(provider: FakeProvider, a: Engine, b: Engine) {
  const path = join(dir, 'riff.wav');
  const bytes = new Uint8Array(2048).map((_, i) => i % 13);
  await writeFile(path, bytes);
  provider.failures.push({ on: 'create', error: new ProviderError('fake', 'rejected', 'no') });
  const job = await a.submit({ provider: 'fake', kind: 'transcription', input: { type: 'file', path, filename: 'riff.wav', contentType: 'audio/wav' } });
  expect(job).toMatchObject({ status: 'failed', input: { type: 'upload', filename: 'riff.wav', bytes: 2048 } });
  await firstValueFrom(b.job$(job.id).pipe(filter((j) => j.status === 'failed')));
  return { job, bytes };
}

describe('retrying an upload in a cluster', () => {
  it('without a shared results directory only the member that kept the upload can retry it; the others answer NOT_RETRYABLE saying so', async () => {
    const { provider, hashes, a, b } = await cluster(undefined);
    const { job, bytes } = await failedUpload(provider, a, b);
    await expect(b.retry(job.id)).rejects.toMatchObject({ code: 'NOT_RETRYABLE', message: expect.stringMatching(/not kept on this cluster member.*JOBSTREAM_RESULTS_DIR/) });
    const retry = await a.retry(job.id);
    expect(retry).toMatchObject({ retryOf: job.id, status: 'queued' });
    expect(hashes).toEqual([sha(bytes), sha(bytes)]);
  });

  it('with a shared results directory any member can retry it, resending the same bytes', async () => {
    const { provider, hashes, a, b } = await cluster(join(dir, 'shared-results'));
    const { job, bytes } = await failedUpload(provider, a, b);
    const retry = await b.retry(job.id);
    expect(retry).toMatchObject({ retryOf: job.id, status: 'queued', input: { type: 'upload', filename: 'riff.wav', bytes: 2048 } });
    expect(hashes).toEqual([sha(bytes), sha(bytes)]);
  });
});
