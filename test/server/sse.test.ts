import { connect as tcpConnect } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/server/logger.js';
import type { RunningServer } from '../../src/server/server.js';
import { SseChange, SseSnapshot } from '../../src/server/sse-protocol.js';
import type { JobSnapshot } from '../../src/streams/job-snapshot.js';
import { tokenOf, type FakeProvider } from '../support/fake-provider.js';
import { startTestServer, TOKEN } from '../support/test-server.js';
import { SseReader } from './sse-reader.js';

const servers: RunningServer[] = [];
const readers: SseReader[] = [];
afterEach(async () => {
  await Promise.all(readers.splice(0).map((reader) => reader.close()));
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function setup(options: Parameters<typeof startTestServer>[0] = {}) {
  const started = await startTestServer({ sse: { heartbeatMs: 60_000 }, ...options });
  servers.push(started.server);
  const { server, provider } = started;
  const open = async (path: string, headers: Record<string, string> = {}) => {
    const reader = await SseReader.open(`${server.url}${path}`, { authorization: `Bearer ${TOKEN}`, ...headers });
    readers.push(reader);
    return reader;
  };
  const submit = (kind = 'transcription', metadata: Record<string, string> = {}) =>
    server.engine.submit({ provider: 'fake', kind, input: { type: 'url', url: 'https://example.com/a.wav' }, metadata });
  return { ...started, open, submit, hook: hookOf(server, provider) };
}

/** Delivers a fake-provider webhook for a job (the n-th created at the provider). */
function hookOf(server: RunningServer, provider: FakeProvider) {
  return (job: JobSnapshot, status: 'WORKING' | 'DONE', extra: object = {}) => {
    const created = provider.created.find((request) => request.webhookUrl?.includes(job.id));
    return server.engine.ingestWebhook({ provider: 'fake', token: tokenOf(created?.webhookUrl), body: { id: job.externalId, status, ...extra } });
  };
}

const changesOf = (reader: SseReader) => reader.all<unknown>('change').map((data) => SseChange.parse(data));

describe('GET /v1/events', () => {
  it('sends the matching jobs, then every change with <epoch>:<seq> as its id, with headers that keep proxies from buffering', async () => {
    const { server, open, submit, hook } = await setup();
    const first = await submit();
    const sse = await open('/v1/events');
    expect(sse.status).toBe(200);
    expect(sse.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(sse.headers['cache-control']).toContain('no-cache');
    expect(sse.headers['x-accel-buffering']).toBe('no');
    expect(sse.headers['access-control-allow-origin']).toBe('*');
    const snapshotEvent = await sse.next('snapshot');
    const snapshot = SseSnapshot.parse(JSON.parse(snapshotEvent.data));
    const { epoch } = server.engine;
    expect(snapshot).toMatchObject({ epoch, reason: 'subscribe', more: false, seq: server.engine.seq });
    expect(snapshot.jobs.map((job) => job.id)).toEqual([first.id]);
    expect(snapshotEvent.lastEventId).toBe(`${epoch}:${snapshot.seq}`);

    const second = await submit();
    await hook(first, 'WORKING', { progress: 0.5 });
    await hook(first, 'DONE', { result: 'x' });
    await sse.until(() => changesOf(sse).some((c) => c.job.id === first.id && c.job.status === 'succeeded'), 'the first job to succeed');
    const changes = changesOf(sse);
    // Every change after the snapshot, in order, each once, each event's id naming its seq.
    const expected = [...server.engine.history(first.id), ...server.engine.history(second.id)]
      .filter((c) => c.seq > snapshot.seq)
      .sort((a, b) => a.seq - b.seq)
      .map((c) => [c.seq, c.job.id, c.job.version]);
    expect(changes.map((c) => [c.seq, c.job.id, c.job.version])).toEqual(expected);
    expect(sse.events.filter((e) => e.event === 'change').map((e) => e.lastEventId)).toEqual(changes.map((c) => `${epoch}:${c.seq}`));
  });

  it('filters by ids, providers, kinds and statuses (repeated or comma-separated), and says which value is wrong', async () => {
    const { open, submit, hook } = await setup();
    const transcription = await submit('transcription');
    const separation = await submit('separation');
    const byKind = await open('/v1/events?kinds=separation&providers=fake,other');
    expect(SseSnapshot.parse(JSON.parse((await byKind.next('snapshot')).data)).jobs.map((job) => job.id)).toEqual([separation.id]);
    const byIds = await open(`/v1/events?ids=${transcription.id}&ids=job_nothing`);
    expect(SseSnapshot.parse(JSON.parse((await byIds.next('snapshot')).data)).jobs.map((job) => job.id)).toEqual([transcription.id]);
    const running = await open('/v1/events?statuses=running');
    expect(SseSnapshot.parse(JSON.parse((await running.next('snapshot')).data)).jobs).toEqual([]);
    await hook(transcription, 'WORKING');
    await hook(separation, 'WORKING');
    await byKind.next('change');
    await running.until(() => changesOf(running).length === 2, 'both jobs running');
    await hook(transcription, 'DONE');
    await byIds.until(() => changesOf(byIds).some((c) => c.job.status === 'succeeded'), 'the transcription to succeed');
    expect(new Set(changesOf(byKind).map((c) => c.job.id))).toEqual(new Set([separation.id]));
    expect(new Set(changesOf(byIds).map((c) => c.job.id))).toEqual(new Set([transcription.id]));
    // Leaving a listed status is a change too, as on the WebSocket.
    await running.until(() => changesOf(running).some((c) => c.job.status === 'succeeded'), 'the transcription leaving running');

    const wrong = await open('/v1/events?statuses=sleeping');
    expect(wrong.status).toBe(400);
    expect(JSON.parse(await wrong.text())).toMatchObject({ error: { code: 'INVALID_REQUEST', issues: [{ field: 'statuses.0' }] } });
  });

  it('resumes from Last-Event-ID (header or ?lastEventId=) with exactly the changes it missed, and starts over for another epoch', async () => {
    const { server, open, submit, hook } = await setup();
    const job = await submit();
    const sse = await open('/v1/events');
    await sse.next('snapshot');
    await hook(job, 'WORKING', { progress: 0.1 });
    await sse.next('change');
    const lastEventId = sse.events.at(-1)!.lastEventId;
    await sse.close();

    // Missed while away: progress on the job, and a new job.
    await hook(job, 'WORKING', { progress: 0.6 });
    const other = await submit();
    await hook(job, 'DONE', { result: 'r' });
    const [, at] = lastEventId.split(':');
    const missed = [...server.engine.history(job.id), ...server.engine.history(other.id)].filter((c) => c.seq > Number(at)).sort((a, b) => a.seq - b.seq);
    expect(missed.length).toBeGreaterThanOrEqual(3);

    for (const resume of [{ headers: { 'last-event-id': lastEventId }, query: '' }, { headers: {}, query: `?lastEventId=${encodeURIComponent(lastEventId)}` }]) {
      const again = await open(`/v1/events${resume.query}`, resume.headers);
      expect(JSON.parse((await again.next('resumed')).data)).toEqual({ epoch: server.engine.epoch, seq: Number(at) });
      await again.until(() => changesOf(again).length === missed.length, 'every missed change');
      expect(changesOf(again).map((c) => c.seq)).toEqual(missed.map((c) => c.seq));
      expect(again.events.some((e) => e.event === 'snapshot')).toBe(false);
    }

    const elsewhere = await open('/v1/events', { 'last-event-id': 'another-epoch:12' });
    const fresh = SseSnapshot.parse(JSON.parse((await elsewhere.next('snapshot')).data));
    expect(fresh.reason).toBe('resume-unavailable');
    expect(fresh.jobs.map((j) => j.id).sort()).toEqual([job.id, other.id].sort());
  });

  it('sends a comment line every heartbeat interval', async () => {
    const { open } = await setup({ sse: { heartbeatMs: 100 } });
    const sse = await open('/v1/events');
    await sse.next('snapshot');
    await sse.until(() => sse.comments.length >= 2, 'two heartbeats');
    expect(sse.comments.slice(0, 2)).toEqual(['keep-alive', 'keep-alive']);
  });

  it('refuses clearly: 401 without a token, 406 for another Accept, 400 for a Last-Event-ID it never sent', async () => {
    const { server, open } = await setup();
    const anonymous = await SseReader.open(`${server.url}/v1/events`);
    readers.push(anonymous);
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(await anonymous.text())).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    const json = await open('/v1/events', { accept: 'application/json' });
    expect(json.status).toBe(406);
    expect(JSON.parse(await json.text())).toMatchObject({ error: { code: 'NOT_ACCEPTABLE' } });
    const bogus = await open('/v1/events', { 'last-event-id': 'not an id' });
    expect(bogus.status).toBe(400);
    expect(JSON.parse(await bogus.text())).toMatchObject({ error: { code: 'INVALID_REQUEST', issues: [{ field: 'Last-Event-ID' }] } });
    // Any Accept a curl or a browser sends is fine.
    const curl = await open('/v1/events', { accept: '*/*' });
    expect(curl.status).toBe(200);
    const head = await fetch(`${server.url}/v1/events`, { method: 'HEAD', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(server.sse.streamCount).toBe(1); // the curl one: HEAD opened none
    const unknown = await open('/v1/jobs/job_nothing/events');
    expect(unknown.status).toBe(404);
    expect(JSON.parse(await unknown.text())).toMatchObject({ error: { code: 'UNKNOWN_JOB' } });
  });

  it('ends every stream when the server shuts down (clients reconnect with Last-Event-ID)', async () => {
    const { server, open } = await setup();
    const sse = await open('/v1/events');
    await sse.next('snapshot');
    await server.close();
    await sse.ended;
    expect(sse.events.some((e) => e.event === 'end')).toBe(false);
  });
});

describe('GET /v1/jobs/:id/events', () => {
  it('follows one job and ends once it has settled; a reconnect then gets 204 (EventSource stops)', async () => {
    const { open, submit, hook } = await setup();
    const job = await submit();
    const other = await submit();
    const sse = await open(`/v1/jobs/${job.id}/events`);
    expect(SseSnapshot.parse(JSON.parse((await sse.next('snapshot')).data)).jobs.map((j) => j.id)).toEqual([job.id]);
    await hook(other, 'WORKING');
    await hook(job, 'WORKING');
    await hook(job, 'DONE', { result: 'r' });
    expect(JSON.parse((await sse.next('end')).data)).toEqual({ reason: 'settled' });
    await sse.ended;
    expect(changesOf(sse).map((c) => c.job.id).every((id) => id === job.id)).toBe(true);
    expect(changesOf(sse).at(-1)?.job.status).toBe('succeeded');
    const again = await open(`/v1/jobs/${job.id}/events`, { 'last-event-id': sse.events.at(-1)!.lastEventId });
    expect(again.status).toBe(204);
    // Without Last-Event-ID: the settled job, then the end.
    const late = await open(`/v1/jobs/${job.id}/events`);
    expect(SseSnapshot.parse(JSON.parse((await late.next('snapshot')).data)).jobs[0]?.status).toBe('succeeded');
    await late.next('end');
    await late.ended;
  });
});

describe('slow readers', () => {
  /** Changes of about 100 KiB each (the job's metadata rides along with every version). */
  async function flood(setupResult: Awaited<ReturnType<typeof setup>>, jobs: number, steps: number, options: { letReadersRead?: boolean } = {}) {
    const { submit, hook } = setupResult;
    const big = { blob: 'x'.repeat(100 * 1024) };
    const submitted: JobSnapshot[] = [];
    // Webhooks on a MemoryStore settle in microtasks: without a turn of the event loop between
    // them no socket is written or read, and every reader falls behind.
    const turn = () => (options.letReadersRead === true ? new Promise<void>((resolve) => setImmediate(resolve)) : Promise.resolve());
    for (let i = 0; i < jobs; i++) {
      submitted.push(await submit('transcription', big));
      await turn();
    }
    for (let step = 1; step <= steps; step++) {
      for (const job of submitted) {
        await hook(job, 'WORKING', { progress: step / (steps + 1) });
        await turn();
      }
    }
    for (const job of submitted) {
      await hook(job, 'DONE', { result: 'r' });
      await turn();
    }
    return submitted;
  }

  it('a reader that falls behind gets the latest state of each job, in order, and misses no final state', async () => {
    const context = await setup({ ws: { lagBytes: 64 * 1024, dropBytes: 1024 * 1024 * 1024, lagTimeoutMs: 600_000 }, sse: { heartbeatMs: 50 } });
    const sse = await context.open('/v1/events');
    await sse.next('snapshot');
    sse.response.pause();
    const jobs = await flood(context, 4, 60);
    sse.response.resume();
    const final = new Map(jobs.map((job) => [job.id, context.server.engine.get(job.id)!.version]));
    await sse.until(() => [...final].every(([id, version]) => changesOf(sse).some((c) => c.job.id === id && c.job.version === version)), 'every final version', 30_000);
    const changes = changesOf(sse);
    const seqs = changes.map((c) => c.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    // Versions were skipped while it lagged: fewer events than changes.
    const total = jobs.reduce((n, job) => n + context.server.engine.history(job.id).length, 0);
    expect(changes.length).toBeLessThan(total);
    expect(context.server.sse.stats.droppedSlowClients).toBe(0);
  }, 30_000);

  it('a reader that stops reading is cut off at the drop limit, without holding up the others', async () => {
    const log: string[] = [];
    let dropped: () => void = () => undefined;
    const droppedLine = new Promise<void>((resolve) => (dropped = resolve));
    const logger = createLogger({
      level: 'warn',
      destination: new Writable({
        write: (chunk: Buffer, _encoding, done) => {
          log.push(chunk.toString('utf8'));
          if (chunk.toString('utf8').includes('event stream client dropped')) dropped();
          done();
        },
      }),
    });
    const context = await setup({ ws: { lagBytes: 256 * 1024, dropBytes: 1024 * 1024, lagTimeoutMs: 600_000 }, logger });
    const reader = await context.open('/v1/events');
    await reader.next('snapshot');
    // A peer that sends its request and then never reads a byte.
    const stalled = tcpConnect(context.server.port, '127.0.0.1');
    stalled.write(`GET /v1/events HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${TOKEN}\r\nAccept: text/event-stream\r\n\r\n`);
    // Its stream is open once the answer starts; from then on it reads nothing.
    await new Promise<void>((resolve) =>
      stalled.once('data', () => {
        stalled.pause();
        resolve();
      }),
    );
    expect(context.server.sse.streamCount).toBe(2);
    // Twenty jobs: what a stalled reader owes (the latest state of each, 100 KiB) passes the drop limit.
    const jobs = await flood(context, 20, 8, { letReadersRead: true });
    await droppedLine;
    expect(context.server.sse.stats.droppedSlowClients).toBe(1);
    expect(context.server.sse.streamCount).toBe(1);
    expect(JSON.parse(log.find((line) => line.includes('event stream client dropped'))!)).toMatchObject({ level: 'warn', reason: 'slow-consumer', address: '127.0.0.1' });
    // The reader that kept reading stays connected and gets every job's final state, in order.
    const final = new Map(jobs.map((job) => [job.id, context.server.engine.get(job.id)!.version]));
    await reader.until(() => [...final].every(([id, version]) => changesOf(reader).some((c) => c.job.id === id && c.job.version === version)), 'every final version', 30_000);
    const seqs = changesOf(reader).map((c) => c.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(context.server.sse.streamCount).toBe(1);
    stalled.destroy();
  }, 30_000);
});
