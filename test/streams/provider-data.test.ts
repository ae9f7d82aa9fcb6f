import { afterEach, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/streams/engine.js';
import { createSnapshot, recordProviderData, reduce } from '../../src/streams/job-reducer.js';
import { MemoryStore } from '../../src/streams/job-store.js';
import { JobSnapshot } from '../../src/streams/job-snapshot.js';
import type { CallContext, CreateJobRequest, CreateJobResult, ProviderJobRef, ProviderReport } from '../../src/streams/provider-port.js';
import { FakeProvider, hookUrl, tokenOf } from '../support/fake-provider.js';
import { VirtualClock } from '../support/virtual-clock.js';

const url = { type: 'url' as const, url: 'https://example.com/song.wav' };
const FLAGS = { gen_xml: true, gen_gp5: false };

/** A provider whose create answer carries data the adapter needs later (like Klangio's gen_* flags). */
class FlaggingProvider extends FakeProvider {
  readonly polledRefs: ProviderJobRef[] = [];
  override async create(request: CreateJobRequest, context: CallContext): Promise<CreateJobResult> {
    return { ...(await super.create(request, context)), providerData: FLAGS };
  }
  override poll(job: ProviderJobRef, context: CallContext): Promise<ProviderReport> {
    this.polledRefs.push(job);
    return super.poll(job, context);
  }
}

const engines: Engine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});

async function setup() {
  const provider = new FlaggingProvider();
  const clock = new VirtualClock();
  const engine = await createEngine({ providers: [provider], store: new MemoryStore(), scheduler: clock, random: () => 0.5, webhookUrl: hookUrl });
  engines.push(engine);
  return { engine, provider, clock };
}

describe('CreateJobResult.providerData', () => {
  it('is stored with the job in the change that records the external id, and handed back to every poll (was: dropped)', async () => {
    const { engine, provider, clock } = await setup();
    const job = await engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    expect(job).toMatchObject({ externalId: 'ext-1', providerData: FLAGS, version: 2 });
    provider.set('ext-1', 'DONE', { result: 'r' });
    const done = engine.waitFor(job.id);
    await clock.advance(5);
    expect((await done).providerData).toEqual(FLAGS);
    expect(provider.polledRefs.at(-1)).toEqual({ externalId: 'ext-1', kind: 'transcription', options: {}, providerData: FLAGS });
  });

  it('is kept when a webhook named the job and moved it on before the create call returned', async () => {
    const { engine, provider } = await setup();
    let open!: () => void;
    provider.createGate = new Promise((resolve) => (open = resolve));
    const asked = new Promise<void>((resolve) => {
      provider.beforeCreate = () => Promise.resolve(resolve());
    });
    const submitted = engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    await asked;
    const token = tokenOf(provider.created[0]?.webhookUrl);
    expect((await engine.ingestWebhook({ provider: 'fake', token, body: { id: 'ext-1', status: 'WORKING' } })).outcome).toBe('applied');
    open();
    expect(await submitted).toMatchObject({ status: 'running', externalId: 'ext-1', providerData: FLAGS });
  });

  it('is null for jobs stored before it existed, and for adopted jobs', async () => {
    const stored = { ...createSnapshot({ id: 'job_1', provider: 'fake', kind: 'transcription', externalId: 'x', name: null, metadata: {}, options: {}, createdAt: 1 }) } as Partial<JobSnapshot>;
    delete stored.providerData;
    expect(JobSnapshot.parse(stored).providerData).toBeNull();
    const { engine } = await setup();
    expect((await engine.track({ provider: 'fake', kind: 'transcription', externalId: 'outside-1' })).providerData).toBeNull();
  });
});

describe('reduce and recordProviderData', () => {
  const fresh = createSnapshot({ id: 'job_1', provider: 'fake', kind: 'transcription', externalId: null, name: null, metadata: {}, options: {}, createdAt: 1 });
  const named = reduce(fresh, { status: 'running', externalId: 'e', source: 'webhook', observedAt: 2 });

  it('takes providerData with the external id only, once', () => {
    expect(reduce(fresh, { status: 'queued', externalId: 'e', providerData: FLAGS, source: 'submit', observedAt: 2 }).providerData).toEqual(FLAGS);
    expect(reduce(named, { status: 'succeeded', result: 1, providerData: FLAGS, source: 'poll', observedAt: 3 }).providerData).toBeNull();
  });

  it.each([
    ['keeps data a job lacks, for its own external id', named, 'e', 'accepted'],
    ['ignores another external id', named, 'other', 'unchanged'],
    ['never rewrites data already kept', { ...named, providerData: { gen_xml: false } }, 'e', 'unchanged'],
    ['never touches a terminal job', { ...named, status: 'canceled' as const }, 'e', 'unchanged'],
  ])('%s', (_name, snapshot, externalId, expected) => {
    const next = recordProviderData(snapshot, externalId, FLAGS, 5);
    if (expected === 'unchanged') expect(next).toBe(snapshot);
    else expect(next).toMatchObject({ providerData: FLAGS, version: snapshot.version + 1, updatedAt: 5, source: 'submit' });
  });
});
