import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/server.js';
import { startTestServer, TOKEN } from '../support/test-server.js';

const servers: RunningServer[] = [];
async function setup(options: Parameters<typeof startTestServer>[0] = {}) {
  const started = await startTestServer(options);
  servers.push(started.server);
  return started;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const json = (body: unknown): RequestInit => ({ method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
const urlJob = { provider: 'fake', kind: 'transcription', input: { type: 'url', url: 'https://example.com/a.wav' } };

describe('REST API', () => {
  it('answers /healthz without a token (ok only; details with the token) and refuses /v1 and /metrics without a valid one', async () => {
    const { server, api } = await setup();
    expect(await (await fetch(`${server.url}/healthz`)).json()).toEqual({ status: 'ok' });
    expect(await (await api('/healthz')).json()).toMatchObject({ status: 'ok', providers: ['fake'] });
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: TOKEN }]) {
      const res = await fetch(`${server.url}/v1/jobs`, { headers });
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    }
    expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
  });

  it('creates a job from a URL, gets it, lists it and cancels it', async () => {
    const { api, provider } = await setup();
    const created = await api('/v1/jobs', json({ ...urlJob, name: 'demo', metadata: { take: 2 } }));
    expect(created.status).toBe(201);
    const { job } = (await created.json()) as { job: { id: string } };
    expect(job).toMatchObject({ status: 'queued', externalId: 'ext-1', name: 'demo', metadata: { take: 2 } });
    expect(provider.created[0]?.input).toEqual(urlJob.input);

    expect(await (await api(`/v1/jobs/${job.id}`)).json()).toMatchObject({ job: { id: job.id } });
    const cancel = await api(`/v1/jobs/${job.id}/cancel`, { method: 'POST' });
    expect(await cancel.json()).toMatchObject({ job: { status: 'canceled' } });
  });

  it('pages through jobs newest first with filters and a cursor', async () => {
    const { api } = await setup();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(((await (await api('/v1/jobs', json({ ...urlJob, kind: i % 2 ? 'separation' : 'transcription' }))).json()) as { job: { id: string } }).job.id);
    const first = (await (await api('/v1/jobs?limit=2')).json()) as { jobs: { id: string }[]; nextCursor: string };
    expect(first.jobs.map((j) => j.id)).toEqual([ids[4], ids[3]]);
    const second = (await (await api(`/v1/jobs?limit=2&cursor=${first.nextCursor}`)).json()) as { jobs: { id: string }[]; nextCursor: string };
    expect(second.jobs.map((j) => j.id)).toEqual([ids[2], ids[1]]);
    const last = (await (await api(`/v1/jobs?limit=2&cursor=${second.nextCursor}`)).json()) as { jobs: { id: string }[]; nextCursor: string | null };
    expect(last).toEqual({ jobs: [expect.objectContaining({ id: ids[0] })], nextCursor: null, total: 5 });
    const separations = (await (await api('/v1/jobs?kind=separation&status=queued')).json()) as { jobs: { id: string }[] };
    expect(separations.jobs.map((j) => j.id)).toEqual([ids[3], ids[1]]);
  });

  it('answers validation errors with 400 naming the field, unknown ids with 404', async () => {
    const { api } = await setup();
    const bad = await api('/v1/jobs', json({ ...urlJob, input: { type: 'url', url: 'nope' } }));
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'INVALID_REQUEST', issues: [{ field: 'input.url' }] } });
    expect((await api('/v1/jobs', json({ ...urlJob, provider: 'nobody' }))).status).toBe(400);
    expect((await api('/v1/jobs', { method: 'POST', body: '{not json', headers: { 'content-type': 'application/json' } })).status).toBe(400);
    expect((await api('/v1/jobs?status=exploded')).status).toBe(400);
    expect((await api('/v1/jobs?cursor=%%%')).status).toBe(400);
    for (const path of ['/v1/jobs/job_missing', '/v1/jobs/job_missing/results']) {
      const res = await api(path);
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ error: { code: 'UNKNOWN_JOB' } });
    }
    expect((await api('/v1/jobs/job_missing/cancel', { method: 'POST' })).status).toBe(404);
  });

  it('adopts an external job once', async () => {
    const { api, provider } = await setup();
    provider.set('outside', 'WORKING');
    const body = json({ provider: 'fake', kind: 'separation', externalId: 'outside' });
    const first = (await (await api('/v1/jobs/track', body)).json()) as { job: { id: string } };
    const again = (await (await api('/v1/jobs/track', json({ provider: 'fake', kind: 'separation', externalId: 'outside' }))).json()) as { job: { id: string } };
    expect(again.job.id).toBe(first.job.id);
  });

  it('streams an uploaded file to disk, hands it to the provider, then keeps it (0600) for retries, out of the upload directory', async () => {
    const { api, provider, server } = await setup();
    const form = new FormData();
    form.set('provider', 'fake');
    form.set('kind', 'transcription');
    form.set('options', JSON.stringify({ model: 'guitar' }));
    form.set('file', new Blob([new Uint8Array(4096).fill(7)], { type: 'audio/wav' }), 'riff.wav');
    let seenBytes = -1;
    provider.beforeCreate = async (request) => {
      if (request.input?.type === 'file') seenBytes = (await readFile(request.input.path)).length;
    };
    const res = await api('/v1/jobs', { method: 'POST', body: form });
    expect(res.status).toBe(201);
    const { job } = (await res.json()) as { job: { id: string } };
    expect(job).toMatchObject({ options: { model: 'guitar' }, status: 'queued', input: { type: 'upload', filename: 'riff.wav', contentType: 'audio/wav', bytes: 4096 } });
    const input = provider.created[0]?.input;
    expect(input).toMatchObject({ type: 'file', filename: 'riff.wav', contentType: 'audio/wav' });
    expect(seenBytes).toBe(4096);
    if (input?.type !== 'file') throw new Error('not a file input');
    expect(input.path.endsWith(`${sep}inputs${sep}${job.id}`)).toBe(true);
    expect((await stat(input.path)).mode & 0o777).toBe(0o600);
    expect(await readdir(join(dirname(dirname(input.path)), 'uploads'))).toEqual([]);
    expect(server.engine.snapshot().jobs).toHaveLength(1);
  });

  it('refuses an upload over the limit with 413 and keeps nothing', async () => {
    const { api, server, provider } = await setup({ maxUploadBytes: 1000 });
    const form = new FormData();
    form.set('provider', 'fake');
    form.set('kind', 'transcription');
    form.set('file', new Blob([new Uint8Array(5000)]), 'big.wav');
    const res = await api('/v1/jobs', { method: 'POST', body: form });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
    expect(server.engine.snapshot().jobs).toHaveLength(0);
    expect(provider.created).toHaveLength(0);
  });

  it('serves Prometheus metrics with a token', async () => {
    const { api } = await setup();
    await api('/v1/jobs', json(urlJob));
    const res = await api('/metrics');
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toContain('jobstream_jobs{provider="fake",status="queued"} 1');
    expect(text).toContain('jobstream_job_transitions_total{provider="fake",from="queued",to="queued"} 1');
    expect(text).toMatch(/jobstream_ws_clients 0/);
  });
});

describe('REST API for dashboards', () => {
  it('gives a job the changes the server still keeps, and counts by status and channel', async () => {
    const { api, server, provider } = await setup();
    const { job } = (await (await api('/v1/jobs', json(urlJob))).json()) as { job: { id: string } };
    await fetch(provider.created[0]!.webhookUrl!, { method: 'POST', body: JSON.stringify({ id: 'ext-1', status: 'WORKING' }) });
    await fetch(provider.created[0]!.webhookUrl!, { method: 'POST', body: JSON.stringify({ id: 'ext-1', status: 'WORKING' }) });
    await fetch(provider.created[0]!.webhookUrl!, { method: 'POST', body: 'nope' });
    const history = (await (await api(`/v1/jobs/${job.id}/changes`)).json()) as { epoch: string; changes: { seq: number; job: { version: number; source: string } }[] };
    expect(history.epoch).toBe(server.engine.epoch);
    expect(history.changes.map((c) => [c.job.version, c.job.source])).toEqual([
      [1, 'submit'],
      [2, 'submit'],
      [3, 'webhook'],
    ]);
    expect((await api('/v1/jobs/job_missing/changes')).status).toBe(404);
    expect(await (await api('/v1/stats')).json()).toEqual({
      jobs: { queued: 0, running: 1, succeeded: 0, failed: 0, canceled: 0 },
      webhooks: { applied: 1, duplicate: 1, rejected: 1 },
      polls: { ok: expect.any(Number), 'rate-limited': 0, unavailable: 0, failed: 0 },
    });
  });
});
