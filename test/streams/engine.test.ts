import { filter, firstValueFrom, take, toArray } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/streams/engine.js';
import { ProviderError } from '../../src/streams/errors.js';
import type { JobChange } from '../../src/streams/job-change.js';
import { MemoryStore } from '../../src/streams/job-store.js';
import type { JobSnapshot } from '../../src/streams/job-snapshot.js';
import { FakeProvider, hookUrl, tokenOf } from '../support/fake-provider.js';
import { VirtualClock } from '../support/virtual-clock.js';

const url = { type: 'url' as const, url: 'https://example.com/song.wav' };
const engines: Engine[] = [];

/** An engine on virtual time: polls (every 5 ms for the fake provider) run as `clock` advances. */
async function setup(options: { provider?: FakeProvider; webhooks?: boolean; maxRejectedPolls?: number } = {}) {
  const provider = options.provider ?? new FakeProvider();
  const clock = new VirtualClock();
  const engine = await createEngine({
    providers: [provider],
    store: new MemoryStore(),
    scheduler: clock,
    random: () => 0.5,
    ...(options.webhooks === false ? {} : { webhookUrl: hookUrl }),
    ...(options.maxRejectedPolls === undefined ? {} : { maxRejectedPolls: options.maxRejectedPolls }),
  });
  engines.push(engine);
  return { engine, provider, clock };
}

/** Resolves when the provider is asked to create a job (the request is then in flight). */
const creating = (provider: FakeProvider) =>
  new Promise<void>((resolve) => {
    provider.beforeCreate = () => {
      resolve();
      return Promise.resolve();
    };
  });

afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});

const reach = (engine: Engine, id: string, done: (job: JobSnapshot) => boolean) =>
  firstValueFrom(engine.job$(id).pipe(filter(done)));

describe('Engine.submit', () => {
  it('records the job before calling the provider, then stores the external id', async () => {
    const { engine, provider } = await setup();
    const seen: JobChange[] = [];
    engine.changes$().subscribe((c) => seen.push(c));
    const job = await engine.submit({ provider: 'fake', kind: 'transcription', input: url, name: 'take 1', metadata: { user: 7 } });

    expect(job).toMatchObject({ status: 'queued', externalId: 'ext-1', name: 'take 1', metadata: { user: 7 }, version: 2 });
    expect(seen.map((c) => [c.seq, c.job.version, c.job.externalId])).toEqual([
      [1, 1, null],
      [2, 2, 'ext-1'],
    ]);
    expect(provider.created[0]?.webhookUrl).toBe(hookUrl('fake', tokenOf(provider.created[0]?.webhookUrl)));
  });

  it('does not lose a webhook that arrives before the provider answered the submission', async () => {
    const { engine, provider } = await setup();
    let open!: () => void;
    provider.createGate = new Promise((resolve) => (open = resolve));
    const called = creating(provider);
    const submitted = engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    await called;

    const token = tokenOf(provider.created[0]?.webhookUrl);
    const early = await engine.ingestWebhook({ provider: 'fake', token, body: { id: 'ext-1', status: 'WORKING', progress: 0.3 } });
    expect(early.outcome).toBe('applied');
    open();
    const job = await submitted;
    expect(job).toMatchObject({ status: 'running', progress: 0.3, externalId: 'ext-1' });
  });

  it('turns a provider refusal into a failed job with the reason', async () => {
    const { engine, provider } = await setup();
    provider.failures.push({ on: 'create', error: new ProviderError('fake', 'rejected', 'file too long', { status: 422 }) });
    const job = await engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    expect(job.status).toBe('failed');
    expect(job.error).toEqual({ code: 'PROVIDER_REJECTED', message: 'fake: file too long' });
  });

  it('retries a rate-limited submission after Retry-After', async () => {
    const { engine, provider, clock } = await setup();
    provider.failures.push({ on: 'create', error: new ProviderError('fake', 'rate-limited', 'slow down', { status: 429, retryAfterMs: 20 }) });
    const submitted = engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    await clock.advance(19);
    expect(provider.created).toHaveLength(1);
    await clock.advance(1);
    const job = await submitted;
    expect(job).toMatchObject({ status: 'queued', externalId: 'ext-1' });
    expect(provider.created).toHaveLength(2);
  });

  it('does not retry a 5xx submission, which may have created the job: it fails SUBMIT_UNCERTAIN', async () => {
    const { engine, provider } = await setup();
    provider.failures.push({ on: 'create', error: new ProviderError('fake', 'unavailable', 'bad gateway', { status: 502 }) });
    const job = await engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    expect(job.error?.code).toBe('SUBMIT_UNCERTAIN');
    expect(provider.created).toHaveLength(1);
  });

  it('rejects an invalid request with the field and records nothing', async () => {
    const { engine } = await setup();
    await expect(engine.submit({ provider: 'fake', kind: 'transcription', input: { type: 'url', url: 'not a url' } })).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
      issues: [{ field: 'input.url' }],
    });
    await expect(engine.submit({ provider: 'fake', kind: 'karaoke', input: url })).rejects.toThrow('fake has no job kind "karaoke"');
    await expect(engine.submit({ provider: 'nope', kind: 'x', input: url })).rejects.toMatchObject({ code: 'UNKNOWN_PROVIDER' });
    expect(engine.snapshot().jobs).toHaveLength(0);
  });
});

describe('Engine.job$', () => {
  it('emits the current snapshot, every new version in order, and completes after the terminal one', async () => {
    const { engine, provider, clock } = await setup({ webhooks: false });
    const job = await engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    const versions = firstValueFrom(engine.job$(job.id).pipe(toArray()));
    provider.set('ext-1', 'WORKING', { progress: 0.5 });
    const working = reach(engine, job.id, (j) => j.progress === 0.5);
    await clock.advance(5);
    await working;
    provider.set('ext-1', 'DONE', { result: { notes: 3 } });
    await clock.advance(5);
    const all = await versions;
    expect(all.map((j) => j.status)).toEqual(['queued', 'running', 'succeeded']);
    expect(all.map((j) => j.version)).toEqual([2, 3, 4]);
    expect(all.at(-1)).toMatchObject({ result: { notes: 3 }, progress: 1, source: 'poll' });
  });

  it('gives a late subscriber the current snapshot first, and a finished job completes at once', async () => {
    const { engine, provider, clock } = await setup({ webhooks: false });
    const job = await engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    provider.set('ext-1', 'DONE', { result: 'ok' });
    const done = engine.waitFor(job.id, { timeoutMs: 5000 });
    await clock.advance(5);
    await done;
    const late = await firstValueFrom(engine.job$(job.id).pipe(toArray()));
    expect(late).toHaveLength(1);
    expect(late[0]).toMatchObject({ status: 'succeeded', result: 'ok' });
  });

  it('shares one pipeline between subscribers', async () => {
    const { engine } = await setup();
    const job = await engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    expect(engine.job$(job.id)).toBe(engine.job$(job.id));
  });

  it('stops polling once the job is terminal', async () => {
    const { engine, provider, clock } = await setup({ webhooks: false });
    const job = await engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    provider.set('ext-1', 'BROKEN', { error: { code: 'BAD_INPUT', message: 'corrupt' } });
    const failed = engine.waitFor(job.id, { timeoutMs: 5000 });
    await clock.advance(5);
    const done = await failed;
    expect(done).toMatchObject({ status: 'failed', error: { code: 'BAD_INPUT' } });
    const pollsAtEnd = provider.pollsOf.get('ext-1');
    // A second job is polled for a while on the same lane; the finished one must not be.
    const other = await engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    await clock.advance(50);
    expect(provider.pollsOf.get('ext-2') ?? 0).toBeGreaterThan(3);
    provider.set('ext-2', 'DONE', { result: 1 });
    const otherDone = engine.waitFor(other.id, { timeoutMs: 5000 });
    await clock.advance(5);
    await otherDone;
    expect(provider.pollsOf.get('ext-1')).toBe(pollsAtEnd);
  });
});

describe('Engine.ingestWebhook', () => {
  it('applies a delivery once and answers a repeat as a duplicate with no new version', async () => {
    const { engine, provider } = await setup();
    const job = await engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    const token = tokenOf(provider.created[0]?.webhookUrl);
    const body = { id: 'ext-1', status: 'WORKING', progress: 0.25 };
    const first = await engine.ingestWebhook({ provider: 'fake', token, body });
    const again = await engine.ingestWebhook({ provider: 'fake', token, body });
    expect(first).toMatchObject({ outcome: 'applied', job: { status: 'running', version: job.version + 1, source: 'webhook' } });
    expect(again).toMatchObject({ outcome: 'duplicate', job: { version: job.version + 1 } });
  });

  it('refuses an unknown token, a wrong secret and another provider with UNKNOWN_WEBHOOK_TOKEN', async () => {
    const other = new FakeProvider({ provider: 'other' });
    const engine = await createEngine({ providers: [new FakeProvider(), other], store: new MemoryStore(), webhookUrl: hookUrl, scheduler: new VirtualClock() });
    engines.push(engine);
    const job = await engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    const body = { id: 'ext-1', status: 'WORKING' };
    for (const [provider, token] of [
      ['fake', 'job_nothing.secret'],
      ['fake', `${job.id}.AAAAAAAAAAAAAAAAAAAAAA`],
      ['fake', 'no-dot'],
    ] as const) {
      await expect(engine.ingestWebhook({ provider, token, body })).rejects.toMatchObject({ code: 'UNKNOWN_WEBHOOK_TOKEN' });
    }
    await expect(engine.ingestWebhook({ provider: 'nope', token: 'x.y', body })).rejects.toMatchObject({ code: 'UNKNOWN_PROVIDER' });
    expect(engine.get(job.id)?.version).toBe(job.version);
  });

  it('refuses a malformed body with the problem named, storing nothing', async () => {
    const { engine, provider } = await setup();
    const job = await engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    const token = tokenOf(provider.created[0]?.webhookUrl);
    await expect(engine.ingestWebhook({ provider: 'fake', token, body: { id: 'ext-1', status: 'MELTED' } })).rejects.toThrow(
      'invalid fake webhook: unknown status "MELTED"',
    );
    await expect(engine.ingestWebhook({ provider: 'fake', token, body: { id: 'ext-9', status: 'DONE' } })).rejects.toThrow(
      'task id "ext-9" does not belong to this job',
    );
    expect(engine.get(job.id)).toEqual(job);
  });
});

describe('Engine lookups', () => {
  it('answers an unknown job id with UNKNOWN_JOB everywhere, and undefined from get', async () => {
    const { engine } = await setup();
    expect(engine.get('job_missing')).toBeUndefined();
    await expect(firstValueFrom(engine.job$('job_missing'))).rejects.toMatchObject({ code: 'UNKNOWN_JOB', jobId: 'job_missing' });
    await expect(engine.waitFor('job_missing')).rejects.toMatchObject({ code: 'UNKNOWN_JOB' });
    await expect(engine.cancel('job_missing')).rejects.toMatchObject({ code: 'UNKNOWN_JOB' });
  });

  it('gives up waiting after timeoutMs with WAIT_TIMEOUT', async () => {
    const { engine, clock } = await setup();
    const job = await engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    const waiting = expect(engine.waitFor(job.id, { timeoutMs: 30 })).rejects.toMatchObject({ code: 'WAIT_TIMEOUT', jobId: job.id });
    await clock.advance(30);
    await waiting;
  });
});

describe('Engine.cancel and Engine.track', () => {
  it('cancels at the provider, marks the job canceled and stops polling it', async () => {
    const { engine, provider } = await setup();
    const job = await engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    const canceled = await engine.cancel(job.id);
    expect(canceled).toMatchObject({ status: 'canceled', source: 'cancel' });
    expect(provider.canceled).toEqual(['ext-1']);
    expect(await engine.cancel(job.id)).toEqual(canceled);
  });

  it('adopts a job submitted elsewhere once, and follows it to the end', async () => {
    const { engine, provider, clock } = await setup();
    provider.set('outside-1', 'WORKING');
    const adopted = await engine.track({ provider: 'fake', kind: 'separation', externalId: 'outside-1', name: 'from the CLI' });
    expect(adopted).toMatchObject({ externalId: 'outside-1', status: 'queued', name: 'from the CLI' });
    expect((await engine.track({ provider: 'fake', kind: 'separation', externalId: 'outside-1' })).id).toBe(adopted.id);
    provider.set('outside-1', 'DONE', { result: ['vocals.wav'] });
    const done = engine.waitFor(adopted.id, { timeoutMs: 5000 });
    await clock.advance(5);
    expect(await done).toMatchObject({ status: 'succeeded', result: ['vocals.wav'] });
  });
});

describe('Engine.changes$', () => {
  it('numbers changes with strictly increasing seq and filters by provider, kind, ids and status', async () => {
    const { engine, provider, clock } = await setup();
    const all: JobChange[] = [];
    const running: JobChange[] = [];
    engine.changes$().subscribe((c) => all.push(c));
    engine.changes$({ statuses: ['running'] }).subscribe((c) => running.push(c));
    const a = await engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    const b = await engine.submit({ provider: 'fake', kind: 'separation', input: url });
    const kinds = firstValueFrom(engine.changes$({ kinds: ['separation'] }).pipe(take(1)));
    provider.set('ext-1', 'WORKING');
    provider.set('ext-2', 'WORKING');
    const bRunning = reach(engine, b.id, (j) => j.status === 'running');
    await clock.advance(5);
    await bRunning;
    expect((await kinds).job.id).toBe(b.id);
    provider.set('ext-1', 'DONE', { result: 1 });
    const aDone = engine.waitFor(a.id);
    await clock.advance(5);
    await aDone;

    expect(all.map((c) => c.seq)).toEqual(all.map((_, i) => i + 1));
    expect(new Set(all.map((c) => c.epoch))).toEqual(new Set([engine.epoch]));
    // A status subscriber sees jobs enter *and leave* the status.
    expect(running.filter((c) => c.job.id === a.id).map((c) => c.job.status)).toEqual(['running', 'succeeded']);
  });

  it('replays what a subscriber missed, or says it cannot', async () => {
    const { engine, provider, clock } = await setup();
    const job = await engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    const mark = engine.seq;
    provider.set('ext-1', 'DONE', { result: 'r' });
    const done = engine.waitFor(job.id);
    await clock.advance(5);
    await done;
    expect(engine.changesSince(engine.epoch, mark)?.map((c) => c.job.status)).toEqual(['succeeded']);
    expect(engine.changesSince(engine.epoch, mark, { providers: ['other'] })).toEqual([]);
    expect(engine.changesSince('another-epoch', mark)).toBeUndefined();
    expect(engine.changesSince(engine.epoch, engine.seq + 5)).toBeUndefined();
  });
});

describe('Engine.close', () => {
  it('refuses work after close and errors unfinished job streams', async () => {
    const { engine } = await setup();
    const job = await engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    const waiting = engine.waitFor(job.id);
    await engine.close();
    await expect(waiting).rejects.toMatchObject({ code: 'ENGINE_CLOSED' });
    await expect(engine.submit({ provider: 'fake', kind: 'transcription', input: url })).rejects.toMatchObject({ code: 'ENGINE_CLOSED' });
    await engine.close();
  });
});

describe('Engine and jobs the provider no longer knows', () => {
  it('fails a job after maxRejectedPolls refused polls in a row, with the reason', async () => {
    const { engine, provider, clock } = await setup({ webhooks: false, maxRejectedPolls: 3 });
    const job = await engine.track({ provider: 'fake', kind: 'transcription', externalId: 'deleted-long-ago' });
    const failed = engine.waitFor(job.id, { timeoutMs: 5000 });
    // Polls at 0, 5 and 10 ms: the job's backoff with jitter 0.5 is 5 ms after each refusal.
    await clock.advance(15);
    const done = await failed;
    expect(done).toMatchObject({ status: 'failed', source: 'poll', error: { code: 'PROVIDER_REJECTED' } });
    expect(done.error?.message).toMatch(/refused 3 polls in a row: fake: no job deleted-long-ago/);
    expect(provider.pollsOf.get('deleted-long-ago')).toBe(3);
  });

  it('does not count refusals that are not in a row', async () => {
    const { engine, provider, clock } = await setup({ webhooks: false, maxRejectedPolls: 2 });
    provider.set('flaky', 'WORKING');
    const refuse = () => provider.failures.push({ on: 'poll', error: new ProviderError('fake', 'rejected', 'hiccup', { status: 404 }) });
    refuse();
    const job = await engine.track({ provider: 'fake', kind: 'transcription', externalId: 'flaky' });
    const running = reach(engine, job.id, (j) => j.status === 'running');
    await clock.until(() => engine.get(job.id)?.status === 'running');
    await running;
    refuse();
    await clock.until(() => provider.failures.length === 0);
    provider.set('flaky', 'DONE', { result: 'fine' });
    const done = engine.waitFor(job.id, { timeoutMs: 5000 });
    await clock.until(() => engine.get(job.id)?.status === 'succeeded');
    expect(await done).toMatchObject({ status: 'succeeded' });
  });
});

describe('Engine and confirming webhooks', () => {
  it('keeps a confirm request that arrives before the provider answered the submission', async () => {
    const provider = new FakeProvider({ pollPolicy: { intervalMs: 60_000, watchdog: { quietMs: 60_000 } } });
    const thin = provider.parseWebhook.bind(provider);
    // A thin webhook: it only says "something happened, come and look".
    provider.parseWebhook = (delivery) => ({ ...thin(delivery), report: undefined, confirm: true });
    // Its answer to the submission lags behind: only a poll can see what the webhook announced.
    const create = provider.create.bind(provider);
    provider.create = async (request, context) => ({ ...(await create(request, context)), report: { status: 'queued', providerStatus: 'WAITING' } });
    const { engine, clock } = await setup({ provider });
    let open!: () => void;
    provider.createGate = new Promise((resolve) => (open = resolve));
    const called = creating(provider);
    const submitted = engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    await called;
    provider.set('ext-1', 'DONE', { result: 'early' });
    await engine.ingestWebhook({ provider: 'fake', token: tokenOf(provider.created[0]?.webhookUrl), body: { id: 'ext-1', status: 'DONE' } });
    open();
    const job = await submitted;
    // Without the kept confirm, the next poll would come only after a minute.
    const done = engine.waitFor(job.id, { timeoutMs: 5000 });
    await clock.advance(0);
    expect(engine.get(job.id)?.result).toBe('early');
    expect((await done).result).toBe('early');
  });
});
