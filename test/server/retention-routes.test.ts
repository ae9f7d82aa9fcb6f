import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RestClient } from '../../src/client/rest-client.js';
import { createEngine } from '../../src/streams/engine.js';
import { FileStore } from '../../src/streams/file-store.js';
import { FakeProvider, hookUrl, tokenOf } from '../support/fake-provider.js';
import { startTestServer, TOKEN } from '../support/test-server.js';
import { VirtualClock } from '../support/virtual-clock.js';

const DAY_MS = 86_400_000;
const input = { type: 'url' as const, url: 'https://example.com/a.wav' };

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

describe('GET /v1/retention', () => {
  it('says jobs are kept forever when no period is set; it takes the API token only', async () => {
    const { server, api } = await startTestServer();
    cleanup.push(() => server.close());
    const answer = await api('/v1/retention');
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ retainDays: null, lastSweepAt: null, removedTotal: 0, oldestKeptFinishedAt: null });
    expect((await fetch(`${server.url}/v1/retention`)).status).toBe(401);
    const minted = (await (await api('/v1/tokens', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ filter: { ids: ['job_x'] } }) })).json()) as { token: string };
    const scoped = await fetch(`${server.url}/v1/retention`, { headers: { authorization: `Bearer ${minted.token}` } });
    expect(scoped.status).toBe(403);
    expect(await scoped.json()).toMatchObject({ error: { code: 'SCOPE_FORBIDDEN' } });
  });

  it('reports the period, the sweep at start and what it removed; the removed job is gone from the API (also through RestClient.retention)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jobstream-retention-http-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    // Ten days ago: one job finished then, on the same data directory.
    const provider = new FakeProvider();
    const past = await createEngine({ providers: [provider], dataDir: dir, scheduler: new VirtualClock(Date.now() - 10 * DAY_MS), webhookUrl: hookUrl });
    const old = await past.submit({ provider: 'fake', kind: 'transcription', input });
    await past.ingestWebhook({ provider: 'fake', token: tokenOf(provider.created[0]?.webhookUrl), body: { id: 'ext-1', status: 'BROKEN' } });
    await past.close();

    const startedAt = Date.now();
    const { server, api } = await startTestServer({ provider, dataDir: dir, store: await FileStore.open({ dir }), retainMs: 7 * DAY_MS });
    cleanup.push(() => server.close());
    const client = new RestClient(server.url, TOKEN, fetch);
    await expect.poll(async () => (await client.retention()).lastSweepAt).not.toBeNull();
    const status = await client.retention();
    expect(status).toEqual({ retainDays: 7, lastSweepAt: expect.any(Number) as unknown, removedTotal: 1, oldestKeptFinishedAt: null });
    expect(status.lastSweepAt).toBeGreaterThanOrEqual(startedAt);
    expect((await api(`/v1/jobs/${old.id}`)).status).toBe(404);

    // A job finished now is kept, and is the oldest kept.
    const recent = (await (await api('/v1/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ provider: 'fake', kind: 'transcription', input }) })).json()) as { job: { id: string } };
    await server.engine.ingestWebhook({ provider: 'fake', token: tokenOf(provider.created[1]?.webhookUrl), body: { id: 'ext-2', status: 'BROKEN' } });
    const answer = (await (await api('/v1/retention')).json()) as { oldestKeptFinishedAt: number };
    expect(answer.oldestKeptFinishedAt).toBe(server.engine.get(recent.job.id)?.updatedAt);
  });
});
