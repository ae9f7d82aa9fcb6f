import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { MockAgent } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { listMusicaiJobs, listMusicaiWorkflows } from '../../../src/providers/musicai/musicai-adapter-client.js';
import { musicaiResultEntries } from '../../../src/providers/musicai/musicai-adapter-results.js';
import { createMusicaiAdapter, MUSICAI_KINDS, MUSICAI_POLL_POLICY } from '../../../src/providers/musicai/musicai-adapter.js';
import type { CreateJobRequest, ProviderAdapter, ProviderJobRef } from '../../../src/streams/provider-port.js';
import { InvalidRequestError, ProviderError } from '../../../src/streams/errors.js';

const API = 'https://api.music.ai';
const STORAGE = 'https://storage.googleapis.com';
const CDN = 'https://cdn.music.ai';
const KEY = 'musicai-test-key';
const JSON_HEADERS = { headers: { 'content-type': 'application/json' } };
const job: ProviderJobRef = { externalId: '2e1f0c4a-5b6d-4e8f-9a0b-1c2d3e4f5a6b', kind: 'workflow', options: { workflow: 'stems-four' } };

let agent: MockAgent;
/** Fresh per test: MockAgent leaves an abort listener behind per call (a real Agent does not). */
let signal: AbortSignal;
let adapter: ProviderAdapter;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'musicai-adapter-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  signal = new AbortController().signal;
  agent = new MockAgent();
  agent.disableNetConnect();
  // MockAgent answers in-process for made-up CDN hosts, which the URL guard would resolve for
  // real: allow private URLs here; test/providers/url-guard.test.ts tests the guard.
  adapter = createMusicaiAdapter({ apiKey: KEY, dispatcher: agent, allowPrivateUrls: true });
});
afterEach(async () => {
  agent.assertNoPendingInterceptors();
  await agent.close();
});

function request(overrides: Partial<CreateJobRequest> = {}): CreateJobRequest {
  return {
    kind: 'workflow',
    input: { type: 'url', url: 'https://example.com/song.mp3' },
    name: null,
    metadata: {},
    options: { workflow: 'stems-four' },
    ...overrides,
  };
}

/** Captures what an intercepted request carried. */
interface Seen {
  path: string;
  headers: Record<string, string>;
  body: unknown;
}

function headersOf(raw: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries((raw ?? {}) as Record<string, unknown>)) out[k.toLowerCase()] = String(v);
  return out;
}

function interceptJob(answer: unknown, status = 200): Seen[] {
  const seen: Seen[] = [];
  agent
    .get(API)
    .intercept({ path: `/v1/job/${job.externalId}`, method: 'GET' })
    .reply(status, (opts) => {
      seen.push({ path: opts.path, headers: headersOf(opts.headers), body: opts.body });
      return answer as object;
    }, JSON_HEADERS);
  return seen;
}

async function rejection(promise: Promise<unknown>): Promise<ProviderError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProviderError);
  return error as ProviderError;
}

async function text(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks).toString('utf8');
}

describe('createMusicaiAdapter', () => {
  it('describes a poll-only provider with one job kind and the documented poll defaults', () => {
    expect(adapter).toMatchObject({ provider: 'musicai', kinds: MUSICAI_KINDS, webhooks: false });
    expect(adapter.kinds).toEqual(['workflow']);
    expect('parseWebhook' in adapter).toBe(false);
    expect(adapter.pollPolicy).toEqual({
      intervalMs: 5000,
      backoff: { initialMs: 1000, maxMs: 120_000 },
      rate: { limit: 5, windowMs: 1000 },
      maxInFlight: 8,
    });
    expect(adapter.credentialId).not.toContain(KEY);
    expect(adapter.credentialId).toMatch(/^[0-9a-f]{12}$/);
  });

  it('applies pollPolicy overrides over the defaults', () => {
    const fast = createMusicaiAdapter({ apiKey: KEY, dispatcher: agent, pollPolicy: { intervalMs: 10, maxInFlight: 2 } });
    expect(fast.pollPolicy).toEqual({ ...MUSICAI_POLL_POLICY, intervalMs: 10, maxInFlight: 2 });
  });

  it('refuses an empty key or a base URL that is not http(s)', () => {
    expect(() => createMusicaiAdapter({ apiKey: ' ', dispatcher: agent })).toThrow(/apiKey/);
    expect(() => createMusicaiAdapter({ apiKey: KEY, baseUrl: 'ftp://x', dispatcher: agent })).toThrow(/baseUrl/);
  });
});

describe('validate', () => {
  const table: { name: string; req: Partial<CreateJobRequest>; issues: { field: string; reason: RegExp }[] }[] = [
    { name: 'a complete request', req: {}, issues: [] },
    { name: 'extra params', req: { options: { workflow: 'w', params: { lang: 'en', stems: 4 } } }, issues: [] },
    { name: 'no input', req: { input: undefined }, issues: [{ field: 'input', reason: /needs an input/ }] },
    { name: 'no workflow', req: { options: {} }, issues: [{ field: 'options.workflow', reason: /./ }] },
    { name: 'a blank workflow', req: { options: { workflow: '  ' } }, issues: [{ field: 'options.workflow', reason: /required/ }] },
    { name: 'a workflow that is not a string', req: { options: { workflow: 7 } }, issues: [{ field: 'options.workflow', reason: /string/ }] },
    { name: 'params that are not an object', req: { options: { workflow: 'w', params: [1] } }, issues: [{ field: 'options.params', reason: /./ }] },
    {
      name: 'params.inputUrl',
      req: { options: { workflow: 'w', params: { inputUrl: 'https://x/y.mp3' } } },
      issues: [{ field: 'options.params.inputUrl', reason: /set from the job input/ }],
    },
    { name: 'an inputParam naming the workflow\'s own input', req: { options: { workflow: 'w', inputParam: 'Input1', params: { inputUrl: 'x' } } }, issues: [] },
    {
      name: 'params repeating the inputParam',
      req: { options: { workflow: 'w', inputParam: 'Input 1', params: { 'Input 1': 'https://x/y.mp3' } } },
      issues: [{ field: 'options.params.Input 1', reason: /set from the job input/ }],
    },
    { name: 'an empty inputParam', req: { options: { workflow: 'w', inputParam: '' } }, issues: [{ field: 'options.inputParam', reason: /param/ }] },
    { name: 'copyResultsTo', req: { options: { workflow: 'w', copyResultsTo: { vocals: 'https://bucket.example/v.wav?sig=1' } } }, issues: [] },
    {
      name: 'a copyResultsTo target that is not an http(s) URL',
      req: { options: { workflow: 'w', copyResultsTo: { vocals: 'ftp://bucket/v.wav' } } },
      issues: [{ field: 'options.copyResultsTo.vocals', reason: /http\(s\) URL/ }],
    },
    {
      name: 'an unknown option',
      req: { options: { workflow: 'w', workflowSlug: 'x' } },
      issues: [{ field: 'options.workflowSlug', reason: /unknown option/ }],
    },
  ];
  it.each(table)('reports $name', ({ req, issues }) => {
    const found = adapter.validate!(request(req));
    expect(found).toHaveLength(issues.length);
    issues.forEach((issue, i) => {
      expect(found[i]?.field).toBe(issue.field);
      expect(found[i]?.reason).toMatch(issue.reason);
    });
  });
});

describe('create', () => {
  it('posts the job with the raw key, the default name, the merged params and the metadata', async () => {
    const seen: Seen[] = [];
    agent
      .get(API)
      .intercept({ path: '/v1/job', method: 'POST' })
      .reply(200, (opts) => {
        seen.push({ path: opts.path, headers: headersOf(opts.headers), body: JSON.parse(opts.body as string) });
        return { id: 'job-1' };
      }, JSON_HEADERS);
    const created = await adapter.create(
      request({ metadata: { origin: 'test', n: 2 }, options: { workflow: 'stems-four', params: { lang: 'en' } } }),
      { signal },
    );
    expect(created).toEqual({ externalId: 'job-1' });
    expect(seen[0]?.headers.authorization).toBe(KEY);
    expect(seen[0]?.headers['content-type']).toBe('application/json');
    expect(seen[0]?.body).toEqual({
      name: 'jobstream stems-four',
      workflow: 'stems-four',
      params: { lang: 'en', inputUrl: 'https://example.com/song.mp3' },
      metadata: { origin: 'test', n: 2 },
    });
  });

  // Reproduction: workflows name their own inputs (`Input1`, `Input 1`); the adapter always sent
  // `inputUrl`, and had no copyResultsTo.
  it('puts the input under the inputParam the caller names, passes the other params and copyResultsTo', async () => {
    let body: unknown;
    agent
      .get(API)
      .intercept({ path: '/v1/job', method: 'POST' })
      .reply(200, (opts) => {
        body = JSON.parse(opts.body as string);
        return { id: 'job-2' };
      }, JSON_HEADERS);
    const copyResultsTo = { mashup: 'https://bucket.example/m.wav?sig=1' };
    await adapter.create(
      request({ options: { workflow: 'mashup-two-songs', inputParam: 'Input 1', params: { 'Input 2': 'https://example.com/b.mp3' }, copyResultsTo } }),
      { signal },
    );
    expect(body).toEqual({
      name: 'jobstream mashup-two-songs',
      workflow: 'mashup-two-songs',
      params: { 'Input 1': 'https://example.com/song.mp3', 'Input 2': 'https://example.com/b.mp3' },
      copyResultsTo,
    });
  });

  it('uses the job name and leaves out empty metadata; a numeric id is read as a string', async () => {
    let body: unknown;
    agent
      .get(API)
      .intercept({ path: '/v1/job', method: 'POST' })
      .reply(200, (opts) => {
        body = JSON.parse(opts.body as string);
        return { id: 42 };
      }, JSON_HEADERS);
    expect(await adapter.create(request({ name: 'my song' }), { signal })).toEqual({ externalId: '42' });
    expect(body).toEqual({ name: 'my song', workflow: 'stems-four', params: { inputUrl: 'https://example.com/song.mp3' } });
  });

  it('uploads a file: GET /upload, PUT without the API key, then the download URL as inputUrl', async () => {
    const path = join(dir, 'song.mp3');
    await writeFile(path, Buffer.from('ID3 some mp3 bytes'));
    const put: Seen[] = [];
    agent
      .get(API)
      .intercept({ path: '/v1/upload', method: 'GET' })
      .reply(200, { uploadUrl: `${STORAGE}/bucket/up?sig=1`, downloadUrl: `${STORAGE}/bucket/down?sig=2` }, JSON_HEADERS);
    agent
      .get(STORAGE)
      .intercept({ path: '/bucket/up?sig=1', method: 'PUT' })
      .reply(200, (opts) => {
        put.push({ path: opts.path, headers: headersOf(opts.headers), body: opts.body });
        return '';
      });
    let body: { params?: unknown } | undefined;
    agent
      .get(API)
      .intercept({ path: '/v1/job', method: 'POST' })
      .reply(200, (opts) => {
        body = JSON.parse(opts.body as string) as { params?: unknown };
        return { id: 'job-2' };
      }, JSON_HEADERS);
    const created = await adapter.create(request({ input: { type: 'file', path, contentType: 'audio/mpeg' } }), { signal });
    expect(created.externalId).toBe('job-2');
    expect(put[0]?.headers.authorization).toBeUndefined();
    expect(put[0]?.headers['content-length']).toBe(String('ID3 some mp3 bytes'.length));
    expect(put[0]?.headers['content-type']).toBe('audio/mpeg');
    expect(body?.params).toEqual({ inputUrl: `${STORAGE}/bucket/down?sig=2` });
  });

  it.each([
    { status: 403, failure: 'rejected' },
    { status: 503, failure: 'unavailable' },
  ])('checks the PUT: storage $status → $failure, and no job is created', async ({ status, failure }) => {
    const path = join(dir, 'put-fails.wav');
    await writeFile(path, Buffer.from('RIFF'));
    agent
      .get(API)
      .intercept({ path: '/v1/upload', method: 'GET' })
      .reply(200, { uploadUrl: `${STORAGE}/u`, downloadUrl: `${STORAGE}/d` }, JSON_HEADERS);
    agent.get(STORAGE).intercept({ path: '/u', method: 'PUT' }).reply(status, 'AccessDenied');
    const error = await rejection(adapter.create(request({ input: { type: 'file', path } }), { signal }));
    expect(error.failure).toBe(failure);
    expect(error.status).toBe(status);
  });

  it('refuses a file it cannot read before calling the API', async () => {
    const error: unknown = await adapter
      .create(request({ input: { type: 'file', path: join(dir, 'missing.mp3') } }), { signal })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect((error as InvalidRequestError).issues[0]?.field).toBe('input.path');
  });

  it('reads an upload answer without URLs as invalid-response', async () => {
    const path = join(dir, 'x.wav');
    await writeFile(path, Buffer.from('RIFF'));
    agent.get(API).intercept({ path: '/v1/upload', method: 'GET' }).reply(200, { uploadUrl: 'not a url' }, JSON_HEADERS);
    expect((await rejection(adapter.create(request({ input: { type: 'file', path } }), { signal }))).failure).toBe('invalid-response');
  });

  const failures: { name: string; status: number; body: string; headers?: Record<string, string>; failure: string; message?: RegExp; retryAfterMs?: number }[] = [
    { name: '201 (only 200 counts)', status: 201, body: '{"id":"x"}', failure: 'invalid-response', message: /answered 201/ },
    { name: 'an HTML page with 200', status: 200, body: '<html><body>Maintenance</body></html>', failure: 'invalid-response', message: /not JSON/ },
    { name: 'JSON without the id', status: 200, body: '{"jobId":"x"}', failure: 'invalid-response', message: /id/ },
    { name: '400 with a message', status: 400, body: '{"message":"Invalid fields: name","code":"INVALID_FIELDS"}', failure: 'rejected', message: /Invalid fields: name/ },
    { name: '404 workflow not found', status: 404, body: '{"message":"Workflow not found: x","code":"WORKFLOW_NOT_FOUND"}', failure: 'rejected', message: /Workflow not found/ },
    { name: '422 bad params', status: 422, body: '{"message":"Invalid workflow parameters"}', failure: 'rejected', message: /Invalid workflow parameters/ },
    { name: '401', status: 401, body: '{"message":"Missing or invalid API key"}', failure: 'unauthorized', message: /invalid API key/ },
    { name: '500', status: 500, body: '{"message":"boom"}', failure: 'unavailable' },
    { name: '502 as text', status: 502, body: 'Bad Gateway', failure: 'unavailable', message: /Bad Gateway/ },
    { name: '429 with Retry-After seconds', status: 429, body: '{"message":"Too many requests"}', headers: { 'retry-after': '3' }, failure: 'rate-limited', retryAfterMs: 3000 },
  ];
  it.each(failures)('classifies $name', async ({ status, body, headers, failure, message, retryAfterMs }) => {
    agent
      .get(API)
      .intercept({ path: '/v1/job', method: 'POST' })
      .reply(status, body, { headers: { 'content-type': body.startsWith('{') ? 'application/json' : 'text/html', ...headers } });
    const error = await rejection(adapter.create(request(), { signal }));
    expect(error.failure).toBe(failure);
    if (message !== undefined) expect(error.message).toMatch(message);
    if (retryAfterMs !== undefined) expect(error.retryAfterMs).toBe(retryAfterMs);
  });

  it('reports no answer at all as unavailable', async () => {
    agent.get(API).intercept({ path: '/v1/job', method: 'POST' }).replyWithError(new Error('socket hang up'));
    expect((await rejection(adapter.create(request(), { signal }))).failure).toBe('unavailable');
  });
});

describe('poll', () => {
  const base = {
    id: job.externalId,
    app: 'App',
    name: 'n',
    batchName: null,
    metadata: {},
    workflow: 'stems-four',
    workflowParams: { inputUrl: 'https://example.com/a.mp3' },
    createdAt: '2025-01-01T00:00:00.000Z',
    startedAt: null,
    completedAt: null,
    result: null,
    error: null,
  };
  const table: { name: string; answer: Record<string, unknown>; report: Record<string, unknown> }[] = [
    { name: 'QUEUED → queued', answer: { status: 'QUEUED' }, report: { status: 'queued', providerStatus: 'QUEUED' } },
    { name: 'STARTED → running', answer: { status: 'STARTED', startedAt: '2025-01-01T00:00:01Z' }, report: { status: 'running', providerStatus: 'STARTED' } },
    {
      name: 'SUCCEEDED → succeeded with the result map',
      answer: { status: 'SUCCEEDED', result: { vocals: `${CDN}/r/vocals.wav`, bpm: '120', custom: '[custom storage]' } },
      report: { status: 'succeeded', providerStatus: 'SUCCEEDED', result: { vocals: `${CDN}/r/vocals.wav`, bpm: '120', custom: '[custom storage]' } },
    },
    {
      name: 'SUCCEEDED with an error → still succeeded, the error kept',
      answer: { status: 'SUCCEEDED', result: { a: `${CDN}/a.wav` }, error: { code: 'BAD_INPUT', title: 'Invalid input', message: 'partly unreadable' } },
      report: { status: 'succeeded', providerStatus: 'SUCCEEDED', result: { a: `${CDN}/a.wav` }, error: { code: 'BAD_INPUT', message: 'partly unreadable' } },
    },
    {
      name: 'SUCCEEDED without a result → an empty result',
      answer: { status: 'SUCCEEDED', result: null },
      report: { status: 'succeeded', providerStatus: 'SUCCEEDED', result: {} },
    },
    {
      name: 'FAILED → failed with the code and message',
      answer: { status: 'FAILED', error: { code: 'TIMEOUT', title: 'Timeout', message: 'could not read the input' } },
      report: { status: 'failed', providerStatus: 'FAILED', error: { code: 'TIMEOUT', message: 'could not read the input' } },
    },
    {
      name: 'FAILED with only a title',
      answer: { status: 'FAILED', error: { code: 'INTERNAL_ERROR', title: 'Internal error', message: null } },
      report: { status: 'failed', error: { code: 'INTERNAL_ERROR', message: 'Internal error' } },
    },
    {
      name: 'FAILED without an error object',
      answer: { status: 'FAILED', error: null },
      report: { status: 'failed', error: { code: 'FAILED', message: expect.stringMatching(/without saying why/) } },
    },
    {
      name: 'an unknown status → queued, keeping the raw status',
      answer: { status: 'PAUSED' },
      report: { status: 'queued', providerStatus: 'PAUSED' },
    },
    {
      name: 'a legacy workflow object and a numeric id',
      answer: { status: 'STARTED', id: 17, workflow: { id: 'w1', name: 'Stems' } },
      report: { status: 'running', providerStatus: 'STARTED' },
    },
    {
      name: 'a minimal answer with only the status',
      answer: { status: 'STARTED', app: undefined, name: undefined, createdAt: undefined, result: undefined, error: undefined },
      report: { status: 'running' },
    },
  ];
  it.each(table)('translates $name', async ({ answer, report }) => {
    const seen = interceptJob({ ...base, ...answer });
    const got = await adapter.poll(job, { signal });
    expect(got).toEqual(expect.objectContaining(report));
    if (!('error' in report)) expect(got.error).toBeUndefined();
    expect(seen[0]?.headers.authorization).toBe(KEY);
  });

  it.each([
    { name: 'no status', answer: { id: 'x' }, failure: 'invalid-response' },
    { name: 'a result that is not a map', answer: { status: 'SUCCEEDED', result: ['x'] }, failure: 'invalid-response' },
  ])('reads an answer with $name as invalid-response', async ({ answer, failure }) => {
    interceptJob(answer);
    expect((await rejection(adapter.poll(job, { signal }))).failure).toBe(failure);
  });

  it('reads a 404 as rejected and a 400 (bad id) as rejected', async () => {
    interceptJob({ message: 'Job not found', code: 'NOT_FOUND' }, 404);
    const error = await rejection(adapter.poll(job, { signal }));
    expect(error).toMatchObject({ failure: 'rejected', status: 404 });
    expect(error.message).toMatch(/Job not found/);
  });

  it('escapes the id in the path', async () => {
    agent.get(API).intercept({ path: '/v1/job/a%2Fb', method: 'GET' }).reply(200, { status: 'QUEUED' }, JSON_HEADERS);
    expect((await adapter.poll({ ...job, externalId: 'a/b' }, { signal })).status).toBe('queued');
  });

  it('talks to a configured base URL with its path', async () => {
    const sim = createMusicaiAdapter({ apiKey: KEY, baseUrl: 'http://127.0.0.1:4100/v1/', dispatcher: agent });
    agent.get('http://127.0.0.1:4100').intercept({ path: `/v1/job/${job.externalId}`, method: 'GET' }).reply(200, { status: 'STARTED' }, JSON_HEADERS);
    expect((await sim.poll(job, { signal })).status).toBe('running');
  });
});

describe('cancel', () => {
  it('deletes the job', async () => {
    let auth: string | undefined;
    agent
      .get(API)
      .intercept({ path: `/v1/job/${job.externalId}`, method: 'DELETE' })
      .reply(200, (opts) => {
        auth = headersOf(opts.headers).authorization;
        return { id: job.externalId };
      }, JSON_HEADERS);
    await adapter.cancel!(job, { signal });
    expect(auth).toBe(KEY);
  });

  it('counts a job the API no longer knows as deleted', async () => {
    agent.get(API).intercept({ path: `/v1/job/${job.externalId}`, method: 'DELETE' }).reply(404, { message: 'Job not found' }, JSON_HEADERS);
    await expect(adapter.cancel!(job, { signal })).resolves.toBeUndefined();
  });

  it('passes other failures on', async () => {
    agent.get(API).intercept({ path: `/v1/job/${job.externalId}`, method: 'DELETE' }).reply(503, 'down');
    expect((await rejection(adapter.cancel!(job, { signal }))).failure).toBe('unavailable');
  });
});

describe('result files', () => {
  it('names URL outputs by output name and URL extension, and gathers the rest in result.json', () => {
    const result = {
      vocals: `${CDN}/r/1/vocals.WAV?sig=abc`,
      beats: `${CDN}/r/1/beats.json`,
      stem: `${CDN}/r/1/download`,
      bpm: '118',
      copied: '[custom storage]',
      'a/../weird name': `${CDN}/r/1/x.mp3`,
    };
    expect(adapter.resultFiles!(job, result)).toEqual([
      { name: 'vocals.wav', contentType: 'audio/wav' },
      { name: 'beats.json', contentType: 'application/json' },
      { name: 'stem.bin', contentType: 'application/octet-stream' },
      { name: 'a_weird_name.mp3', contentType: 'audio/mpeg' },
      { name: 'result.json', contentType: 'application/json' },
    ]);
  });

  it('keeps names unique, ignoring case, and never shadows result.json', () => {
    const names = musicaiResultEntries({ Mix: `${CDN}/a.wav`, mix: `${CDN}/b.wav`, result: `${CDN}/r.json`, n: 1 }).map((f) => f.name);
    expect(names).toEqual(['Mix.wav', 'mix-2.wav', 'result-2.json', 'result.json']);
  });

  it('keeps an output named __proto__ as data in result.json', async () => {
    const result = JSON.parse('{"__proto__":{"polluted":true},"bpm":"90"}') as Record<string, unknown>;
    const file = await adapter.download!(job, result as never, 'result.json', { signal });
    const body = await text(file.body);
    expect(JSON.parse(body)).toEqual(JSON.parse('{"__proto__":{"polluted":true},"bpm":"90"}'));
    expect(body).toContain('"__proto__"');
  });

  it('offers nothing for a result that is not a map', () => {
    expect(adapter.resultFiles!(job, null)).toEqual([]);
    expect(adapter.resultFiles!(job, ['x'])).toEqual([]);
    expect(adapter.resultFiles!(job, {})).toEqual([]);
  });

  it('downloads a CDN file without the API key', async () => {
    let headers: Record<string, string> = {};
    agent
      .get(CDN)
      .intercept({ path: '/r/1/vocals.wav?sig=abc', method: 'GET' })
      .reply(200, (opts) => {
        headers = headersOf(opts.headers);
        return 'RIFFdata';
      }, { headers: { 'content-type': 'application/octet-stream' } });
    const file = await adapter.download!(job, { vocals: `${CDN}/r/1/vocals.wav?sig=abc` }, 'vocals.wav', { signal });
    expect(await text(file.body)).toBe('RIFFdata');
    expect(file.contentType).toBe('audio/wav');
    expect(headers.authorization).toBeUndefined();
  });

  it('sends the API key only to the API origin, and keeps a specific content type', async () => {
    let headers: Record<string, string> = {};
    agent
      .get(API)
      .intercept({ path: '/files/beats.json', method: 'GET' })
      .reply(200, (opts) => {
        headers = headersOf(opts.headers);
        return '{"beats":[]}';
      }, { headers: { 'content-type': 'application/json; charset=utf-8' } });
    const file = await adapter.download!(job, { beats: `${API}/files/beats.json` }, 'beats.json', { signal });
    expect(file.contentType).toBe('application/json; charset=utf-8');
    expect(await text(file.body)).toBe('{"beats":[]}');
    expect(headers.authorization).toBe(KEY);
  });

  it('serves result.json from the stored result without a call', async () => {
    const file = await adapter.download!(job, { bpm: '118', vocals: `${CDN}/v.wav`, n: 3 }, 'result.json', { signal });
    expect(file.contentType).toBe('application/json');
    expect(JSON.parse(await text(file.body))).toEqual({ bpm: '118', n: 3 });
  });

  it('rejects an unknown file name, and classifies a vanished file', async () => {
    expect((await rejection(adapter.download!(job, { bpm: '1' }, 'vocals.wav', { signal }))).failure).toBe('rejected');
    agent.get(CDN).intercept({ path: '/gone.wav', method: 'GET' }).reply(404, 'NoSuchKey');
    expect((await rejection(adapter.download!(job, { v: `${CDN}/gone.wav` }, 'v.wav', { signal }))).failure).toBe('rejected');
  });
});

describe('listMusicaiWorkflows and listMusicaiJobs', () => {
  it('lists workflows with paging', async () => {
    agent
      .get(API)
      .intercept({ path: '/v1/workflow?page=1&size=2', method: 'GET' })
      .reply(200, { workflows: [{ id: 'w1', name: '4 Stems', slug: 'stems-four', description: 'd', createdAt: 'c', updatedAt: 'u' }] }, JSON_HEADERS);
    const workflows = await listMusicaiWorkflows({ apiKey: KEY, dispatcher: agent, page: 1, size: 2 }, signal);
    expect(workflows).toEqual([expect.objectContaining({ slug: 'stems-four', name: '4 Stems' })]);
  });

  it.each([
    { name: 'a bare array', answer: [{ id: 'j1', status: 'QUEUED' }] },
    { name: '{ jobs }', answer: { jobs: [{ id: 'j1', status: 'QUEUED' }] } },
  ])('lists jobs answered as $name, with repeated filters', async ({ answer }) => {
    agent
      .get(API)
      .intercept({ path: '/v1/job?status=QUEUED&status=STARTED&workflow=stems-four', method: 'GET' })
      .reply(200, answer, JSON_HEADERS);
    const jobs = await listMusicaiJobs({ apiKey: KEY, dispatcher: agent, status: ['QUEUED', 'STARTED'], workflow: ['stems-four'] }, signal);
    expect(jobs).toEqual([expect.objectContaining({ id: 'j1', status: 'QUEUED' })]);
  });

  it('reads a list of something else as invalid-response', async () => {
    agent.get(API).intercept({ path: '/v1/job', method: 'GET' }).reply(200, { items: [] }, JSON_HEADERS);
    expect((await rejection(listMusicaiJobs({ apiKey: KEY, dispatcher: agent }, signal))).failure).toBe('invalid-response');
  });
});
