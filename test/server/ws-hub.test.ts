import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RedisSharedLog } from '../../src/cluster/redis-shared-log.js';
import type { RunningServer, ServerOptions } from '../../src/server/server.js';
import type { Engine } from '../../src/streams/engine.js';
import { PollScheduler } from '../../src/streams/poll-scheduler.js';
import { tokenOf } from '../support/fake-provider.js';
import { RawWsPeer } from '../support/raw-ws-peer.js';
import { killAllRedis, redisForTests, startRedis, type RunningRedis } from '../support/redis-server.js';
import { startTestServer, TOKEN } from '../support/test-server.js';
import { WsTestClient } from '../support/ws-test-client.js';

/**
 * The hub runs on the engine of one process (MemoryStore) and on a cluster member (the Redis
 * shared log, with a local poll schedule): the same suite for both.
 */
const redisCheck = redisForTests();
let redis: RunningRedis | undefined;
afterAll(async () => {
  await redis?.close();
  await killAllRedis();
});
const BACKENDS: { name: string; skip: string | undefined; options: () => Promise<Partial<ServerOptions>> }[] = [
  { name: 'one process', skip: undefined, options: () => Promise.resolve({}) },
  {
    name: 'a cluster member on Redis',
    skip: redisCheck.skip,
    options: async () => {
      redis ??= await startRedis({ appendfsync: 'no' });
      const log = await RedisSharedLog.open({ url: redis.url, prefix: `hub:${randomUUID()}:`, changeLogSize: 1000 });
      return { cluster: { log, pollSchedule: (o) => new PollScheduler(o), close: () => log.close() } };
    },
  },
];
let backendOptions: () => Promise<Partial<ServerOptions>> = () => Promise.resolve({});

const servers: RunningServer[] = [];
const clients: WsTestClient[] = [];
const peers: RawWsPeer[] = [];
afterEach(async () => {
  for (const peer of peers.splice(0)) peer.destroy();
  for (const client of clients.splice(0)) client.ws.terminate();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function setup(options: Parameters<typeof startTestServer>[0] = {}) {
  const started = await startTestServer({ ...(await backendOptions()), ...options });
  servers.push(started.server);
  const open = async (token: string | null = TOKEN, via: 'header' | 'query' = 'header') => {
    const client = await WsTestClient.connect(started.wsUrl, token ?? undefined, via);
    clients.push(client);
    return client;
  };
  return { ...started, open };
}

const submit = (engine: Engine, kind = 'transcription') =>
  engine.submit({ provider: 'fake', kind, input: { type: 'url', url: 'https://example.com/a.wav' } });

/** A hand-made WebSocket peer that then never reads and never answers pings. */
async function rawPeer(url: string): Promise<RawWsPeer> {
  const peer = await RawWsPeer.open(url, TOKEN);
  peers.push(peer);
  peer.stopReading();
  return peer;
}

describe.each(BACKENDS)('WebSocket hub on $name', (backend) => {
  beforeAll(() => void (backendOptions = backend.options));
  beforeEach((ctx) => void (backend.skip !== undefined && ctx.skip(backend.skip)));
  it('refuses an upgrade without a valid token with 401 and no socket', async () => {
    const { open } = await setup();
    await expect(open(null)).rejects.toThrow('HTTP 401');
    await expect(open('wrong')).rejects.toThrow('HTTP 401');
    const viaQuery = await open(TOKEN, 'query');
    expect((await viaQuery.next('hello')).type).toBe('hello');
  });

  it('says hello, answers a subscription with a snapshot, then changes in seq order', async () => {
    const { open, server, provider } = await setup();
    const before = await submit(server.engine);
    const client = await open();
    const hello = await client.next('hello');
    expect(hello).toMatchObject({ epoch: server.engine.epoch, seq: server.engine.seq });
    client.send({ type: 'subscribe', sub: 'all' });
    const snapshot = await client.next('snapshot');
    expect(snapshot).toMatchObject({ sub: 'all', reason: 'subscribe', more: false, seq: server.engine.seq });
    expect(snapshot.jobs.map((j) => j.id)).toEqual([before.id]);

    const token = tokenOf(provider.created[0]!.webhookUrl);
    for (const progress of [0.2, 0.4, 0.6]) {
      await server.engine.ingestWebhook({ provider: 'fake', token, body: { id: 'ext-1', status: 'WORKING', progress } });
    }
    await server.engine.ingestWebhook({ provider: 'fake', token, body: { id: 'ext-1', status: 'DONE', result: 'r' } });
    await client.next('change', (m) => m.changes.some((c) => c.job.status === 'succeeded'));
    const seqs = client.changes('all').map((c) => c.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(seqs[0]).toBe(snapshot.seq + 1);
    expect(client.changes('all').map((c) => c.job.version)).toEqual([3, 4, 5, 6]);
  });

  it('filters by provider, kind, status and ids', async () => {
    const { open, server } = await setup();
    const client = await open();
    client.send({ type: 'subscribe', sub: 'sep', filter: { kinds: ['separation'] } });
    client.send({ type: 'subscribe', sub: 'none', filter: { providers: ['other'] } });
    await client.next('snapshot', (m) => m.sub === 'none');
    await submit(server.engine, 'transcription');
    const sep = await submit(server.engine, 'separation');
    const got = await client.next('change', (m) => m.sub === 'sep' && m.changes.at(-1)?.job.version === 2);
    expect(got.changes.every((c) => c.job.id === sep.id)).toBe(true);
    expect(client.changes('none')).toEqual([]);
  });

  it('answers bad messages with error and keeps the connection', async () => {
    const { open } = await setup({ ws: { maxSubscriptions: 2, maxMessageBytes: 200 } });
    const client = await open();
    const cases: [unknown, string, RegExp][] = [
      ['{oops', 'BAD_MESSAGE', /not valid JSON/],
      [{ type: 'dance' }, 'BAD_MESSAGE', /type/],
      [{ type: 'subscribe', sub: 'x', filter: { statuses: ['exploded'] } }, 'BAD_MESSAGE', /filter\.statuses\[0\]/],
      [{ type: 'unsubscribe', sub: 'ghost' }, 'UNKNOWN_SUBSCRIPTION', /ghost/],
      [{ type: 'ping', id: 'x'.repeat(300) }, 'MESSAGE_TOO_LARGE', /200 bytes/],
    ];
    for (const [message, code, text] of cases) {
      client.send(message);
      const error = await client.next('error');
      expect(error.code).toBe(code);
      expect(error.message).toMatch(text);
    }
    client.send({ type: 'subscribe', sub: 'a' });
    client.send({ type: 'subscribe', sub: 'a' });
    expect(await client.next('error')).toMatchObject({ code: 'DUPLICATE_SUBSCRIPTION', sub: 'a' });
    client.send({ type: 'subscribe', sub: 'b' });
    client.send({ type: 'subscribe', sub: 'c' });
    expect(await client.next('error')).toMatchObject({ code: 'TOO_MANY_SUBSCRIPTIONS', sub: 'c' });
    client.send({ type: 'ping', id: 'still-here' });
    expect(await client.next('pong')).toEqual({ type: 'pong', id: 'still-here' });
  });

  it('resumes a reconnecting client with exactly the changes it missed', async () => {
    const { open, server } = await setup();
    const first = await open();
    first.send({ type: 'subscribe', sub: 's' });
    await first.next('snapshot');
    const a = await submit(server.engine);
    const last = await first.next('change', (m) => m.changes.some((c) => c.job.id === a.id && c.job.version === 2));
    const resumeAt = { epoch: last.epoch, seq: last.changes.at(-1)!.seq };
    await first.close();

    const missedJob = await submit(server.engine);
    await server.engine.cancel(a.id);
    const second = await open();
    second.send({ type: 'subscribe', sub: 's', resume: resumeAt });
    expect(await second.next('resumed')).toEqual({ type: 'resumed', sub: 's', epoch: resumeAt.epoch, seq: resumeAt.seq });
    await second.next('change', (m) => m.changes.some((c) => c.job.status === 'canceled'));
    const replayed = second.changes('s');
    expect(replayed.map((c) => c.seq)).toEqual(server.engine.changesSince(resumeAt.epoch, resumeAt.seq)!.map((c) => c.seq));
    expect(replayed.map((c) => c.job.id)).toEqual([missedJob.id, missedJob.id, a.id]);
  });

  it('sends a fresh snapshot flagged resume-unavailable when it cannot resume', async () => {
    const { open, server } = await setup();
    await submit(server.engine);
    const client = await open();
    client.send({ type: 'subscribe', sub: 's', resume: { epoch: 'an-old-epoch', seq: 1 } });
    const snapshot = await client.next('snapshot');
    expect(snapshot).toMatchObject({ reason: 'resume-unavailable', epoch: server.engine.epoch });
    expect(snapshot.jobs).toHaveLength(1);
  });

  it('resumes by state when the missed changes are no longer kept: only the jobs that changed since (was: every job again)', async () => {
    const { open, server } = await setup({ changeLogSize: 3 });
    const jobs = [];
    for (let i = 0; i < 5; i++) jobs.push(await submit(server.engine));
    const at = { epoch: server.engine.epoch, seq: server.engine.seq };
    // More changes than the log keeps, to two of the five jobs.
    for (const id of [jobs[1]!.id, jobs[3]!.id]) await server.engine.cancel(id);
    await submit(server.engine, 'separation');
    expect(server.engine.changesSince(at.epoch, at.seq)).toBeUndefined();

    const client = await open();
    client.send({ type: 'subscribe', sub: 's', filter: { kinds: ['transcription'] }, resume: at });
    const snapshot = await client.next('snapshot');
    expect(snapshot).toMatchObject({ reason: 'resume-by-state', epoch: at.epoch, seq: server.engine.seq, more: false });
    expect(snapshot.jobs.map((j) => [j.id, j.status]).sort()).toEqual(
      [
        [jobs[1]!.id, 'canceled'],
        [jobs[3]!.id, 'canceled'],
      ].sort(),
    );
  });

  it('resumes by the versions a client holds, also from another epoch, and names the jobs it does not have', async () => {
    const { open, server } = await setup();
    const a = await submit(server.engine);
    const b = await submit(server.engine);
    await server.engine.cancel(b.id);
    const versionOf = (id: string) => server.engine.snapshot().jobs.find((j) => j.id === id)!.version;
    const client = await open();
    client.send({
      type: 'subscribe',
      sub: 's',
      resume: { epoch: 'an-old-epoch', seq: 1, versions: { [a.id]: versionOf(a.id), [b.id]: 1, job_ghost: 4 } },
    });
    const snapshot = await client.next('snapshot');
    expect(snapshot).toMatchObject({ reason: 'resume-by-state', gone: ['job_ghost'] });
    expect(snapshot.jobs.map((j) => [j.id, j.version])).toEqual([[b.id, versionOf(b.id)]]);
    // Versions are checked like any other field.
    client.send({ type: 'subscribe', sub: 't', resume: { epoch: 'e', seq: 1, versions: { [a.id]: -1 } } });
    expect(await client.next('error')).toMatchObject({ code: 'BAD_MESSAGE' });
  });

  it('splits a large snapshot into pages', async () => {
    const { open, server } = await setup({ ws: { snapshotPageSize: 2 } });
    for (let i = 0; i < 5; i++) await submit(server.engine);
    const client = await open();
    client.send({ type: 'subscribe', sub: 's' });
    const pages = [await client.next('snapshot'), await client.next('snapshot'), await client.next('snapshot')];
    expect(pages.map((p) => [p.jobs.length, p.more])).toEqual([
      [2, true],
      [2, true],
      [1, false],
    ]);
  });

  it('drops a client that stops reading, without holding up the others', async () => {
    const { open, server, provider } = await setup({ ws: { lagBytes: 16 * 1024, dropBytes: 32 * 1024 * 1024, lagTimeoutMs: 300, heartbeatMs: 60_000 } });
    const reader = await open();
    reader.send({ type: 'subscribe', sub: 's' });
    await reader.next('snapshot');
    const stalled = await rawPeer(`${server.url}/v1/stream`);
    stalled.sendText('{"type":"subscribe","sub":"s"}');
    await expect.poll(() => server.hub.stats.subscriptions).toBe(2);

    // Every change of this job carries ~64 KiB of metadata. Loopback socket buffers hold a few
    // MiB, so keep changing it until the stalled peer lags and, having lagged for lagTimeoutMs,
    // is dropped: at most 3000 changes or 10 s.
    const job = await server.engine.submit({
      provider: 'fake',
      kind: 'transcription',
      input: { type: 'url', url: 'https://example.com/a.wav' },
      metadata: { notes: 'x'.repeat(64 * 1024) },
    });
    const token = tokenOf(provider.created.at(-1)!.webhookUrl);
    let step = 0;
    const deadline = Date.now() + 10_000;
    while (step < 3000 && Date.now() < deadline && server.hub.stats.droppedSlowClients === 0) {
      step += 1;
      await server.engine.ingestWebhook({ provider: 'fake', token, body: { id: job.externalId, status: 'WORKING', progress: step / 3000 } });
      // Deliveries arrive through I/O; without this the in-process reader could not read either.
      await new Promise((resolve) => setImmediate(resolve));
    }
    await server.engine.ingestWebhook({ provider: 'fake', token, body: { id: job.externalId, status: 'DONE', result: 'ok' } });
    // The reader kept up and saw the job finish; versions only rose.
    await reader.next('change', (m) => m.changes.some((c) => c.job.status === 'succeeded'), 20_000);
    const versions = reader.changes('s').map((c) => c.job.version);
    expect(versions).toEqual([...versions].sort((x, y) => x - y));
    // A paused socket never reports its own close, so watch the server side.
    await expect.poll(() => server.hub.stats.droppedSlowClients, { timeout: 5000 }).toBe(1);
    expect(server.hub.clientCount).toBe(1);
  });

  it('terminates a peer that stops answering pings', async () => {
    const { server } = await setup({ ws: { heartbeatMs: 40 } });
    await rawPeer(`${server.url}/v1/stream`);
    expect(server.hub.clientCount).toBe(1);
    await expect.poll(() => server.hub.stats.deadPeersTerminated).toBe(1);
    expect(server.hub.clientCount).toBe(0);
  });

  it('refuses connections past the limit with 503', async () => {
    const { open } = await setup({ ws: { maxConnections: 1 } });
    await open();
    await expect(open()).rejects.toThrow('HTTP 503');
  });

  it('closes clients with 1001 when the server shuts down', async () => {
    const { open, server } = await setup();
    const client = await open();
    await server.close();
    expect((await client.closed).code).toBe(1001);
  });
});
