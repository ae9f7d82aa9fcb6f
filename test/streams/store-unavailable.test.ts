import { filter, firstValueFrom } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/streams/engine.js';
import { StoreUnavailableError } from '../../src/streams/errors.js';
import type { JobChange } from '../../src/streams/job-change.js';
import { MemoryStore, type StoredJob } from '../../src/streams/job-store.js';
import { FakeProvider, hookUrl, tokenOf } from '../support/fake-provider.js';

/** A memory store whose writes fail while `fails(batch)` says so (a disk that is full, without root). */
class FailingStore extends MemoryStore {
  fails: (batch: readonly StoredJob[]) => boolean = () => false;
  override append(batch: readonly StoredJob[]): Promise<void> {
    if (this.fails(batch)) return Promise.reject(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
    return super.append(batch);
  }
}

const engines: Engine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});

async function setup() {
  const store = new FailingStore();
  const provider = new FakeProvider();
  const engine = await createEngine({ providers: [provider], store, webhookUrl: hookUrl });
  engines.push(engine);
  return { store, provider, engine };
}

const input = { type: 'url' as const, url: 'https://example.com/a.wav' };
const recoveredOf = (engine: Engine) => firstValueFrom(engine.events$.pipe(filter((event) => event.type === 'store-recovered')));

describe('Engine while the store cannot write', () => {
  it('full disk: a webhook is refused with StoreUnavailableError, and so is its redelivery (a duplicate of a state that is not durable), until the state is durable; then it is published once', async () => {
    const { store, provider, engine } = await setup();
    const job = await engine.submit({ provider: 'fake', kind: 'transcription', input });
    const token = tokenOf(provider.created[0]?.webhookUrl);
    const changes: JobChange[] = [];
    engine.changes$().subscribe((change) => changes.push(change));
    const delivery = { provider: 'fake', token, body: { id: 'ext-1', status: 'DONE', result: 'r' } };

    store.fails = () => true;
    await expect(engine.ingestWebhook(delivery)).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(engine.ingestWebhook(delivery)).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(engine.health).toMatchObject({ status: 'unavailable', reason: 'store: ENOSPC: no space left on device' });
    expect(engine.get(job.id)).toMatchObject({ status: 'queued' });
    expect(changes).toEqual([]);

    const recovered = recoveredOf(engine);
    store.fails = () => false;
    await recovered;
    expect(engine.health).toEqual({ status: 'ok' });
    expect(await engine.ingestWebhook(delivery)).toMatchObject({ outcome: 'duplicate', job: { status: 'succeeded' } });
    expect(changes.map((change) => change.job.status)).toEqual(['succeeded']);
  });

  it('full disk: a submission that cannot be recorded is refused before the provider is called, and reaches the disk as failed (STORE_UNAVAILABLE) once the store recovers', async () => {
    const { store, provider, engine } = await setup();
    store.fails = () => true;
    await expect(engine.submit({ provider: 'fake', kind: 'transcription', input })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect(provider.created).toHaveLength(0);
    const failed = firstValueFrom(engine.changes$().pipe(filter((change) => change.job.status === 'failed')));
    store.fails = () => false;
    expect((await failed).job).toMatchObject({ status: 'failed', externalId: null, error: { code: 'STORE_UNAVAILABLE' } });
    expect(provider.created).toHaveLength(0);
  });

  it('full disk: a pipeline step whose start cannot be recorded waits for the store instead of being stranded, then starts', async () => {
    const { store, provider, engine } = await setup();
    const upstream = await engine.submit({ provider: 'fake', kind: 'separation', input });
    const step = await engine.submit({ provider: 'fake', kind: 'transcription', after: { jobId: upstream.id, externalIdOption: 'taskId' } });
    // The write that records the step as started fails until the test lets it through.
    let attempts = 0;
    let unblock: () => void = () => undefined;
    const blocked = new Promise<void>((resolve) => (unblock = resolve));
    store.fails = (batch) => {
      if (!batch.some(({ job }) => job.id === step.id && job.after?.startedAt !== null)) return false;
      attempts += 1;
      if (attempts === 1) unblock();
      return attempts <= 2;
    };
    const recovered = recoveredOf(engine);
    provider.set('ext-1', 'DONE', { result: { stems: 2 } });
    await blocked;
    expect(provider.created).toHaveLength(1);
    await recovered;
    expect((await engine.waitFor(upstream.id, { timeoutMs: 5000 })).status).toBe('succeeded');
    await expect.poll(() => provider.created.length).toBe(2);
    expect(provider.created[1]?.options).toEqual({ taskId: 'ext-1' });
    await expect.poll(() => engine.get(step.id)?.externalId).toBe('ext-2');
  });
});
