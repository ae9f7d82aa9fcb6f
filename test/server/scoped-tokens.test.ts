import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { firstValueFrom, toArray, filter as where, take } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type RemoteClient } from '../../src/client/node.js';
import { createLogger } from '../../src/server/logger.js';
import { deriveTokenSecret, loadTokenSecret, narrowFilter, ScopedTokens, TOKEN_SECRET_FILE } from '../../src/server/scoped-tokens.js';
import type { RunningServer } from '../../src/server/server.js';
import { compileFilter, type JobFilter } from '../../src/streams/job-filter.js';
import type { JobSnapshot } from '../../src/streams/job-snapshot.js';
import { tokenOf } from '../support/fake-provider.js';
import { startTestServer, TOKEN } from '../support/test-server.js';
import { VirtualClock } from '../support/virtual-clock.js';
import { WsTestClient } from '../support/ws-test-client.js';
import { SseReader } from './sse-reader.js';

const servers: RunningServer[] = [];
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

describe('ScopedTokens', () => {
  const secret = randomBytes(32);

  it('mints a token that verifies to its scope and expiry, and refuses one signed with another secret', () => {
    const clock = new VirtualClock(1_000_000);
    const tokens = new ScopedTokens({ secret, clock });
    const minted = tokens.mint({ metadata: { userId: '42' } }, 600);
    expect(minted.token.startsWith('jsr1.')).toBe(true);
    expect(minted.expiresAt).toBe(1_000_000 + 600_000);
    expect(tokens.verify(minted.token)).toEqual({ scope: { metadata: { userId: '42' } }, expiresAt: 1_600_000 });
    expect(new ScopedTokens({ secret: randomBytes(32), clock }).verify(minted.token)).toBe('invalid');
  });

  it('refuses a token whose scope was edited (the signature no longer matches)', () => {
    const tokens = new ScopedTokens({ secret });
    const { token } = tokens.mint({ ids: ['job_1'] });
    const [prefix, payload, signature] = token.split('.') as [string, string, string];
    const wider = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { f: unknown };
    wider.f = { providers: ['fake'] };
    expect(tokens.verify(`${prefix}.${Buffer.from(JSON.stringify(wider)).toString('base64url')}.${signature}`)).toBe('invalid');
    expect(tokens.verify(`${token}x`)).toBe('invalid');
    expect(tokens.verify('jsr1.garbage')).toBe('invalid');
    expect(tokens.verify('not-a-scoped-token')).toBe('invalid');
  });

  it('says expired from the expiry on, by its clock; lasts an hour by default; refuses a lifetime over the maximum', () => {
    const clock = new VirtualClock(0);
    const tokens = new ScopedTokens({ secret, clock, maxTtlSeconds: 7200 });
    const { token, expiresAt } = tokens.mint({ ids: ['job_1'] });
    expect(expiresAt).toBe(3_600_000);
    clock.frame = 3_599_999;
    expect(tokens.verify(token)).not.toBe('expired');
    clock.frame = 3_600_000;
    expect(tokens.verify(token)).toBe('expired');
    expect(() => tokens.mint({ ids: ['job_1'] }, 7201)).toThrow(/at most 7200/);
  });

  it('refuses a scope too large for a token that must fit in a URL', () => {
    const tokens = new ScopedTokens({ secret });
    expect(tokens.mint({ ids: Array.from({ length: 50 }, (_, i) => `job_01jd5x3k2a7m9q0c4w8e6r2t${String(i).padStart(2, '0')}`) }).token.length).toBeLessThanOrEqual(4096);
    expect(() => tokens.mint({ metadata: { note: 'x'.repeat(1024), other: 'y'.repeat(1024), more: 'z'.repeat(1024) } })).toThrow(/too large for a token/);
  });
});

describe('the signing secret', () => {
  it('is made once in the data directory (0600) and kept across restarts; a damaged file is an error naming it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jobstream-token-secret-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const first = await loadTokenSecret(dir);
    expect(first).toHaveLength(32);
    expect((await stat(join(dir, TOKEN_SECRET_FILE))).mode & 0o777).toBe(0o600);
    expect(await loadTokenSecret(dir)).toEqual(first);
    await writeFile(join(dir, TOKEN_SECRET_FILE), 'short\n');
    await expect(loadTokenSecret(dir)).rejects.toThrow(TOKEN_SECRET_FILE);
  });

  it('is the same on every cluster member that shares the API token (HKDF), and another for another token', () => {
    const a = new ScopedTokens({ secret: deriveTokenSecret('cluster-token-0123456789') });
    const b = new ScopedTokens({ secret: deriveTokenSecret('cluster-token-0123456789') });
    const other = new ScopedTokens({ secret: deriveTokenSecret('another-token-0123456789') });
    const { token } = a.mint({ ids: ['job_1'] });
    expect(b.verify(token)).toMatchObject({ scope: { ids: ['job_1'] } });
    expect(other.verify(token)).toBe('invalid');
  });
});

describe('narrowFilter never widens a scope', () => {
  const job = (id: string, provider: string, kind: string, metadata: Record<string, string | number>, status: JobSnapshot['status'] = 'running') =>
    ({ id, provider, kind, metadata, status }) as unknown as JobSnapshot;
  const jobs = [
    job('a', 'fake', 'transcription', { userId: '42' }),
    job('b', 'fake', 'separation', { userId: '42', team: 'x' }),
    job('c', 'other', 'transcription', { userId: '7' }),
    job('d', 'other', 'separation', { userId: 42 }, 'succeeded'),
    job('e', 'fake', 'transcription', {}),
  ];
  const scopes = [{ ids: ['a', 'c'] }, { metadata: { userId: '42' } }, { providers: ['other'] }, { kinds: ['separation'], metadata: { team: 'x' } }];
  const requests: (JobFilter | undefined)[] = [
    undefined,
    {},
    { ids: ['a', 'b', 'c', 'd', 'e'] },
    { providers: ['fake', 'other'] },
    { metadata: { userId: '7' } },
    { metadata: { userId: '42' }, statuses: ['running'] },
    { kinds: ['transcription'], statuses: ['succeeded'] },
  ];
  for (const scope of scopes) {
    it(`with ${JSON.stringify(scope)}: every request sees the jobs both allow, and never one outside the scope`, () => {
      const inScope = compileFilter(scope);
      for (const requested of requests) {
        const narrowed = compileFilter(narrowFilter(requested, scope));
        const asked = compileFilter(requested);
        for (const candidate of jobs) expect(narrowed(candidate), `${candidate.id} for ${JSON.stringify(requested)}`).toBe(inScope(candidate) && asked(candidate));
      }
    });
  }
});

/** A server with the fake provider, two users' jobs, and a scoped token for user 42's. */
async function setup(options: { log?: string[] } = {}) {
  const clock = new VirtualClock(Date.now());
  const logger =
    options.log === undefined
      ? undefined
      : createLogger({ level: 'trace', destination: new Writable({ write: (chunk: Buffer, _encoding, done) => (options.log!.push(chunk.toString('utf8')), done()) }) });
  const started = await startTestServer({ scopedTokens: { clock }, ...(logger === undefined ? {} : { logger }) });
  servers.push(started.server);
  const { server, api, provider } = started;
  const submit = (userId: string, name: string) =>
    server.engine.submit({ provider: 'fake', kind: 'transcription', input: { type: 'url', url: 'https://example.com/a.wav' }, name, metadata: { userId } });
  const mine = await submit('42', 'mine');
  const theirs = await submit('7', 'theirs');
  const hook = (job: JobSnapshot, status: 'WORKING' | 'DONE', extra: object = {}) =>
    server.engine.ingestWebhook({ provider: 'fake', token: tokenOf(provider.created.find((c) => c.metadata.userId === job.metadata.userId)!.webhookUrl), body: { id: job.externalId, status, ...extra } });
  const minted = await api('/v1/tokens', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ filter: { metadata: { userId: '42' } }, ttlSeconds: 600 }) });
  expect(minted.status).toBe(201);
  const { token, expiresAt } = (await minted.json()) as { token: string; expiresAt: number };
  const scoped = (path: string, init: RequestInit = {}) =>
    fetch(`${server.url}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string> | undefined) } });
  return { ...started, clock, mine, theirs, hook, token, expiresAt, scoped };
}

const body = async (response: Response) => ({ status: response.status, body: (await response.json()) as Record<string, unknown> });

describe('POST /v1/tokens', () => {
  it('mints only with the API token, and says exactly what is wrong with a request', async () => {
    const { api, scoped, server } = await setup();
    const mint = (payload: unknown, call = api) => call('/v1/tokens', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) });
    // A scoped token can never mint a token, so it can never widen its own reach.
    expect(await body(await mint({ filter: { providers: ['fake'] } }, scoped))).toMatchObject({ status: 403, body: { error: { code: 'SCOPE_FORBIDDEN' } } });
    const anonymous = await fetch(`${server.url}/v1/tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"filter":{"ids":["x"]}}' });
    expect(anonymous.status).toBe(401);
    expect(await body(await mint({ filter: {} }))).toMatchObject({ status: 400, body: { error: { code: 'INVALID_REQUEST', issues: [{ field: 'filter' }] } } });
    expect(await body(await mint({ filter: { userId: '42' } }))).toMatchObject({ status: 400, body: { error: { code: 'INVALID_REQUEST' } } });
    expect(await body(await mint({ filter: { statuses: ['running'] } }))).toMatchObject({ status: 400 });
    expect(await body(await mint({ filter: { ids: ['a'] }, ttlSeconds: 86_401 }))).toMatchObject({ status: 400, body: { error: { issues: [{ field: 'ttlSeconds' }] } } });
    const ok = await mint({ filter: { ids: ['a'] } });
    expect(ok.status).toBe(201);
    expect(ok.headers.get('cache-control')).toBe('no-store');
  });

  it('has an in-code twin: server.mintToken', async () => {
    const { server, mine, theirs } = await setup();
    const { token, expiresAt } = server.mintToken({ ids: [mine.id] }, 60);
    expect(expiresAt).toBeGreaterThan(Date.now());
    const listed = (await (await fetch(`${server.url}/v1/jobs`, { headers: { authorization: `Bearer ${token}` } })).json()) as { jobs: JobSnapshot[] };
    expect(listed.jobs.map((job) => job.id)).toEqual([mine.id]);
    expect(listed.jobs.map((job) => job.id)).not.toContain(theirs.id);
    expect(() => server.mintToken({})).toThrow(/name the jobs the token may read/);
  });
});

describe('a scoped read token', () => {
  it('reads its job over REST, and nothing else: 404 for jobs outside its scope, 403 SCOPE_FORBIDDEN for everything but reading', async () => {
    const { scoped, mine, theirs, hook, expiresAt } = await setup();
    await hook(mine, 'DONE', { result: 'notes' });
    expect(await body(await scoped('/v1/token'))).toEqual({ status: 200, body: { type: 'scoped', filter: { metadata: { userId: '42' } }, expiresAt } });

    const listed = (await (await scoped('/v1/jobs')).json()) as { jobs: JobSnapshot[] };
    expect(listed.jobs.map((job) => job.id)).toEqual([mine.id]);
    // Asking for another job by id, or for everything of its provider, does not widen it.
    expect(((await (await scoped(`/v1/jobs?id=${theirs.id}`)).json()) as { jobs: JobSnapshot[] }).jobs).toEqual([]);
    expect(((await (await scoped('/v1/jobs?provider=fake&status=queued&status=succeeded')).json()) as { jobs: JobSnapshot[] }).jobs.map((job) => job.id)).toEqual([mine.id]);

    expect(await body(await scoped(`/v1/jobs/${mine.id}`))).toMatchObject({ status: 200, body: { job: { id: mine.id, status: 'succeeded' } } });
    expect((await body(await scoped(`/v1/jobs/${mine.id}/changes`))).status).toBe(200);
    expect(await body(await scoped(`/v1/jobs/${mine.id}/results`))).toMatchObject({ status: 200, body: { files: [{ name: 'result.txt' }] } });
    expect(await (await scoped(`/v1/jobs/${mine.id}/results/result.txt`)).text()).toBe('content of notes');

    // Another user's job answers exactly like a job that does not exist.
    const unknown = await body(await scoped('/v1/jobs/job_doesnotexist'));
    for (const path of [`/v1/jobs/${theirs.id}`, `/v1/jobs/${theirs.id}/changes`, `/v1/jobs/${theirs.id}/results`, `/v1/jobs/${theirs.id}/results/result.txt`, `/v1/jobs/${theirs.id}/events`]) {
      const answer = await body(await scoped(path));
      expect(answer.status, path).toBe(404);
      expect(answer.body, path).toEqual({ error: { code: 'UNKNOWN_JOB', message: `no job with id "${theirs.id}"` } });
    }
    expect(unknown).toEqual({ status: 404, body: { error: { code: 'UNKNOWN_JOB', message: 'no job with id "job_doesnotexist"' } } });

    const json = { 'content-type': 'application/json' };
    const refused: [string, string, RequestInit?][] = [
      ['POST', '/v1/jobs', { headers: json, body: JSON.stringify({ provider: 'fake', kind: 'transcription', input: { type: 'url', url: 'https://example.com/b.wav' } }) }],
      ['POST', '/v1/jobs/track', { headers: json, body: JSON.stringify({ provider: 'fake', kind: 'transcription', externalId: 'ext-9' }) }],
      ['POST', `/v1/jobs/${mine.id}/cancel`],
      ['POST', `/v1/jobs/${theirs.id}/cancel`],
      ['GET', '/v1/stats'],
      ['GET', '/v1/providers'],
      ['GET', '/metrics'],
    ];
    for (const [method, path, init] of refused) {
      const answer = await body(await scoped(path, { method, ...init }));
      expect(answer, `${method} ${path}`).toMatchObject({ status: 403, body: { error: { code: 'SCOPE_FORBIDDEN' } } });
    }
    expect(mine.id).not.toBe(theirs.id);
  });

  it('sees only its job over the WebSocket: a wider subscription is narrowed, resume by state names no other job', async () => {
    const { server, wsUrl, token, mine, theirs, hook } = await setup();
    const ws = await WsTestClient.connect(wsUrl, token, 'query');
    cleanup.push(() => ws.ws.terminate());
    ws.send({ type: 'subscribe', sub: 'all' });
    expect((await ws.next('snapshot', (m) => m.sub === 'all')).jobs.map((job) => job.id)).toEqual([mine.id]);
    ws.send({ type: 'subscribe', sub: 'theirs', filter: { ids: [theirs.id] } });
    expect((await ws.next('snapshot', (m) => m.sub === 'theirs')).jobs).toEqual([]);
    // Resume by state with another epoch: the job it claims to hold is reported gone, like an unknown one.
    ws.send({ type: 'subscribe', sub: 'held', resume: { epoch: 'another', seq: 1, versions: { [theirs.id]: 1, job_doesnotexist: 1, [mine.id]: 1 } } });
    const held = await ws.next('snapshot', (m) => m.sub === 'held');
    expect(held.reason).toBe('resume-by-state');
    expect(held.jobs.map((job) => job.id)).toEqual([mine.id]);
    expect([...(held.gone ?? [])].sort()).toEqual([theirs.id, 'job_doesnotexist'].sort());

    await hook(theirs, 'WORKING');
    await hook(mine, 'WORKING');
    const change = await ws.next('change', (m) => m.sub === 'all');
    expect(change.changes.map((c) => c.job.id)).toEqual([mine.id]);
    await hook(theirs, 'DONE');
    await hook(mine, 'DONE');
    await ws.next('change', (m) => m.sub === 'all' && m.changes.some((c) => c.job.status === 'succeeded'));
    const seen = ws.messages.flatMap((m) => (m.type === 'change' ? m.changes.map((c) => c.job.id) : []));
    expect(new Set(seen)).toEqual(new Set([mine.id]));
    expect(server.engine.get(theirs.id)?.status).toBe('succeeded');
  });

  it('sees only its job over Server-Sent Events, with the token in the query string', async () => {
    const { server, token, mine, theirs, hook } = await setup();
    const sse = await SseReader.open(`${server.url}/v1/events?token=${encodeURIComponent(token)}`);
    cleanup.push(() => sse.close());
    expect(sse.status).toBe(200);
    expect(JSON.parse((await sse.next('snapshot')).data)).toMatchObject({ reason: 'subscribe', jobs: [{ id: mine.id }], more: false });
    // Asking for the other job's id narrows to nothing.
    const narrowed = await SseReader.open(`${server.url}/v1/events?ids=${theirs.id}&token=${encodeURIComponent(token)}`);
    cleanup.push(() => narrowed.close());
    expect(JSON.parse((await narrowed.next('snapshot')).data)).toMatchObject({ jobs: [] });
    await hook(theirs, 'WORKING');
    await hook(theirs, 'DONE');
    await hook(mine, 'WORKING');
    const change = JSON.parse((await sse.next('change')).data) as { job: JobSnapshot };
    expect(change.job).toMatchObject({ id: mine.id, status: 'running' });
    expect(sse.all<{ job: JobSnapshot }>('change').map((c) => c.job.id)).toEqual([mine.id]);
    expect(narrowed.all('change')).toEqual([]);
  });

  it('works with the remote client: its jobs only, and a clear error for anything else', async () => {
    const { server, token, mine, theirs, hook } = await setup();
    const client: RemoteClient = await connect({ url: server.url, token, reconnect: { initialMs: 20, maxMs: 100 } });
    cleanup.push(() => client.close());
    expect(client.access).toMatchObject({ type: 'scoped', filter: { metadata: { userId: '42' } } });
    const live = await firstValueFrom(client.jobs$());
    expect([...live.keys()]).toEqual([mine.id]);
    await expect(firstValueFrom(client.job$(theirs.id))).rejects.toMatchObject({ code: 'UNKNOWN_JOB' });
    expect(await client.get(theirs.id)).toBeUndefined();
    await expect(client.submit({ provider: 'fake', kind: 'transcription', input: { type: 'url', url: 'https://example.com/c.wav' } })).rejects.toMatchObject({
      code: 'SCOPE_FORBIDDEN',
      status: 403,
    });
    await expect(client.cancel(mine.id)).rejects.toMatchObject({ code: 'SCOPE_FORBIDDEN' });
    const versions = firstValueFrom(client.job$(mine.id).pipe(toArray()));
    // Filters by metadata are a client filter too (they share one server subscription per filter).
    const byMetadata = firstValueFrom(client.changes$({ metadata: { userId: '42' } }).pipe(take(1)));
    await firstValueFrom(client.jobs$().pipe(where((jobs) => jobs.size === 1)));
    await hook(theirs, 'DONE');
    await hook(mine, 'DONE');
    expect((await versions).at(-1)).toMatchObject({ id: mine.id, status: 'succeeded' });
    expect((await byMetadata).job.id).toBe(mine.id);
  });

  it('is refused with 401 TOKEN_EXPIRED once it expires, and its open streams end', async () => {
    const { server, wsUrl, token, scoped, clock, mine } = await setup();
    const ws = await WsTestClient.connect(wsUrl, token, 'header');
    cleanup.push(() => ws.ws.terminate());
    ws.send({ type: 'subscribe', sub: 'all' });
    await ws.next('snapshot');
    const sse = await SseReader.open(`${server.url}/v1/jobs/${mine.id}/events`, { authorization: `Bearer ${token}` });
    cleanup.push(() => sse.close());
    await sse.next('snapshot');
    expect((await scoped(`/v1/jobs/${mine.id}`)).status).toBe(200);

    await clock.advance(600_000);
    expect(await body(await scoped(`/v1/jobs/${mine.id}`))).toMatchObject({ status: 401, body: { error: { code: 'TOKEN_EXPIRED' } } });
    expect((await scoped('/v1/token')).status).toBe(401);
    expect(await ws.closed).toEqual({ code: 1008, reason: 'token expired' });
    expect(JSON.parse((await sse.next('end')).data)).toEqual({ reason: 'token-expired' });
    await sse.ended;
    await expect(WsTestClient.connect(wsUrl, token, 'query')).rejects.toThrow('HTTP 401');
    const again = await SseReader.open(`${server.url}/v1/events?token=${encodeURIComponent(token)}`);
    expect(again.status).toBe(401);
    expect(JSON.parse(await again.text())).toMatchObject({ error: { code: 'TOKEN_EXPIRED' } });
    await expect(connect({ url: server.url, token })).rejects.toMatchObject({ code: 'TOKEN_EXPIRED', status: 401 });
  });

  it('never appears in the logs or the metrics', async () => {
    const log: string[] = [];
    const { server, token, scoped, theirs } = await setup({ log });
    // Successes are logged at trace, refusals at debug: both are on here.
    await scoped('/v1/jobs');
    await scoped(`/v1/jobs/${theirs.id}`);
    await scoped('/v1/stats');
    const sse = await SseReader.open(`${server.url}/v1/events?token=${encodeURIComponent(token)}`);
    await sse.next('snapshot');
    await sse.close();
    const ws = await WsTestClient.connect(`${server.url.replace('http', 'ws')}/v1/stream`, token, 'query');
    await ws.close();
    const metrics = await (await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    await expect.poll(() => log.some((line) => line.includes('/v1/events'))).toBe(true);
    expect(log.some((line) => line.includes('SCOPE_FORBIDDEN'))).toBe(true);
    const payload = token.split('.')[1]!;
    for (const text of [...log, metrics]) {
      expect(text).not.toContain(token);
      expect(text).not.toContain(payload);
    }
  });
});
