import { createHash } from 'node:crypto';
import { readFile, rm, stat } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { createKlangioAdapter } from '../../src/providers/klangio/klangio-adapter.js';
import { createDispatcher } from '../../src/providers/provider-http.js';
import { startKlangioSimulator } from '../../src/simulators/klangio/klangio-simulator.js';
import type { RunningServer } from '../../src/server/server.js';
import { ProviderError } from '../../src/streams/errors.js';
import type { JobSnapshot } from '../../src/streams/job-snapshot.js';
import { startTestServer } from '../support/test-server.js';

const servers: RunningServer[] = [];
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup() {
  const started = await startTestServer();
  servers.push(started.server);
  return started;
}

const json = (body: unknown): RequestInit => ({ method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
const refused = () => new ProviderError('fake', 'rejected', 'fake answered 422: the input is not audio', { status: 422 });
const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

function uploadForm(fields: Record<string, string>, bytes: Uint8Array<ArrayBuffer>, filename: string): FormData {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.set(name, value);
  form.set('file', new Blob([bytes], { type: 'audio/wav' }), filename);
  return form;
}

describe('POST /v1/jobs/:id/retry', () => {
  it('retries a failed URL job as a new job with the same provider, kind, input, options, metadata and name, and retryOf', async () => {
    const { api, provider } = await setup();
    provider.failures.push({ on: 'create', error: refused() });
    const request = {
      provider: 'fake',
      kind: 'separation',
      input: { type: 'url', url: 'https://example.com/take-2.wav' },
      name: 'take 2',
      metadata: { user: 'u42', take: 2 },
      options: { model: 'guitar' },
    };
    const failed = ((await (await api('/v1/jobs', json(request))).json()) as { job: JobSnapshot }).job;
    expect(failed).toMatchObject({ status: 'failed', input: { type: 'url', url: request.input.url }, retryOf: null });

    const res = await api(`/v1/jobs/${failed.id}/retry`, { method: 'POST' });
    expect(res.status).toBe(201);
    const { job } = (await res.json()) as { job: JobSnapshot };
    expect(job.id).not.toBe(failed.id);
    expect(job).toMatchObject({
      provider: 'fake',
      kind: 'separation',
      name: 'take 2',
      metadata: request.metadata,
      options: request.options,
      input: { type: 'url', url: request.input.url },
      retryOf: failed.id,
      status: 'queued',
      externalId: 'ext-1',
    });
    expect(provider.created).toHaveLength(2);
    expect(provider.created[1]).toMatchObject({ kind: 'separation', input: request.input, name: 'take 2', metadata: request.metadata, options: request.options });
    // The retry is listed as one, and the original is left as it was.
    const retries = (await (await api(`/v1/jobs?retryOf=${failed.id}`)).json()) as { jobs: JobSnapshot[]; total: number };
    expect(retries.jobs.map((j) => j.id)).toEqual([job.id]);
    expect(retries.total).toBe(1);
    expect(((await (await api(`/v1/jobs/${failed.id}`)).json()) as { job: JobSnapshot }).job).toEqual(failed);
  });

  it('retries a failed upload: the provider gets the same bytes again, from the copy kept (0600) when it was uploaded; a job without a name is named after its file', async () => {
    const { api, provider } = await setup();
    const bytes = new Uint8Array(64 * 1024).map((_, i) => (i * 31) % 251);
    const seen: { path: string; hash: string; filename: string | undefined }[] = [];
    provider.beforeCreate = async (request) => {
      if (request.input?.type === 'file') seen.push({ path: request.input.path, hash: sha(await readFile(request.input.path)), filename: request.input.filename });
    };
    provider.failures.push({ on: 'create', error: refused() });
    const created = await api('/v1/jobs', { method: 'POST', body: uploadForm({ provider: 'fake', kind: 'transcription', options: '{"model":"piano"}' }, bytes, 'riff one.wav') });
    expect(created.status).toBe(201);
    const failed = ((await created.json()) as { job: JobSnapshot }).job;
    expect(failed).toMatchObject({
      status: 'failed',
      name: 'riff one.wav',
      input: { type: 'upload', filename: 'riff one.wav', contentType: 'audio/wav', bytes: bytes.length },
    });
    const kept = seen[0]!.path;
    expect((await stat(kept)).mode & 0o777).toBe(0o600);

    const res = await api(`/v1/jobs/${failed.id}/retry`, { method: 'POST' });
    expect(res.status).toBe(201);
    const { job } = (await res.json()) as { job: JobSnapshot };
    expect(job).toMatchObject({
      status: 'queued',
      retryOf: failed.id,
      name: 'riff one.wav',
      options: { model: 'piano' },
      input: { type: 'upload', filename: 'riff one.wav', contentType: 'audio/wav', bytes: bytes.length },
    });
    expect(seen).toHaveLength(2);
    expect(seen[1]!.hash).toBe(sha(bytes));
    expect(seen[1]!.hash).toBe(seen[0]!.hash);
    expect(seen[1]!.filename).toBe('riff one.wav');
    // Each job keeps its own copy: dropping the first one's leaves the retry retryable.
    expect(seen[1]!.path).not.toBe(kept);
    await servers[0]!.engine.removeKeptInput(failed.id);
    await expect(stat(kept)).rejects.toMatchObject({ code: 'ENOENT' });
    const gone = await api(`/v1/jobs/${failed.id}/retry`, { method: 'POST' });
    expect(gone.status).toBe(409);
    expect(await gone.json()).toMatchObject({ error: { code: 'NOT_RETRYABLE', message: expect.stringMatching(/uploaded file is not kept/) } });
    await api(`/v1/jobs/${job.id}/cancel`, { method: 'POST' });
    const again = await api(`/v1/jobs/${job.id}/retry`, { method: 'POST' });
    expect(again.status).toBe(201);
    expect(seen[2]!.hash).toBe(sha(bytes));
    // An upload given a name keeps it.
    const named = await api('/v1/jobs', { method: 'POST', body: uploadForm({ provider: 'fake', kind: 'transcription', name: 'my song' }, new Uint8Array(10), 'a.wav') });
    expect(((await named.json()) as { job: JobSnapshot }).job).toMatchObject({ name: 'my song', input: { type: 'upload', filename: 'a.wav', bytes: 10 } });
  });

  it('refuses, with 409 NOT_RETRYABLE and why: an adopted (tracked) job, a job still running; unknown ids are 404', async () => {
    const { api, provider } = await setup();
    provider.set('outside', 'BROKEN');
    const tracked = ((await (await api('/v1/jobs/track', json({ provider: 'fake', kind: 'separation', externalId: 'outside' }))).json()) as { job: JobSnapshot }).job;
    expect(tracked.input).toBeNull();
    await servers[0]!.engine.waitFor(tracked.id);
    const res = await api(`/v1/jobs/${tracked.id}/retry`, { method: 'POST' });
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ error: { code: 'NOT_RETRYABLE', message: expect.stringMatching(/input is not known \(an adopted job/) } });

    const running = ((await (await api('/v1/jobs', json({ provider: 'fake', kind: 'separation', input: { type: 'url', url: 'https://example.com/a.wav' } }))).json()) as { job: JobSnapshot }).job;
    const busy = await api(`/v1/jobs/${running.id}/retry`, { method: 'POST' });
    expect(busy.status).toBe(409);
    expect(await busy.json()).toMatchObject({ error: { code: 'NOT_RETRYABLE', message: expect.stringMatching(/still queued/) } });
    expect(provider.created).toHaveLength(1);
    expect((await api('/v1/jobs/job_missing/retry', { method: 'POST' })).status).toBe(404);
  });

  it('is forbidden to a scoped read token (403 SCOPE_FORBIDDEN), even for a job in its scope', async () => {
    const { api, provider, server } = await setup();
    provider.failures.push({ on: 'create', error: refused() });
    const failed = ((await (await api('/v1/jobs', json({ provider: 'fake', kind: 'separation', input: { type: 'url', url: 'https://example.com/a.wav' } }))).json()) as { job: JobSnapshot }).job;
    const { token } = server.mintToken({ ids: [failed.id] });
    const res = await fetch(`${server.url}/v1/jobs/${failed.id}/retry`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: { code: 'SCOPE_FORBIDDEN' } });
    expect(provider.created).toHaveLength(1);
    // The API token may.
    expect((await api(`/v1/jobs/${failed.id}/retry`, { method: 'POST' })).status).toBe(201);
    expect(provider.created).toHaveLength(2);
  });

  it('an upload whose kept copy was removed from disk is not retryable (409), and says so', async () => {
    const { api, provider } = await setup();
    let path = '';
    provider.beforeCreate = (request) => {
      if (request.input?.type === 'file') path = request.input.path;
      return Promise.resolve();
    };
    provider.failures.push({ on: 'create', error: refused() });
    const failed = ((await (await api('/v1/jobs', { method: 'POST', body: uploadForm({ provider: 'fake', kind: 'transcription' }, new Uint8Array(10), 'a.wav') })).json()) as { job: JobSnapshot }).job;
    await rm(path);
    const res = await api(`/v1/jobs/${failed.id}/retry`, { method: 'POST' });
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ error: { code: 'NOT_RETRYABLE' } });
  });

  it('retries an upload through the real Klangio adapter: the simulator takes the kept file as a new upload (it refuses empty ones)', async () => {
    const dispatcher = createDispatcher();
    cleanups.push(() => dispatcher.close());
    const sim = await startKlangioSimulator({ speed: 200, seed: 3 });
    cleanups.push(() => sim.close());
    const { server, api } = await startTestServer({ providers: [createKlangioAdapter({ apiKey: sim.apiKey, baseUrl: sim.url, dispatcher })] });
    servers.push(server);
    const bytes = new Uint8Array(8192).map((_, i) => (i * 7) % 256);
    const created = await api('/v1/jobs', { method: 'POST', body: uploadForm({ provider: 'klangio', kind: 'beat-tracking' }, bytes, 'beat.wav') });
    expect(created.status).toBe(201);
    const first = ((await created.json()) as { job: JobSnapshot }).job;
    expect(first.externalId).not.toBeNull();
    expect(first.input).toEqual({ type: 'upload', filename: 'beat.wav', contentType: 'audio/wav', bytes: 8192 });
    await server.engine.waitFor(first.id, { timeoutMs: 10_000 });

    const res = await api(`/v1/jobs/${first.id}/retry`, { method: 'POST' });
    expect(res.status).toBe(201);
    const { job } = (await res.json()) as { job: JobSnapshot };
    expect(job).toMatchObject({ retryOf: first.id, name: 'beat.wav', input: first.input, status: expect.stringMatching(/queued|running|succeeded/) });
    expect(job.externalId).not.toBeNull();
    expect(job.externalId).not.toBe(first.externalId);
    expect(sim.outcome(job.externalId!)).toBeDefined();
  });
});
