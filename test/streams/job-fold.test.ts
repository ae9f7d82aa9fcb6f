import { afterEach, describe, expect, it } from 'vitest';
import { ProviderError } from '../../src/streams/errors.js';
import { JobFold, observe, type FoldEvent, type FoldPolls } from '../../src/streams/job-fold.js';
import { webhookToken } from '../../src/streams/job-id.js';
import { MemoryStore } from '../../src/streams/job-store.js';
import { JobTable, type JobEntry } from '../../src/streams/job-table.js';
import type { JobChange } from '../../src/streams/job-change.js';
import type { PollTarget } from '../../src/streams/poll-scheduler.js';
import { FakeProvider } from '../support/fake-provider.js';

/** Stands in for the poll scheduler: keeps the set of polled jobs and the calls made to it. */
class RecordingPolls implements FoldPolls {
  readonly polled = new Set<string>();
  readonly calls: string[] = [];
  add(jobId: string, target: PollTarget): void {
    this.polled.add(jobId);
    this.calls.push(`add ${target.lane}${target.hooked ? ' hooked' : ''}`);
  }
  remove(jobId: string): void {
    if (this.polled.delete(jobId)) this.calls.push('remove');
  }
  has(jobId: string): boolean {
    return this.polled.has(jobId);
  }
  pollNow(): void {
    this.calls.push('pollNow');
  }
  noteWebhook(): void {
    this.calls.push('noteWebhook');
  }
}

const tables: JobTable[] = [];
afterEach(async () => {
  await Promise.all(tables.splice(0).map((t) => t.close()));
});

function setup(options: { provider?: FakeProvider; others?: FakeProvider[]; maxRejectedPolls?: number; copies?: boolean } = {}) {
  const provider = options.provider ?? new FakeProvider();
  const adapters = new Map([provider, ...(options.others ?? [])].map((a) => [a.provider, a]));
  const changes: JobChange[] = [];
  const table = new JobTable({
    store: new MemoryStore(),
    epoch: 'e1',
    changeLogSize: 100,
    onPublished: () => undefined,
    onStoreError: (error) => {
      throw error;
    },
  });
  tables.push(table);
  table.changes$().subscribe((c) => changes.push(c));
  const polls = new RecordingPolls();
  const events: FoldEvent[] = [];
  let clock = 1_000;
  const fold = new JobFold({
    table,
    adapters,
    polls,
    now: () => (clock += 1),
    signal: new AbortController().signal,
    ...(options.maxRejectedPolls === undefined ? {} : { maxRejectedPolls: options.maxRejectedPolls }),
    ...(options.copies === true ? { copiesResults: () => true } : {}),
    onEvent: (event) => events.push(event),
  });
  /** A job the provider knows as `externalId`, polled (as `track` leaves it). */
  const tracked = async (externalId: string): Promise<JobEntry> => {
    const entry = table.create({ provider: provider.provider, kind: 'transcription', externalId, name: null, metadata: {}, options: {} }, clock);
    table.index(provider.provider, externalId, entry.current.id);
    polls.add(entry.current.id, { lane: 'fake:key-1', hooked: true });
    polls.calls.length = 0;
    await entry.pending;
    return entry;
  };
  /** A job recorded but not yet answered by the provider (a submission under way). */
  const submitting = async (): Promise<JobEntry> => {
    const entry = table.create({ provider: provider.provider, kind: 'transcription', externalId: null, name: null, metadata: {}, options: {} }, clock);
    await entry.pending;
    return entry;
  };
  const hook = (entry: JobEntry, body: unknown) => fold.ingestWebhook({ provider: provider.provider, token: webhookToken(entry.current.id, entry.secret), body });
  return { fold, table, provider, polls, events, changes, tracked, submitting, hook };
}

describe('JobFold: polls and webhooks meet', () => {
  it('gives one version for a poll answer and a webhook that say the same, in either order', async () => {
    const { fold, provider, tracked, hook, changes } = setup();
    const a = await tracked('ext-a');
    provider.set('ext-a', 'WORKING', { progress: 0.5 });
    expect(await fold.poll(a.current.id)).toEqual({ type: 'ok', terminal: false });
    const late = await hook(a, { id: 'ext-a', status: 'WORKING', progress: 0.5 });
    expect(late).toMatchObject({ outcome: 'duplicate', job: { status: 'running', version: 2, source: 'poll' } });

    const b = await tracked('ext-b');
    provider.set('ext-b', 'WORKING', { progress: 0.5 });
    expect((await hook(b, { id: 'ext-b', status: 'WORKING', progress: 0.5 })).outcome).toBe('applied');
    await fold.poll(b.current.id);
    await b.pending;
    expect(b.current).toMatchObject({ status: 'running', version: 2, source: 'webhook' });

    expect(changes.map((c) => [c.job.externalId, c.job.version])).toEqual([
      ['ext-a', 1],
      ['ext-a', 2],
      ['ext-b', 1],
      ['ext-b', 2],
    ]);
  });

  it('stops polling a job once an observation makes it terminal, and answers its next poll without a call', async () => {
    const { fold, provider, polls, tracked, hook } = setup();
    const job = await tracked('ext-1');
    await hook(job, { id: 'ext-1', status: 'DONE', result: 'r' });
    expect(polls.calls).toEqual(['noteWebhook', 'remove']);
    expect(await fold.poll(job.current.id)).toEqual({ type: 'ok', terminal: true });
    expect(provider.polls).toBe(0);
  });

  it('marks result files pending in the same change that makes the job succeed, when they are copied', async () => {
    const { fold, provider, tracked } = setup({ copies: true });
    const job = await tracked('ext-1');
    provider.set('ext-1', 'DONE', { result: 'r' });
    await fold.poll(job.current.id);
    expect(job.current).toMatchObject({ status: 'succeeded', version: 2, artifacts: { state: 'pending', files: [] } });
  });
});

describe('JobFold.ingestWebhook', () => {
  it('refuses a webhook that names another task, storing nothing', async () => {
    const { tracked, hook, polls } = setup();
    const job = await tracked('ext-1');
    await expect(hook(job, { id: 'ext-2', status: 'DONE' })).rejects.toMatchObject({
      code: 'INVALID_WEBHOOK',
      message: expect.stringContaining('task id "ext-2" does not belong to this job'),
    });
    expect(job.current.version).toBe(1);
    expect(polls.calls).toEqual([]);
  });

  it('refuses an unknown token, a wrong secret, another provider and an unconfigured one', async () => {
    const other = new FakeProvider({ provider: 'other' });
    const { fold, tracked } = setup({ others: [other] });
    const job = await tracked('ext-1');
    const body = { id: 'ext-1', status: 'WORKING' };
    const good = webhookToken(job.current.id, job.secret);
    expect(fold.webhookTarget('fake', good)).toBe(job);
    for (const [provider, token] of [
      ['fake', 'job_nothing.secret'],
      ['fake', webhookToken(job.current.id, 'AAAAAAAAAAAAAAAAAAAAAA')],
      ['fake', 'no-dot'],
      ['other', good],
    ] as const) {
      expect(fold.webhookTarget(provider, token)).toBeUndefined();
      await expect(fold.ingestWebhook({ provider, token, body })).rejects.toMatchObject({ code: 'UNKNOWN_WEBHOOK_TOKEN' });
    }
    expect(fold.webhookTarget('nope', good)).toBeUndefined();
    await expect(fold.ingestWebhook({ provider: 'nope', token: good, body })).rejects.toMatchObject({ code: 'UNKNOWN_PROVIDER' });
    expect(job.current.version).toBe(1);
  });

  it('reports each delivery once it is durable, with its outcome and the status it observed', async () => {
    const { tracked, hook, events } = setup();
    const job = await tracked('ext-1');
    await hook(job, { id: 'ext-1', status: 'WORKING' });
    await hook(job, { id: 'ext-1', status: 'WAITING' });
    expect(events).toEqual([
      { type: 'webhook', provider: 'fake', jobId: job.current.id, outcome: 'applied', observed: 'running', at: expect.any(Number) },
      { type: 'webhook', provider: 'fake', jobId: job.current.id, outcome: 'duplicate', observed: 'queued', at: expect.any(Number) },
    ]);
  });
});

describe('JobFold and confirming webhooks', () => {
  function thin(provider: FakeProvider): void {
    const parse = provider.parseWebhook.bind(provider);
    // A thin webhook: it only says "something happened, come and look".
    provider.parseWebhook = (delivery) => ({ ...parse(delivery), report: undefined, confirm: true });
  }

  it('polls at once for a confirm on a polled job', async () => {
    const provider = new FakeProvider();
    thin(provider);
    const { tracked, hook, polls } = setup({ provider });
    const job = await tracked('ext-1');
    expect((await hook(job, { id: 'ext-1', status: 'DONE' })).outcome).toBe('duplicate');
    expect(polls.calls).toEqual(['noteWebhook', 'pollNow']);
  });

  it('keeps a confirm that comes before the provider answered the submission, and polls once the job is created', async () => {
    const provider = new FakeProvider();
    thin(provider);
    const { fold, submitting, hook, polls } = setup({ provider });
    const job = await submitting();
    await hook(job, { id: 'ext-1', status: 'DONE' });
    // Asked at once too: a shared schedule keeps it for the job's add (in a cluster the
    // submission may be another member's); a local one has nothing to poll yet.
    expect(polls.calls).toEqual(['noteWebhook', 'pollNow']);

    fold.created(job, { externalId: 'ext-1' }, { lane: 'fake:key-1', hooked: true });
    expect(job.current).toMatchObject({ externalId: 'ext-1', status: 'queued', providerStatus: 'created', source: 'submit' });
    expect(polls.calls).toEqual(['noteWebhook', 'pollNow', 'add fake:key-1 hooked', 'pollNow']);
    // The kept confirm is used once.
    fold.created(job, { externalId: 'ext-1' }, { lane: 'fake:key-1', hooked: true });
    expect(polls.calls.filter((c) => c === 'pollNow')).toHaveLength(2);
  });

  it('forgets a kept confirm when the submission fails', async () => {
    const provider = new FakeProvider();
    thin(provider);
    const { fold, submitting, hook, polls } = setup({ provider });
    const job = await submitting();
    await hook(job, { id: 'ext-1', status: 'DONE' });
    fold.notCreated(job, 'PROVIDER_REJECTED', 'no');
    expect(job.current).toMatchObject({ status: 'failed', source: 'submit', error: { code: 'PROVIDER_REJECTED', message: 'no' } });
    fold.created(job, { externalId: 'ext-1' }, { lane: 'fake:key-1', hooked: true });
    expect(polls.calls.filter((c) => c === 'pollNow')).toHaveLength(1);
  });
});

describe('JobFold.poll', () => {
  it('answers the poll of a job it does not know, or that its provider has not named yet, as failed, not terminal: in a cluster it may be another member\'s job this one has not read yet, and a terminal answer would end its polling for every member', async () => {
    const { fold, provider, submitting } = setup();
    const job = await submitting();
    expect(await fold.poll(job.current.id)).toEqual({ type: 'failed' });
    expect(await fold.poll('job_not_read_yet')).toEqual({ type: 'failed' });
    expect(provider.polls).toBe(0);
  });

  it('fails a job after maxRejectedPolls refused polls in a row, with the reason', async () => {
    const { fold, tracked, polls } = setup({ maxRejectedPolls: 3 });
    const job = await tracked('deleted-long-ago');
    const id = job.current.id;
    expect([await fold.poll(id), await fold.poll(id)]).toEqual([{ type: 'failed' }, { type: 'failed' }]);
    expect(job.current.status).toBe('queued');
    expect(await fold.poll(id)).toEqual({ type: 'ok', terminal: true });
    expect(job.current).toMatchObject({ status: 'failed', source: 'poll', error: { code: 'PROVIDER_REJECTED' } });
    expect(job.current.error?.message).toBe('the provider refused 3 polls in a row: fake: no job deleted-long-ago');
    expect(polls.has(id)).toBe(false);
  });

  it('does not count refusals that are not in a row', async () => {
    const { fold, provider, tracked } = setup({ maxRejectedPolls: 2 });
    const job = await tracked('flaky');
    const id = job.current.id;
    provider.set('flaky', 'WORKING');
    const refuse = () => provider.failures.push({ on: 'poll', error: new ProviderError('fake', 'rejected', 'hiccup', { status: 404 }) });
    refuse();
    expect(await fold.poll(id)).toEqual({ type: 'failed' });
    expect(await fold.poll(id)).toEqual({ type: 'ok', terminal: false });
    refuse();
    expect(await fold.poll(id)).toEqual({ type: 'failed' });
    expect(job.current.status).toBe('running');
  });

  it('passes a rate limit on to the scheduler with its Retry-After, and reports every poll', async () => {
    const { fold, provider, tracked, events } = setup();
    const job = await tracked('ext-1');
    provider.set('ext-1', 'WAITING');
    provider.failures.push({ on: 'poll', error: new ProviderError('fake', 'rate-limited', 'slow down', { status: 429, retryAfterMs: 2000 }) });
    expect(await fold.poll(job.current.id)).toEqual({ type: 'rate-limited', retryAfterMs: 2000 });
    expect(await fold.poll(job.current.id)).toEqual({ type: 'ok', terminal: false });
    expect(events).toEqual([
      {
        type: 'poll',
        provider: 'fake',
        jobId: job.current.id,
        outcome: 'rate-limited',
        startedAt: expect.any(Number),
        endedAt: expect.any(Number),
        retryAfterMs: 2000,
        error: 'fake: slow down',
      },
      { type: 'poll', provider: 'fake', jobId: job.current.id, outcome: 'ok', observed: 'queued', startedAt: expect.any(Number), endedAt: expect.any(Number) },
    ]);
  });
});

describe('observe', () => {
  it('clamps progress to 0..1 and leaves out what the report does not say', () => {
    expect(observe({ status: 'running', providerStatus: 'WORKING', progress: 1.5 }, 'poll', 7)).toEqual({
      status: 'running',
      providerStatus: 'WORKING',
      progress: 1,
      source: 'poll',
      observedAt: 7,
    });
    expect(observe({ status: 'succeeded', providerStatus: 'DONE', result: 'r' }, 'webhook', 8, 'ext-1')).toEqual({
      status: 'succeeded',
      providerStatus: 'DONE',
      result: 'r',
      source: 'webhook',
      observedAt: 8,
      externalId: 'ext-1',
    });
  });
});
