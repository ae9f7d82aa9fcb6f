import { describe, expect, it } from 'vitest';
import {
  MusicaiApplication,
  MusicaiErrorBody,
  MusicaiJob,
  MusicaiJobList,
  MusicaiUploadResponse,
  MusicaiWorkflowList,
} from '../../../src/simulators/musicai/musicai-schemas.js';
import { call, closeSimsAfterEach, createJob, startSim, upload, waitForTerminal } from './musicai-test-helpers.js';

closeSimsAfterEach();

const endpoints: [string, string][] = [
  ['GET', '/upload'],
  ['POST', '/job'],
  ['GET', '/job'],
  ['GET', '/job/2e35babc-91c4-4121-89f4-5a2acf956b28'],
  ['GET', '/job/2e35babc-91c4-4121-89f4-5a2acf956b28/status'],
  ['DELETE', '/job/2e35babc-91c4-4121-89f4-5a2acf956b28'],
  ['GET', '/workflow'],
  ['GET', '/application'],
];

describe('Music.AI simulator › auth', () => {
  it.each(endpoints)('refuses %s %s without the raw API key in Authorization', async (method, path) => {
    const sim = await startSim({ apiKey: 'secret-key' });
    for (const key of [null, 'wrong-key', 'Bearer secret-key']) {
      const answer = await call(sim, method, path, { key, ...(method === 'POST' ? { body: {} } : {}) });
      expect(answer.status).toBe(401);
      expect(MusicaiErrorBody.parse(answer.body)).toEqual({ message: 'Missing or invalid API key', code: 'UNAUTHORIZED' });
    }
  });

  it('generates a random API key when none is given', async () => {
    const a = await startSim();
    const b = await startSim();
    expect(a.apiKey).toMatch(/^[0-9a-f]{32}$/);
    expect(a.apiKey).not.toBe(b.apiKey);
    expect((await call(a, 'GET', '/application')).status).toBe(200);
    expect((await call(a, 'GET', '/application', { key: b.apiKey })).status).toBe(401);
  });
});

describe('Music.AI simulator › endpoints', () => {
  it('serves the application behind the key, with a seed-stable id', async () => {
    const a = await startSim({ seed: 3, applicationName: 'My App' });
    const b = await startSim({ seed: 3 });
    const appA = MusicaiApplication.parse((await call(a, 'GET', '/application')).body);
    const appB = MusicaiApplication.parse((await call(b, 'GET', '/application')).body);
    expect(appA.name).toBe('My App');
    expect(appB.name).toBe('Simulator Application');
    expect(appA.id).toBe(appB.id);
    expect(appA.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  it('lists workflows with slugs, paged by page and size', async () => {
    const sim = await startSim();
    const all = MusicaiWorkflowList.parse((await call(sim, 'GET', '/workflow')).body).workflows;
    expect(all.length).toBeGreaterThanOrEqual(4);
    expect(new Set(all.map((w) => w.slug)).size).toBe(all.length);
    for (const w of all) expect(Number.isNaN(Date.parse(w.createdAt))).toBe(false);
    const page1 = MusicaiWorkflowList.parse((await call(sim, 'GET', '/workflow?page=1&size=2')).body).workflows;
    expect(page1.map((w) => w.slug)).toEqual(all.slice(2, 4).map((w) => w.slug));
    expect((await call(sim, 'GET', '/workflow?size=0')).status).toBe(400);
  });

  it('hands out upload URLs on the simulator that store and serve the bytes', async () => {
    const sim = await startSim();
    const slot = MusicaiUploadResponse.parse((await call(sim, 'GET', '/upload')).body);
    expect(slot.uploadUrl.startsWith(`${sim.url}/storage/`)).toBe(true);
    expect(slot.downloadUrl.startsWith(`${sim.url}/storage/`)).toBe(true);
    expect((await fetch(slot.downloadUrl)).status).toBe(404);
    const bytes = Buffer.from('RIFF....WAVEfake');
    const put = await fetch(slot.uploadUrl, { method: 'PUT', body: bytes, headers: { 'content-type': 'audio/wav' } });
    expect(put.status).toBe(200);
    const got = await fetch(slot.downloadUrl);
    expect(got.status).toBe(200);
    expect(got.headers.get('content-type')).toBe('audio/wav');
    expect(Buffer.from(await got.arrayBuffer()).equals(bytes)).toBe(true);
    const forged = slot.uploadUrl.replace(/signature=[0-9a-f]+/, 'signature=00');
    expect((await fetch(forged, { method: 'PUT', body: 'x' })).status).toBe(403);
    expect((await fetch(slot.uploadUrl.replace('signature=', 'x='))).status).toBe(404);
  });

  it('creates a job (200 with a UUID) and serves it, its status and the list', async () => {
    const sim = await startSim();
    const inputUrl = await upload(sim);
    const id = await createJob(sim, { name: 'My job 123', workflow: 'vocals-accompaniment', params: { inputUrl }, metadata: { user: 123, vip: true } });
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const job = MusicaiJob.parse((await call(sim, 'GET', `/job/${id}`)).body);
    expect(job).toMatchObject({
      id,
      app: 'Simulator Application',
      name: 'My job 123',
      batchName: null,
      workflow: 'vocals-accompaniment',
      workflowParams: { inputUrl },
      metadata: { user: 123, vip: true },
    });
    const status = await call(sim, 'GET', `/job/${id}/status`);
    expect(status.body).toEqual({ id, status: expect.stringMatching(/^(QUEUED|STARTED|SUCCEEDED|FAILED)$/) });
    const list = await call(sim, 'GET', '/job');
    expect(Array.isArray(list.body)).toBe(true);
    expect(MusicaiJobList.parse(list.body).map((j) => j.id)).toEqual([id]);
  });

  it('answers 400 for a malformed job id and 404 for an unknown one', async () => {
    const sim = await startSim();
    for (const path of ['/job/not-a-uuid', '/job/not-a-uuid/status']) {
      const answer = await call(sim, 'GET', path);
      expect(answer.status).toBe(400);
      expect(MusicaiErrorBody.parse(answer.body).code).toBe('INVALID_ID');
    }
    for (const [method, path] of endpoints.filter(([, p]) => p.startsWith('/job/'))) {
      const answer = await call(sim, method, path);
      expect(answer.status).toBe(404);
      expect(MusicaiErrorBody.parse(answer.body)).toEqual({ message: 'Job not found', code: 'NOT_FOUND' });
    }
    expect((await call(sim, 'GET', '/nothing-here')).status).toBe(404);
  });

  it('deletes a job irreversibly, together with its result files', async () => {
    const sim = await startSim();
    const id = await createJob(sim, { params: { inputUrl: await upload(sim) } });
    const { job } = await waitForTerminal(sim, id);
    const stemUrl = Object.values(job.result ?? {})[0] as string;
    expect((await fetch(stemUrl)).status).toBe(200);
    const deleted = await call(sim, 'DELETE', `/job/${id}`);
    expect(deleted).toMatchObject({ status: 200, body: { id } });
    expect((await call(sim, 'GET', `/job/${id}`)).status).toBe(404);
    expect((await call(sim, 'DELETE', `/job/${id}`)).status).toBe(404);
    expect((await fetch(stemUrl)).status).toBe(404);
    expect(sim.outcome(id)).toBe('succeeded');
  });
});

describe('Music.AI simulator › job creation errors', () => {
  const cases: [string, unknown, number, string][] = [
    ['a body that is not JSON', '{nope', 400, 'INVALID_FIELDS'],
    ['a missing name', { workflow: 'stems-four', params: { inputUrl: 'https://example.com/a.mp3' } }, 400, 'INVALID_FIELDS'],
    ['a missing workflow', { name: 'x', params: { inputUrl: 'https://example.com/a.mp3' } }, 400, 'INVALID_FIELDS'],
    ['params that are not an object', { name: 'x', workflow: 'stems-four', params: 'a.mp3' }, 400, 'INVALID_FIELDS'],
    ['a nested metadata value', { name: 'x', workflow: 'stems-four', params: { inputUrl: 'https://e.com/a' }, metadata: { a: { b: 1 } } }, 400, 'INVALID_FIELDS'],
    ['an unknown workflow', { name: 'x', workflow: 'no-such-flow', params: { inputUrl: 'https://example.com/a.mp3' } }, 404, 'WORKFLOW_NOT_FOUND'],
    ['a missing inputUrl', { name: 'x', workflow: 'stems-four', params: {} }, 422, 'INVALID_PARAMS'],
    ['an inputUrl that is not a URL', { name: 'x', workflow: 'stems-four', params: { inputUrl: 'song.mp3' } }, 422, 'INVALID_PARAMS'],
    ['copyResultsTo naming an unknown output', { name: 'x', workflow: 'stems-four', params: { inputUrl: 'https://e.com/a' }, copyResultsTo: { piano: 'http://127.0.0.1:1/x' } }, 422, 'INVALID_PARAMS'],
    ['copyResultsTo to a remote host', { name: 'x', workflow: 'stems-four', params: { inputUrl: 'https://e.com/a' }, copyResultsTo: { vocals: 'https://bucket.example.com/x' } }, 422, 'INVALID_PARAMS'],
    ['inputUrl for a workflow whose input is Input1', { name: 'x', workflow: 'music-ai/generate-chords', params: { inputUrl: 'https://e.com/a' } }, 422, 'INVALID_PARAMS'],
    ['only the first input of a two-input workflow', { name: 'x', workflow: 'mashup-two-songs', params: { 'Input 1': 'https://e.com/a' } }, 422, 'INVALID_PARAMS'],
  ];

  it.each(cases)('refuses %s', async (_what, body, status, code) => {
    const sim = await startSim();
    const answer = await call(sim, 'POST', '/job', { body });
    expect(answer.status).toBe(status);
    const error = MusicaiErrorBody.parse(answer.body);
    expect(error.code).toBe(code);
    expect(error.message).toEqual(expect.any(String));
    expect((await call<unknown[]>(sim, 'GET', '/job')).body).toEqual([]);
  });

  it('says why a remote copy target is refused', async () => {
    const sim = await startSim();
    const answer = await call<{ message: string }>(sim, 'POST', '/job', { body: cases[9]?.[1] });
    expect(answer.body.message).toContain('loopback');
  });
});

describe('Music.AI simulator › job list', () => {
  it('filters by repeated status and workflow, by batchName, and pages', async () => {
    const sim = await startSim({ seed: 11 });
    const inputUrl = await upload(sim);
    const a = await createJob(sim, { workflow: 'stems-four', params: { inputUrl }, batchName: 'b1' });
    const b = await createJob(sim, { workflow: 'stems-six', params: { inputUrl } });
    const c = await createJob(sim, { workflow: 'vocals-accompaniment', params: { inputUrl }, batchName: 'b1' });
    const failed = await createJob(sim, { workflow: 'stems-four', params: { inputUrl: `${sim.url}/storage/uploads/nope?signature=x` } });
    for (const id of [a, b, c, failed]) await waitForTerminal(sim, id);

    const ids = async (query: string) => MusicaiJobList.parse((await call(sim, 'GET', `/job?${query}`)).body).map((j) => j.id);
    expect(await ids('')).toEqual([a, b, c, failed]);
    expect(await ids('workflow=stems-four&workflow=stems-six')).toEqual([a, b, failed]);
    expect(await ids('status=FAILED')).toEqual([failed]);
    expect(await ids('status=FAILED&status=SUCCEEDED')).toEqual([a, b, c, failed]);
    expect(await ids('status=QUEUED')).toEqual([]);
    expect(await ids('batchName=b1')).toEqual([a, c]);
    expect(await ids('page=1&size=3')).toEqual([failed]);
    expect(await ids('page=0&size=2&workflow=stems-four')).toEqual([a, failed]);
    expect((await call(sim, 'GET', '/job?status=DONE')).status).toBe(400);
    expect((await call(sim, 'GET', '/job?page=-1')).status).toBe(400);
  });
});

describe('Music.AI simulator › faults', () => {
  it('answers random 5xx with an error body, and recovers when the knob is reset', async () => {
    const sim = await startSim({ seed: 2, faults: { serverErrorRate: 1 } });
    const answers = await Promise.all(Array.from({ length: 20 }, () => call(sim, 'GET', '/application')));
    for (const answer of answers) {
      expect([500, 502, 503]).toContain(answer.status);
      expect(MusicaiErrorBody.parse(answer.body).message).toEqual(expect.any(String));
    }
    const created = await call(sim, 'POST', '/job', { body: { name: 'x', workflow: 'stems-four', params: { inputUrl: 'https://e.com/a' } } });
    expect(created.status).toBeGreaterThanOrEqual(500);
    sim.setFaults({ serverErrorRate: 0 });
    expect((await call(sim, 'GET', '/job')).body).toEqual([]);
  });

  it('rate-limits per key with 429 and Retry-After, creating nothing when refused', async () => {
    const sim = await startSim({ faults: { rateLimit: { limit: 2, windowMs: 60_000, retryAfterSeconds: 7 } } });
    const body = { name: 'x', workflow: 'stems-four', params: { inputUrl: 'https://e.com/a' } };
    expect((await call(sim, 'POST', '/job', { body })).status).toBe(200);
    expect((await call(sim, 'POST', '/job', { body })).status).toBe(200);
    const refused = await call(sim, 'POST', '/job', { body });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('7');
    expect(MusicaiErrorBody.parse(refused.body).code).toBe('RATE_LIMITED');
    sim.setFaults({ rateLimit: null });
    expect((await call<unknown[]>(sim, 'GET', '/job')).body).toHaveLength(2);
  });

  it('adds latency from the knob', async () => {
    const sim = await startSim({ faults: { latencyMs: { min: 60, max: 60 } } });
    const started = performance.now();
    await call(sim, 'GET', '/application');
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
  });

  it('does not answer 401 with a fault: auth is checked first', async () => {
    const sim = await startSim({ faults: { serverErrorRate: 1 } });
    expect((await call(sim, 'GET', '/application', { key: 'nope' })).status).toBe(401);
  });
});
