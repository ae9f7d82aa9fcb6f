import { mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createDispatcher } from '../../src/providers/provider-http.js';
import { silentLogger } from '../../src/server/logger.js';
import { OUTBOX_FILE, type OpenOutboxFile } from '../../src/server/outbound/outbox-journal.js';
import { WebhookOutbox } from '../../src/server/outbound/webhook-outbox.js';
import type { WebhookDelivery, WebhookEndpoint } from '../../src/server/outbound/webhook-protocol.js';
import type { RunningServer } from '../../src/server/server.js';
import { createEngine, type Engine } from '../../src/streams/engine.js';
import type { JobSnapshot } from '../../src/streams/job-snapshot.js';
import { MemoryStore } from '../../src/streams/job-store.js';
import { FakeProvider, tokenOf } from '../support/fake-provider.js';
import { startTestServer } from '../support/test-server.js';
import { WebhookReceiver, type ReceiverPolicy } from '../support/webhook-receiver.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

const FAST = { allowPrivateTargets: true, backoffBaseMs: 5, backoffCapMs: 20, timeoutMs: 2000, writeRetry: { initialMs: 5, maxMs: 50 } };

async function receiver(policy?: ReceiverPolicy): Promise<WebhookReceiver> {
  const started = await WebhookReceiver.start(policy);
  cleanup.push(() => started.close());
  return started;
}

async function setup(webhooks: NonNullable<Parameters<typeof startTestServer>[0]>['webhooks'] = FAST) {
  const started = await startTestServer({ webhooks });
  cleanup.push(() => started.server.close());
  const { server, provider, api } = started;
  const submit = () => server.engine.submit({ provider: 'fake', kind: 'transcription', input: { type: 'url', url: 'https://example.com/a.wav' } });
  const json = (method: string, path: string, body?: unknown) =>
    api(path, { method, ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }) });
  const register = async (url: string) => {
    const response = await json('POST', '/v1/webhooks', { url });
    expect(response.status).toBe(201);
    return (await response.json()) as { endpoint: WebhookEndpoint; secret: string };
  };
  const deliveries = async (id: string) => ((await (await api(`/v1/webhooks/${id}/deliveries`)).json()) as { deliveries: WebhookDelivery[] }).deliveries;
  const endpoint = async (id: string) => (await (await api(`/v1/webhooks/${id}`)).json()) as WebhookEndpoint;
  return { ...started, submit, json, register, deliveries, endpoint, hook: hookOf(server, provider) };
}

function hookOf(server: RunningServer, provider: FakeProvider) {
  return (job: JobSnapshot, status: 'WORKING' | 'DONE', extra: object = {}) => {
    const created = provider.created.find((request) => request.webhookUrl?.includes(job.id));
    return server.engine.ingestWebhook({ provider: 'fake', token: tokenOf(created?.webhookUrl), body: { id: job.externalId, status, ...extra } });
  };
}

const versionsOf = (inbox: WebhookReceiver, jobId: string) =>
  inbox.received.map((r) => JSON.parse(r.body) as { data: { job: { id: string; version: number } } }).filter((p) => p.data.job.id === jobId).map((p) => p.data.job.version);

describe('outbound webhooks: 410, replay, collapse', () => {
  it('writes nothing to its file on the change path while no endpoint is registered', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'jobstream-outbox-idle-'));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const provider = new FakeProvider({ pollPolicy: { intervalMs: 3_600_000 } });
    const engine: Engine = await createEngine({ providers: [provider], dataDir, store: new MemoryStore(), webhookUrl: (p, t) => `http://127.0.0.1:1/v1/hooks/${p}/${t}` });
    cleanup.push(() => engine.close());
    const dispatcher = createDispatcher();
    cleanup.push(() => dispatcher.close());
    const outbox = await WebhookOutbox.open({ ...FAST, engine, dataDir, dispatcher, logger: silentLogger() });
    const from = engine.seq;
    for (let i = 0; i < 1100; i++) await engine.track({ provider: 'fake', kind: 'transcription', externalId: `idle-${i}` });
    expect(engine.seq - from).toBeGreaterThanOrEqual(1100);
    await outbox.close();
    // The cursor written when it first opened and the one written at close; none in between.
    const cursors = (await readFile(join(dataDir, 'webhooks', OUTBOX_FILE), 'utf8')).split('\n').filter((line) => line.includes('"t":"cursor"'));
    expect(cursors).toHaveLength(2);
  });

  it('a 410 disables the endpoint (nothing more is sent) until PATCH {enabled:true}', async () => {
    const { register, submit, hook, deliveries, endpoint, json } = await setup();
    let gone = true;
    const inbox = await receiver(() => (gone ? 410 : 200));
    const { endpoint: registered } = await register(inbox.url);
    const job = await submit();
    await inbox.until(() => inbox.received.length === 1, 'the first request');
    await expect.poll(() => endpoint(registered.id)).toMatchObject({ enabled: false, disabledReason: 'the receiver answered 410 Gone' });
    const log = await deliveries(registered.id);
    expect(log.find((d) => d.status === 'failed')).toMatchObject({ attemptCount: 1, attempts: [{ statusCode: 410 }] });

    // Changes while disabled are not delivered (nor recorded); what was pending waits.
    await hook(job, 'WORKING', { progress: 0.5 });
    expect(await deliveries(registered.id)).toHaveLength(log.length);
    expect(inbox.arrivals).toBe(1);

    gone = false;
    const patched = await json('PATCH', `/v1/webhooks/${registered.id}`, { enabled: true });
    expect(patched.status).toBe(200);
    expect(await patched.json()).toMatchObject({ enabled: true });
    expect(((await (await json('GET', `/v1/webhooks/${registered.id}`)).json()) as WebhookEndpoint).disabledReason).toBeUndefined();
    await hook(job, 'DONE', { result: 'r' });
    await inbox.until(() => inbox.accepted().some((p) => p.data.job.status === 'succeeded'), 'the succeeded version after re-enabling');
    const versions = versionsOf(inbox, job.id);
    expect(versions).toEqual([...new Set(versions)].sort((a, b) => a - b));
  });

  it('replay sends the job current version again, as a new delivery with its own webhook-id', async () => {
    const { server, register, submit, hook, deliveries, json } = await setup();
    const inbox = await receiver();
    const { endpoint } = await register(inbox.url);
    const job = await submit();
    await hook(job, 'DONE', { result: 'r' });
    await inbox.until(() => inbox.accepted().some((p) => p.data.job.status === 'succeeded'), 'the succeeded version');
    const before = inbox.received.length;
    const first = (await deliveries(endpoint.id)).at(-1)!;
    const response = await json('POST', `/v1/webhooks/${endpoint.id}/deliveries/${first.id}/replay`);
    expect(response.status).toBe(202);
    const { delivery } = (await response.json()) as { delivery: WebhookDelivery };
    const current = server.engine.get(job.id)!;
    expect(delivery).toMatchObject({ replayOf: first.id, jobId: job.id, version: current.version, webhookId: expect.stringMatching(new RegExp(`^${job.id}\\.v${current.version}\\.replay-\\d+$`)) });
    await inbox.until(() => inbox.received.length === before + 1, 'the replay');
    const replayed = inbox.received.at(-1)!;
    expect(replayed.headers['webhook-id']).toBe(delivery.webhookId);
    expect(JSON.parse(replayed.body)).toMatchObject({ data: { job: { id: job.id, version: current.version, status: 'succeeded' } } });
    await expect.poll(async () => (await deliveries(endpoint.id)).find((d) => d.id === delivery.id)?.status).toBe('delivered');
    expect((await json('POST', `/v1/webhooks/${endpoint.id}/deliveries/dlv_999999/replay`)).status).toBe(404);
  });

  it('collapses older pending versions into the newest: the receiver never sees an older version after a newer one', async () => {
    const { server, register, submit, hook, deliveries } = await setup();
    let release!: (status: number) => void;
    const held = new Promise<number>((resolve) => (release = resolve));
    // The first request is held open (in flight) while the job moves on twice.
    let heldVersion = 0;
    const inbox = await receiver((request) => {
      if (request.n !== 1) return 200;
      heldVersion = (JSON.parse(request.body) as { data: { job: { version: number } } }).data.job.version;
      return held;
    });
    const { endpoint } = await register(inbox.url);
    const job = await submit();
    await inbox.until(() => inbox.arrivals === 1, 'the first request, held open');
    await hook(job, 'WORKING', { progress: 0.3 });
    await hook(job, 'WORKING', { progress: 0.6 });
    // Versions recorded before the first request went out may already have collapsed into it.
    const log = (await deliveries(endpoint.id)).sort((a, b) => a.version - b.version).filter((d) => d.version >= heldVersion);
    const first = log[0]!;
    expect(first.version).toBe(heldVersion);
    const newest = log.at(-1)!;
    expect(log.length).toBeGreaterThanOrEqual(3);
    expect(newest.version).toBe(server.engine.get(job.id)!.version);
    // The first is in flight (it stays pending); those that waited behind it collapsed into the next.
    expect(first).toMatchObject({ status: 'pending', attemptCount: 0 });
    for (const [i, waited] of log.slice(1, -1).entries()) expect(waited).toMatchObject({ status: 'collapsed', collapsedInto: log[i + 2]!.id, attemptCount: 0 });
    expect(newest).toMatchObject({ status: 'pending' });
    release(500);
    await inbox.until(() => inbox.accepted().some((p) => p.data.job.version === newest.version), 'the newest version');
    // The failed first try is not retried: the newer version went instead.
    expect(versionsOf(inbox, job.id)).toEqual([first.version, newest.version]);
    await expect.poll(async () => (await deliveries(endpoint.id)).find((d) => d.id === newest.id)?.status).toBe('delivered');
    const after = await deliveries(endpoint.id);
    expect(after.find((d) => d.id === first.id)).toMatchObject({ status: 'collapsed', collapsedInto: newest.id, attempts: [{ statusCode: 500 }] });
    expect(after.find((d) => d.id === newest.id)).toMatchObject({ status: 'delivered' });
  });
});

describe('outbound webhooks: durability', () => {
  it('answers 503 while the outbox cannot be written, keeps changes in memory, and delivers them once it can', async () => {
    let failing = false;
    const openFile: OpenOutboxFile = async (path, flags) => {
      const handle = await open(path, flags, 0o600);
      const write = handle.write.bind(handle) as (...args: unknown[]) => Promise<unknown>;
      return {
        write: ((...args: unknown[]) => (failing ? Promise.reject(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })) : write(...args))) as never,
        datasync: () => handle.datasync(),
        truncate: (length?: number) => handle.truncate(length),
        close: () => handle.close(),
      };
    };
    const dataDir = await mkdtemp(join(tmpdir(), 'jobstream-outbox-'));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const started = await startTestServer({ dataDir, webhooks: { ...FAST, openFile } });
    cleanup.push(() => started.server.close());
    const { server, api } = started;
    const post = (body: unknown) => api('/v1/webhooks', { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    const inbox = await receiver();
    const created = await post({ url: inbox.url });
    expect(created.status).toBe(201);
    const { endpoint } = (await created.json()) as { endpoint: WebhookEndpoint };

    failing = true;
    const refused = await post({ url: inbox.url, description: 'never stored' });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('WEBHOOK_STORE_UNAVAILABLE');
    // A change while the file cannot be written: kept, and not attempted before it is recorded.
    const job = await server.engine.submit({ provider: 'fake', kind: 'transcription', input: { type: 'url', url: 'https://example.com/a.wav' } });
    const patch = await api(`/v1/webhooks/${endpoint.id}`, { method: 'PATCH', body: '{"description":"x"}', headers: { 'content-type': 'application/json' } });
    expect(patch.status).toBe(503);
    expect(inbox.arrivals).toBe(0);

    failing = false;
    await inbox.until(() => inbox.accepted().some((p) => p.data.job.id === job.id && p.data.job.version === server.engine.get(job.id)!.version), 'the change kept in memory');
    // The refused endpoint never appeared, the refused PATCH changed nothing.
    const listed = ((await (await api('/v1/webhooks')).json()) as { endpoints: WebhookEndpoint[] }).endpoints;
    expect(listed.map((e) => [e.id, e.description])).toEqual([[endpoint.id, undefined]]);
    const file = join(dataDir, 'webhooks', OUTBOX_FILE);
    expect(await readFile(file, 'utf8')).toContain(job.id);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dataDir, 'webhooks'))).mode & 0o777).toBe(0o700);
  });

  it('resumes pending deliveries and catches up with changes made while closed; compaction keeps the file small', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'jobstream-outbox-'));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const provider = new FakeProvider();
    const engine: Engine = await createEngine({ providers: [provider], dataDir, store: new MemoryStore(), webhookUrl: (p, t) => `http://127.0.0.1:1/v1/hooks/${p}/${t}` });
    cleanup.push(() => engine.close());
    const dispatcher = createDispatcher();
    cleanup.push(() => dispatcher.close());
    const options = { ...FAST, engine, dataDir, dispatcher, logger: silentLogger(), keepFinished: 5, compactAtBytes: 8192 };
    let accept = true;
    const inbox = await receiver(() => (accept ? 200 : 500));
    const first = await WebhookOutbox.open(options);
    let open = first;
    cleanup.push(() => open.close());
    const { endpoint } = await first.create({ url: inbox.url });
    const submit = () => engine.submit({ provider: 'fake', kind: 'transcription', input: { type: 'url', url: 'https://example.com/a.wav' } });
    const hook = (job: JobSnapshot, status: 'WORKING' | 'DONE', extra: object = {}) => {
      const created = provider.created.find((request) => request.webhookUrl?.includes(job.id));
      return engine.ingestWebhook({ provider: 'fake', token: tokenOf(created?.webhookUrl), body: { id: job.externalId, status, ...extra } });
    };
    // Many deliveries: the file is compacted, and the log keeps the newest five finished.
    const many = await Promise.all(Array.from({ length: 40 }, () => submit()));
    for (const job of many) await hook(job, 'DONE', { result: 'r' });
    await inbox.until(() => many.every((job) => inbox.accepted().some((p) => p.data.job.id === job.id && p.data.job.status === 'succeeded')), 'every job');
    await expect.poll(() => first.deliveries(endpoint.id)?.deliveries.length).toBeLessThanOrEqual(5);
    const grown = (await stat(join(dataDir, 'webhooks', OUTBOX_FILE))).size;
    expect(grown).toBeGreaterThan(8192);

    // A pending delivery at close, and a change made while closed.
    accept = false;
    const pending = await submit();
    const stuck = await submit();
    const stuckVersion = engine.get(stuck.id)!.version;
    const refusedFor = (id: string) => inbox.received.some((r) => r.status === 500 && String(r.headers['webhook-id']) === `${id}.v${engine.get(id)!.version}`);
    await inbox.until(() => refusedFor(pending.id) && refusedFor(stuck.id), 'refused attempts of both jobs at their versions');
    await first.close();
    await hook(pending, 'DONE', { result: 'late' });
    const finalVersion = engine.get(pending.id)!.version;
    accept = true;
    const before = inbox.received.length;
    open = await WebhookOutbox.open(options);
    expect(open.get(endpoint.id)).toMatchObject({ id: endpoint.id, url: inbox.url });
    // Compacted: the endpoint, the cursor, the five finished deliveries kept for the log, the two pending ones
    const lines = (await readFile(join(dataDir, 'webhooks', OUTBOX_FILE), 'utf8')).trim().split('\n');
    // (and, appended after it, what the catch-up wrote: a collapse, a new delivery, a cursor)
    expect(lines.length).toBeLessThanOrEqual(1 + 1 + 5 + 2 + 3);
    expect((await stat(join(dataDir, 'webhooks', OUTBOX_FILE))).size).toBeLessThan(grown);
    await inbox.until(() => inbox.accepted().some((p) => p.data.job.id === pending.id && p.data.job.version === finalVersion), 'the change made while closed');
    const after = versionsOf({ received: inbox.received.slice(before) } as WebhookReceiver, pending.id);
    // Only the newest version is sent after the restart: the older pending one collapsed into it.
    expect(after).toEqual([finalVersion]);
    // The job that did not change while closed: its pending delivery was resumed.
    await inbox.until(() => inbox.accepted().some((p) => p.data.job.id === stuck.id && p.data.job.version === stuckVersion), 'the pending delivery resumed');
  });
});

describe('outbound webhooks: a long downtime', () => {
  it('delivers the newest state of each job that changed when the change log no longer reaches back to the last recorded change', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'jobstream-outbox-'));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const provider = new FakeProvider();
    const engine: Engine = await createEngine({ providers: [provider], dataDir, store: new MemoryStore(), changeLogSize: 4, webhookUrl: (p, t) => `http://127.0.0.1:1/v1/hooks/${p}/${t}` });
    cleanup.push(() => engine.close());
    const dispatcher = createDispatcher();
    cleanup.push(() => dispatcher.close());
    const inbox = await receiver();
    const options = { ...FAST, engine, dataDir, dispatcher, logger: silentLogger() };
    const first = await WebhookOutbox.open(options);
    const { endpoint } = await first.create({ url: inbox.url, filter: { kinds: ['transcription'] } });
    await first.close();
    // While closed: more changes than the log keeps, of two matching jobs and one that is not.
    const submit = (kind: string) => engine.submit({ provider: 'fake', kind, input: { type: 'url', url: 'https://example.com/a.wav' } });
    const jobs = [await submit('transcription'), await submit('transcription'), await submit('separation')];
    for (const job of jobs) {
      const created = provider.created.find((request) => request.webhookUrl?.includes(job.id));
      await engine.ingestWebhook({ provider: 'fake', token: tokenOf(created?.webhookUrl), body: { id: job.externalId, status: 'DONE', result: 'r' } });
    }
    expect(engine.changesSince(engine.epoch, 0)).toBeUndefined();
    const second = await WebhookOutbox.open(options);
    cleanup.push(() => second.close());
    const wanted = jobs.slice(0, 2).map((job) => engine.get(job.id)!);
    await inbox.until(() => wanted.every((job) => inbox.accepted().some((p) => p.data.job.id === job.id && p.data.job.version === job.version)), 'the newest state of both jobs');
    // Each once, at its newest version; the separation job does not match the filter.
    expect(inbox.accepted().map((p) => [p.data.job.id, p.data.job.version]).sort()).toEqual(wanted.map((job) => [job.id, job.version]).sort());
    expect(second.get(endpoint.id)).toMatchObject({ enabled: true });
  });
});

describe('outbound webhooks: targets', () => {
  it('checks the address again at delivery (a name that now resolves to loopback is refused) and does not follow redirects', async () => {
    const inbox = await receiver(() => 200);
    const port = Number(new URL(inbox.url).port);
    let address = '93.184.215.14';
    const { register, submit, deliveries } = await setup({ ...FAST, allowPrivateTargets: false, urlGuard: { lookup: () => Promise.resolve([{ address, family: 4 }]) } });
    const { endpoint } = await register(`http://hooks.example.test:${port}/hook`);
    // Registered while the name resolved to a public address; now it points at this machine.
    address = '127.0.0.1';
    await submit();
    await expect.poll(async () => (await deliveries(endpoint.id)).flatMap((d) => d.attempts).map((a) => a.error)[0]).toMatch(/refused to fetch from hooks\.example\.test:\d+: it is not a public internet address/);
    expect(inbox.arrivals).toBe(0);

    // A receiver that redirects: a failure like any other non-2xx, not followed.
    const target = await receiver(() => 200);
    let redirects = 0;
    const redirecting = createServer((request, response) => {
      request.resume();
      redirects += 1;
      response.writeHead(307, { location: target.url }).end();
    });
    await new Promise<void>((resolve) => redirecting.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise((resolve) => redirecting.close(resolve)));
    const open = await setup();
    const { endpoint: moved } = await open.register(`http://127.0.0.1:${(redirecting.address() as AddressInfo).port}/old`);
    await open.submit();
    await expect.poll(() => redirects).toBeGreaterThanOrEqual(2);
    expect(target.arrivals).toBe(0);
    expect((await open.deliveries(moved.id)).flatMap((d) => d.attempts).some((a) => a.statusCode === 307)).toBe(true);
  });
});

describe('outbound webhooks: failures', () => {
  it('gives a delivery up after giveUpAfterMs, records timeouts, and keeps a sanitised 200-character excerpt of answers', async () => {
    // A receiver that answers 500 with a long body full of control characters, or never answers.
    let hang = false;
    const answer = `bad\u0000\u001b[31mnews\n${'x'.repeat(500)}`;
    const raw = createServer((request, response) => {
      request.resume();
      if (!hang) response.writeHead(500, { 'content-type': 'text/plain' }).end(answer);
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => {
      raw.closeAllConnections();
      return new Promise((resolve) => raw.close(resolve));
    });
    const url = `http://127.0.0.1:${(raw.address() as AddressInfo).port}/hook`;
    const { register, submit, deliveries, api } = await setup({ ...FAST, giveUpAfterMs: 1000, timeoutMs: 200 });
    const { endpoint } = await register(url);
    await submit();
    await expect.poll(async () => (await deliveries(endpoint.id)).some((d) => d.status === 'failed'), { timeout: 10_000 }).toBe(true);
    const failed = (await deliveries(endpoint.id)).find((d) => d.status === 'failed')!;
    expect(failed.nextAttemptAt).toBeNull();
    expect(failed.attemptCount).toBeGreaterThan(1);
    const excerpt = failed.attempts[0]!.responseExcerpt!;
    expect(excerpt).toHaveLength(200);
    expect(excerpt.startsWith('bad  [31mnews x')).toBe(true);
    expect([...excerpt].every((c) => c.charCodeAt(0) >= 0x20)).toBe(true);
    const metrics = await (await api('/metrics')).text();
    expect(metrics).toMatch(/^jobstream_outbound_webhook_deliveries_total\{outcome="failed"\} [1-9]/m);

    hang = true;
    await submit();
    await expect.poll(async () => (await deliveries(endpoint.id)).flatMap((d) => d.attempts).some((a) => a.error === 'no answer within 200 ms'), { timeout: 10_000 }).toBe(true);
  });
});
