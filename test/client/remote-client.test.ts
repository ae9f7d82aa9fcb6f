import { filter, firstValueFrom, ReplaySubject, share, take, toArray } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type RemoteClient } from '../../src/client/node.js';
import type { ConnectionState } from '../../src/client/stream-connection.js';
import { tokenOf } from '../support/fake-provider.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { startTestServer, TOKEN } from '../support/test-server.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function setup(options: Parameters<typeof startTestServer>[0] = {}) {
  const started = await startTestServer(options);
  cleanup.push(() => started.server.close());
  const open = async (url = started.server.url, options: { heartbeatMs?: number } = {}): Promise<RemoteClient> => {
    const client = await connect({ url, token: TOKEN, reconnect: { initialMs: 20, maxMs: 100 }, ...options });
    cleanup.push(() => client.close());
    return client;
  };
  const submit = () => started.server.engine.submit({ provider: 'fake', kind: 'transcription', input: { type: 'url', url: 'https://example.com/a.wav' } });
  const hook = (index: number, body: object) =>
    started.server.engine.ingestWebhook({ provider: 'fake', token: tokenOf(started.provider.created[index]!.webhookUrl), body });
  return { ...started, open, submit, hook };
}

const reached = (client: RemoteClient, wanted: ConnectionState) => firstValueFrom(client.state$.pipe(filter((s) => s === wanted)));

describe('remote client', () => {
  it('fails fast with a typed error for a wrong token, and for an unreachable server', async () => {
    const { server } = await setup();
    await expect(connect({ url: server.url, token: 'wrong-token-wrong-token' })).rejects.toMatchObject({ name: 'ClientError', code: 'UNAUTHORIZED', status: 401 });
    await expect(connect({ url: 'http://127.0.0.1:1', token: TOKEN })).rejects.toMatchObject({ code: 'CONNECTION_FAILED' });
  });

  it('follows one job from its current snapshot to the settled one', async () => {
    const { open, submit, hook } = await setup();
    const client = await open();
    const job = await submit();
    const versions: number[] = [];
    const watched = client.job$(job.id).pipe(share({ connector: () => new ReplaySubject(10) }));
    const seen = firstValueFrom(watched.pipe(toArray()));
    // Drive the job only once the current snapshot has arrived.
    await firstValueFrom(watched);
    await hook(0, { id: 'ext-1', status: 'WORKING', progress: 0.5 });
    await hook(0, { id: 'ext-1', status: 'DONE', result: { notes: 1 } });
    versions.push(...(await seen).map((j) => j.version));
    expect(versions).toEqual([2, 3, 4]);
    expect((await seen).map((j) => [j.version, j.status])).toEqual([
      [2, 'queued'],
      [3, 'running'],
      [4, 'succeeded'],
    ]);
    // A late subscriber gets the settled job at once, and completes.
    expect((await firstValueFrom(client.job$(job.id).pipe(toArray()))).map((j) => j.version)).toEqual([4]);
    expect(await client.waitFor(job.id, { timeoutMs: 1000 })).toMatchObject({ status: 'succeeded' });
  });

  it('errors job$ and waitFor with UNKNOWN_JOB, get resolves undefined, waitFor times out', async () => {
    const { open, submit } = await setup();
    const client = await open();
    await expect(firstValueFrom(client.job$('job_nope'))).rejects.toMatchObject({ code: 'UNKNOWN_JOB' });
    await expect(client.waitFor('job_nope')).rejects.toMatchObject({ code: 'UNKNOWN_JOB' });
    expect(await client.get('job_nope')).toBeUndefined();
    const job = await submit();
    await expect(client.waitFor(job.id, { timeoutMs: 50 })).rejects.toMatchObject({ code: 'WAIT_TIMEOUT' });
    await expect(client.cancel('job_nope')).rejects.toMatchObject({ code: 'UNKNOWN_JOB', status: 404 });
  });

  it('shares one server subscription per filter and ends it with the last observer', async () => {
    const { open, server, submit } = await setup();
    const client = await open();
    await reached(client, 'open');
    const a = client.changes$({ kinds: ['transcription'] }).subscribe();
    const b = client.changes$({ kinds: ['transcription'] }).subscribe();
    await expect.poll(() => server.hub.stats.subscriptions).toBe(1);
    const first = firstValueFrom(client.changes$({ kinds: ['transcription'] }).pipe(take(1)));
    await submit();
    expect((await first).job.status).toBe('queued');
    a.unsubscribe();
    b.unsubscribe();
    await expect.poll(() => server.hub.stats.subscriptions).toBe(0);
  });

  it('submits, tracks, lists and cancels over REST, uploading a Blob as multipart', async () => {
    const { open, provider } = await setup();
    const client = await open();
    const job = await client.submit({ provider: 'fake', kind: 'transcription', file: new Blob([new Uint8Array(64)]), filename: 'a.wav', options: { model: 'x' } });
    expect(job).toMatchObject({ options: { model: 'x' } });
    expect(provider.created[0]?.input).toMatchObject({ type: 'file', filename: 'a.wav' });
    await expect(client.submit({ provider: 'fake', kind: 'transcription', input: { type: 'url', url: 'bad' } })).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
      issues: [{ field: 'input.url' }],
    });
    expect((await client.list({ kinds: ['transcription'] })).jobs.map((j) => j.id)).toEqual([job.id]);
    expect((await client.cancel(job.id)).status).toBe('canceled');
  });

  it('reconnects through forced disconnects and misses nothing, seeing each version once', async () => {
    const { open, server, submit, hook } = await setup();
    const proxy: TcpProxy = await startTcpProxy(server.port);
    cleanup.push(() => proxy.close());
    const direct = await open();
    const flaky = await open(`http://127.0.0.1:${proxy.port}`);
    const states: ConnectionState[] = [];
    flaky.state$.subscribe((s) => states.push(s));
    const jobs = [await submit(), await submit()];
    const all = (client: RemoteClient) => client.changes$().pipe(take(2 * 6)); // 2 jobs × versions 3..8
    const directSeen = firstValueFrom(all(direct).pipe(toArray()));
    const flakySeen = firstValueFrom(all(flaky).pipe(toArray()));
    await Promise.all([reached(direct, 'open'), reached(flaky, 'open')]);
    for (let step = 1; step <= 6; step++) {
      for (let i = 0; i < jobs.length; i++) {
        await hook(i, step < 6 ? { id: `ext-${i + 1}`, status: 'WORKING', progress: step / 10 } : { id: `ext-${i + 1}`, status: 'DONE', result: 'r' });
      }
      if (step % 2 === 0) {
        // Cut the flaky client's socket; it must reconnect and resume before the next step.
        expect(proxy.cutAll()).toBeGreaterThan(0);
        await reached(flaky, 'resuming');
        await reached(flaky, 'open');
      }
    }
    const key = (changes: { job: { id: string; version: number } }[]) => changes.map((c) => `${c.job.id}@${c.job.version}`).sort();
    expect(key(await flakySeen)).toEqual(key(await directSeen));
    expect(new Set(key(await flakySeen)).size).toBe(12);
    expect(states.filter((s) => s === 'resuming').length).toBeGreaterThanOrEqual(3);
  });

  it('after an absence longer than the change log, is sent only the jobs that changed (resume by state), and still misses nothing', async () => {
    const { open, server, submit, hook } = await setup({ changeLogSize: 2 });
    const proxy: TcpProxy = await startTcpProxy(server.port);
    cleanup.push(() => proxy.close());
    const away = await open(`http://127.0.0.1:${proxy.port}`);
    const jobs = [await submit(), await submit(), await submit()];
    const set$ = away.jobs$().pipe(share({ connector: () => new ReplaySubject(1) }));
    const held = set$.subscribe();
    cleanup.push(() => Promise.resolve(held.unsubscribe()));
    await firstValueFrom(set$.pipe(filter((set) => jobs.every((job) => set.has(job.id)))));
    proxy.refusing = true;
    expect(proxy.cutAll()).toBeGreaterThan(0);
    await reached(away, 'resuming');
    // More changes than the log keeps, all of the first job.
    for (let step = 1; step <= 4; step++) await hook(0, { id: 'ext-1', status: 'WORKING', progress: step / 10 });
    const final = server.engine.snapshot().jobs.find((job) => job.id === jobs[0]!.id)!;
    proxy.takeDownstream();
    proxy.refusing = false;
    await reached(away, 'open');
    const after = await firstValueFrom(set$.pipe(filter((set) => set.get(final.id)?.version === final.version)));
    const onServer = new Map(server.engine.snapshot().jobs.map((job) => [job.id, job.version]));
    // Nothing missed: the client holds every job at the server's version.
    expect(jobs.map((job) => after.get(job.id)?.version)).toEqual(jobs.map((job) => onServer.get(job.id)));
    const wire = proxy.takeDownstream();
    expect(wire).toContain('"reason":"resume-by-state"');
    expect(wire).toContain(jobs[0]!.id);
    expect(wire).not.toContain(jobs[1]!.id);
    expect(wire).not.toContain(jobs[2]!.id);
  });

  it('reached$ tells each job once when it enters a status; settled$ once when it settles', async () => {
    const { open, submit, hook } = await setup();
    const client = await open();
    const reached: string[] = [];
    const settled: string[] = [];
    const job = await submit();
    client.reached$('running').subscribe((job) => reached.push(`${job.id}@${job.version}`));
    const done = firstValueFrom(client.settled$().pipe(take(1)));
    // jobs$ of the same filters shares their server subscriptions: its first set means they are live.
    await Promise.all([firstValueFrom(client.jobs$({ statuses: ['running'] })), firstValueFrom(client.jobs$())]);
    for (const progress of [0.2, 0.4, 0.6]) await hook(0, { id: 'ext-1', status: 'WORKING', progress });
    await hook(0, { id: 'ext-1', status: 'DONE', result: 'r' });
    settled.push((await done).status);
    // Three running versions, one entry into running: the first.
    expect(reached).toEqual([`${job.id}@3`]);
    expect(settled).toEqual(['succeeded']);
  });

  it('closes: changes$ completes, unsettled job$ and waitFor error with CLIENT_CLOSED, the state ends closed', async () => {
    const { open, submit } = await setup();
    const client = await open();
    const job = await submit();
    const watching = firstValueFrom(client.job$(job.id).pipe(toArray()));
    const waiting = client.waitFor(job.id);
    const changes = firstValueFrom(client.changes$().pipe(toArray()));
    const states = firstValueFrom(client.state$.pipe(toArray()));
    await firstValueFrom(client.job$(job.id));
    await client.close();
    await expect(watching).rejects.toMatchObject({ code: 'CLIENT_CLOSED' });
    await expect(waiting).rejects.toMatchObject({ code: 'CLIENT_CLOSED' });
    expect(await changes).toEqual([]);
    expect((await states).at(-1)).toBe('closed');
    await expect(firstValueFrom(client.job$(job.id))).rejects.toMatchObject({ code: 'CLIENT_CLOSED' });
  });
});

describe('remote client live job set', () => {
  it('starts with the current set, follows changes, and drops jobs that leave the filter', async () => {
    const { open, submit, hook } = await setup();
    const client = await open();
    const done = await submit();
    await hook(0, { id: 'ext-1', status: 'DONE', result: 'r' });
    const active = await submit();
    const sets: string[][] = [];
    const subscription = client.jobs$({ statuses: ['queued', 'running'] }).subscribe((jobs) => sets.push([...jobs.values()].map((j) => `${j.id === active.id ? 'active' : 'other'}:${j.status}`)));
    await expect.poll(() => sets.length).toBe(1);
    expect(sets[0]).toEqual(['active:queued']);
    expect(done.id).not.toBe(active.id);
    await hook(1, { id: 'ext-2', status: 'WORKING' });
    await expect.poll(() => sets.at(-1)).toEqual(['active:running']);
    await hook(1, { id: 'ext-2', status: 'DONE', result: 'r' });
    await expect.poll(() => sets.at(-1)).toEqual([]);
    subscription.unsubscribe();
  });
});

describe('remote client connection state', () => {
  it('goes connecting → open on the first connection, and through resuming only after a loss', async () => {
    const { server } = await setup();
    const proxy = await startTcpProxy(server.port);
    cleanup.push(() => proxy.close());
    const client = await connect({ url: `http://127.0.0.1:${proxy.port}`, token: TOKEN, reconnect: { initialMs: 20, maxMs: 100 } });
    cleanup.push(() => client.close());
    const states: ConnectionState[] = [];
    client.state$.subscribe((s) => states.push(s));
    await reached(client, 'open');
    expect(states).toEqual(['connecting', 'open']);
    proxy.cutAll();
    await reached(client, 'resuming');
    await reached(client, 'open');
    expect(states.slice(2)).toContain('resuming');
    expect(states.at(-1)).toBe('open');
  });
});
