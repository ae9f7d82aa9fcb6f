import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { FormData, MockAgent } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { renderCambaiTranscript, srtTime } from '../../../src/providers/cambai/cambai-adapter-transcript-files.js';
import { CAMBAI_KINDS, CAMBAI_POLL_POLICY, createCambaiAdapter } from '../../../src/providers/cambai/cambai-adapter.js';
import type { CreateJobRequest, ProviderAdapter, ProviderJobRef } from '../../../src/streams/provider-port.js';
import { InvalidRequestError, ProviderError } from '../../../src/streams/errors.js';

const API = 'https://client.camb.ai';
const KEY = 'camb-test-key';
const JSON_HEADERS = { headers: { 'content-type': 'application/json' } };
const TASK = '0b4d8c52-7f1e-4a6b-9c3d-2e5f8a1b4c7d';
const job: ProviderJobRef = { externalId: TASK, kind: 'transcription', options: { language: 1 } };
const SEGMENTS = [
  { start: 0, end: 1.25, text: 'Hello there.', speaker: 'Speaker 1' },
  { start: 1.25, end: 3, text: 'General Kenobi!', speaker: 'Speaker 2' },
];

let agent: MockAgent;
/** Fresh per test: MockAgent leaves an abort listener behind per call (a real Agent does not). */
let signal: AbortSignal;
let adapter: ProviderAdapter;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cambai-adapter-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  signal = new AbortController().signal;
  agent = new MockAgent();
  agent.disableNetConnect();
  adapter = createCambaiAdapter({ apiKey: KEY, dispatcher: agent });
});
afterEach(async () => {
  agent.assertNoPendingInterceptors();
  await agent.close();
});

function request(overrides: Partial<CreateJobRequest> = {}): CreateJobRequest {
  return {
    kind: 'transcription',
    input: { type: 'url', url: 'https://example.com/talk.mp3' },
    name: null,
    metadata: {},
    options: { language: 1 },
    ...overrides,
  };
}

function headersOf(raw: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries((raw ?? {}) as Record<string, unknown>)) out[k.toLowerCase()] = String(v);
  return out;
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

function interceptStatus(answer: unknown, status = 200): void {
  agent.get(API).intercept({ path: `/apis/transcribe/${TASK}`, method: 'GET' }).reply(status, answer as object, JSON_HEADERS);
}

function interceptResult(runId: number | string, answer: unknown, status = 200): void {
  agent.get(API).intercept({ path: `/apis/transcription-result/${runId}`, method: 'GET' }).reply(status, answer as object, JSON_HEADERS);
}

describe('createCambaiAdapter', () => {
  it('describes a poll-only provider without cancel and with the documented poll defaults', () => {
    expect(adapter).toMatchObject({ provider: 'cambai', kinds: CAMBAI_KINDS, webhooks: false });
    expect(adapter.kinds).toEqual(['transcription']);
    expect('parseWebhook' in adapter).toBe(false);
    expect('cancel' in adapter).toBe(false);
    expect(adapter.pollPolicy).toEqual({
      intervalMs: 5000,
      backoff: { initialMs: 2000, maxMs: 120_000 },
      rate: { limit: 5, windowMs: 1000 },
      maxInFlight: 8,
    });
    expect(adapter.credentialId).not.toContain(KEY);
  });

  it('applies pollPolicy overrides and checks its options', () => {
    expect(createCambaiAdapter({ apiKey: KEY, dispatcher: agent, pollPolicy: { intervalMs: 15_000 } }).pollPolicy).toEqual({
      ...CAMBAI_POLL_POLICY,
      intervalMs: 15_000,
    });
    expect(() => createCambaiAdapter({ apiKey: '', dispatcher: agent })).toThrow(/apiKey/);
    expect(() => createCambaiAdapter({ apiKey: KEY, baseUrl: 'client.camb.ai', dispatcher: agent })).toThrow(/baseUrl/);
  });
});

describe('validate', () => {
  const table: { name: string; req: Partial<CreateJobRequest>; issues: { field: string; reason: RegExp }[] }[] = [
    { name: 'a complete request', req: {}, issues: [] },
    { name: 'project fields', req: { options: { language: 54, projectName: 'p', projectDescription: 'd' } }, issues: [] },
    { name: 'no language (no silent English)', req: { options: {} }, issues: [{ field: 'options.language', reason: /is required/ }] },
    { name: 'a locale string (en-gb)', req: { options: { language: 'en-gb' } }, issues: [] },
    { name: '"auto"', req: { options: { language: 'auto' } }, issues: [] },
    { name: 'an SDK id outside the old seven (35 en-gb)', req: { options: { language: 35 } }, issues: [] },
    {
      name: 'the new options',
      req: { options: { language: 151, transcriptionMode: 'slow', runAudioCleaning: false, wordLevelTimestamps: true } },
      issues: [],
    },
    { name: 'an unknown locale', req: { options: { language: 'xx-yy' } }, issues: [{ field: 'options.language', reason: /neither "auto" nor a Camb.ai locale/ }] },
    { name: 'a fractional language', req: { options: { language: 1.5 } }, issues: [{ field: 'options.language', reason: /integer/ }] },
    { name: 'a language id of 0', req: { options: { language: 0 } }, issues: [{ field: 'options.language', reason: /not a Camb.ai language id/ }] },
    { name: 'an id the SDK enum skips (137)', req: { options: { language: 137 } }, issues: [{ field: 'options.language', reason: /not a Camb.ai language id/ }] },
    { name: 'an unknown id (9999)', req: { options: { language: 9999 } }, issues: [{ field: 'options.language', reason: /not a Camb.ai language id/ }] },
    { name: 'a transcription mode other than fast or slow', req: { options: { language: 1, transcriptionMode: 'turbo' } }, issues: [{ field: 'options.transcriptionMode', reason: /fast|slow/ }] },
    { name: 'no input', req: { input: undefined }, issues: [{ field: 'input', reason: /needs an input/ }] },
    { name: 'a non-string project name', req: { options: { language: 1, projectName: 3 } }, issues: [{ field: 'options.projectName', reason: /string/ }] },
    { name: 'an unknown option', req: { options: { language: 1, project_name: 'x' } }, issues: [{ field: 'options.project_name', reason: /unknown option/ }] },
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

/** Answers the next `POST /transcribe` with a task id and keeps the form and headers it was sent. */
function captureTranscribe(): { form?: FormData; headers: Record<string, string> } {
  const sent: { form?: FormData; headers: Record<string, string> } = { headers: {} };
  agent
    .get(API)
    .intercept({ path: '/apis/transcribe', method: 'POST' })
    .reply(200, (opts) => {
      sent.form = opts.body as unknown as FormData;
      sent.headers = headersOf(opts.headers);
      return { task_id: TASK };
    }, JSON_HEADERS);
  return sent;
}

describe('create', () => {
  it('posts multipart with the language as text and media_url, with x-api-key', async () => {
    const sent = captureTranscribe();
    const created = await adapter.create(request({ options: { language: 54, projectName: 'Pod', projectDescription: 'Ep 1' } }), { signal });
    expect(created).toEqual({ externalId: TASK });
    expect(sent.headers['x-api-key']).toBe(KEY);
    expect(sent.headers.authorization).toBeUndefined();
    expect(sent.form).toBeInstanceOf(FormData);
    expect(sent.form?.get('language')).toBe('54');
    expect(sent.form?.get('media_url')).toBe('https://example.com/talk.mp3');
    expect(sent.form?.get('media_file')).toBeNull();
    expect(sent.form?.get('project_name')).toBe('Pod');
    expect(sent.form?.get('project_description')).toBe('Ep 1');
  });

  it('sends "auto", transcription_mode and run_audio_cleaning as form fields (they were refused as unknown options)', async () => {
    const sent = captureTranscribe();
    await adapter.create(request({ options: { language: 'auto', transcriptionMode: 'slow', runAudioCleaning: false } }), { signal });
    expect(sent.form?.get('language')).toBe('auto');
    expect(sent.form?.get('transcription_mode')).toBe('slow');
    expect(sent.form?.get('run_audio_cleaning')).toBe('false');
  });

  it('leaves transcription_mode and run_audio_cleaning out when not asked for, so the API defaults apply', async () => {
    const sent = captureTranscribe();
    await adapter.create(request({ options: { language: 'EN_GB' } }), { signal });
    expect(sent.form?.get('language')).toBe('en-gb');
    expect(sent.form?.has('transcription_mode')).toBe(false);
    expect(sent.form?.has('run_audio_cleaning')).toBe(false);
  });

  it('sends a file as media_file with its name, type and bytes', async () => {
    const path = join(dir, 'talk.wav');
    await writeFile(path, Buffer.from('RIFF....WAVE'));
    const sent = captureTranscribe();
    await adapter.create(request({ input: { type: 'file', path, filename: 'episode.wav', contentType: 'audio/wav' } }), { signal });
    const file = sent.form?.get('media_file') as File;
    expect(file.name).toBe('episode.wav');
    expect(file.type).toBe('audio/wav');
    expect(await file.text()).toBe('RIFF....WAVE');
    expect(sent.form?.get('media_url')).toBeNull();
  });

  it('refuses a file it cannot read before calling the API', async () => {
    const error: unknown = await adapter.create(request({ input: { type: 'file', path: join(dir, 'nope.wav') } }), { signal }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect((error as InvalidRequestError).issues[0]?.field).toBe('input.path');
  });

  it.each([
    { name: 'a null task_id', body: { task_id: null } },
    { name: 'an empty task_id', body: { task_id: '' } },
    { name: 'no task_id', body: { id: TASK } },
  ])('reads an answer with $name as invalid-response', async ({ body }) => {
    agent.get(API).intercept({ path: '/apis/transcribe', method: 'POST' }).reply(200, body, JSON_HEADERS);
    expect((await rejection(adapter.create(request(), { signal }))).failure).toBe('invalid-response');
  });

  const failures: { name: string; status: number; body: string; headers?: Record<string, string>; failure: string; message?: RegExp; retryAfterMs?: number }[] = [
    {
      name: '422 naming the field',
      status: 422,
      body: JSON.stringify({ detail: [{ type: 'missing', loc: ['body', 'language'], msg: 'Field required', input: null }] }),
      failure: 'rejected',
      message: /body\.language: Field required/,
    },
    { name: '401 with detail', status: 401, body: '{"detail":"Invalid API key"}', failure: 'unauthorized', message: /Invalid API key/ },
    { name: '403', status: 403, body: '{"detail":"Forbidden"}', failure: 'unauthorized' },
    { name: '500', status: 500, body: '{"detail":"Internal Server Error"}', failure: 'unavailable' },
    { name: '503 as HTML', status: 503, body: '<html>Service Unavailable</html>', failure: 'unavailable' },
    { name: '429 with Retry-After', status: 429, body: '{"detail":"Too many requests"}', headers: { 'retry-after': '2' }, failure: 'rate-limited', retryAfterMs: 2000 },
    { name: 'an HTML page with 200', status: 200, body: '<!doctype html><title>Login</title>', failure: 'invalid-response', message: /not JSON/ },
  ];
  it.each(failures)('classifies $name', async ({ status, body, headers, failure, message, retryAfterMs }) => {
    agent
      .get(API)
      .intercept({ path: '/apis/transcribe', method: 'POST' })
      .reply(status, body, { headers: { 'content-type': body.startsWith('{') ? 'application/json' : 'text/html', ...headers } });
    const error = await rejection(adapter.create(request(), { signal }));
    expect(error.failure).toBe(failure);
    if (message !== undefined) expect(error.message).toMatch(message);
    if (retryAfterMs !== undefined) expect(error.retryAfterMs).toBe(retryAfterMs);
  });
});

describe('poll', () => {
  it('reads PENDING as running (Camb.ai has no separate queued state)', async () => {
    interceptStatus({ status: 'PENDING', run_id: null, exception_reason: null, message: null });
    expect(await adapter.poll(job, { signal })).toEqual({ status: 'running', providerStatus: 'PENDING' });
  });

  it.each([
    { name: '{ transcript } (SDK)', answer: { transcript: SEGMENTS } },
    { name: 'a bare array (docs)', answer: SEGMENTS },
    {
      name: 'numeric strings and a missing speaker',
      answer: [
        { start: '0', end: '1.25', text: 'Hello there.', speaker: 'Speaker 1' },
        { start: 1.25, end: '3.0', text: 'General Kenobi!', speaker: 'Speaker 2' },
        { start: 3, end: 4, text: 'x' },
      ],
      extra: { start: 3, end: 4, text: 'x', speaker: '' },
    },
  ])('on SUCCESS fetches the transcript answered as $name', async ({ answer, extra }) => {
    interceptStatus({ status: 'SUCCESS', run_id: 41_237, exception_reason: null, message: null });
    interceptResult(41_237, answer);
    expect(await adapter.poll(job, { signal })).toEqual({
      status: 'succeeded',
      providerStatus: 'SUCCESS',
      result: { runId: 41_237, transcript: extra === undefined ? SEGMENTS : [...SEGMENTS, extra] },
    });
  });

  it('asks for word-level timestamps when the job has wordLevelTimestamps (the query was never sent)', async () => {
    interceptStatus({ status: 'SUCCESS', run_id: 5 });
    agent
      .get(API)
      .intercept({ path: '/apis/transcription-result/5', query: { word_level_timestamps: 'true' }, method: 'GET' })
      .reply(200, { transcript: SEGMENTS }, JSON_HEADERS);
    const words: ProviderJobRef = { ...job, options: { language: 'auto', wordLevelTimestamps: true } };
    expect(await adapter.poll(words, { signal })).toMatchObject({ status: 'succeeded', result: { runId: 5, transcript: SEGMENTS } });
  });

  it('accepts a run id sent as a string', async () => {
    interceptStatus({ status: 'SUCCESS', run_id: '77' });
    interceptResult(77, { transcript: [] });
    expect(await adapter.poll(job, { signal })).toMatchObject({ status: 'succeeded', result: { runId: 77, transcript: [] } });
  });

  it('reads SUCCESS without a run_id as invalid-response', async () => {
    interceptStatus({ status: 'SUCCESS', run_id: null });
    const error = await rejection(adapter.poll(job, { signal }));
    expect(error.failure).toBe('invalid-response');
    expect(error.message).toMatch(/run_id/);
  });

  it.each([
    { name: 'a 404 for the result', status: 404, answer: { detail: 'No transcription result for run 5' }, failure: 'rejected' },
    { name: 'segments without text', status: 200, answer: { transcript: [{ start: 0, end: 1 }] }, failure: 'invalid-response' },
    { name: 'a file descriptor instead of data', status: 200, answer: { file_url: 'https://x/y.txt', expiry: 'soon' }, failure: 'invalid-response' },
  ])('fails the poll on $name', async ({ status, answer, failure }) => {
    interceptStatus({ status: 'SUCCESS', run_id: 5 });
    interceptResult(5, answer, status);
    expect((await rejection(adapter.poll(job, { signal }))).failure).toBe(failure);
  });

  const endings: { name: string; answer: Record<string, unknown>; error: { code: string; message: string | RegExp } }[] = [
    {
      name: 'ERROR with an exception reason',
      answer: { status: 'ERROR', run_id: null, exception_reason: 'SOURCE_TOO_LONG', message: 'The media is too long.' },
      error: { code: 'SOURCE_TOO_LONG', message: 'The media is too long.' },
    },
    {
      name: 'TIMEOUT with a null reason',
      answer: { status: 'TIMEOUT', exception_reason: null, message: 'The task exceeded its processing time limit.' },
      error: { code: 'TIMEOUT', message: 'The task exceeded its processing time limit.' },
    },
    {
      name: 'PAYMENT_REQUIRED',
      answer: { status: 'PAYMENT_REQUIRED', exception_reason: 'PAYMENT_REQUIRED', message: 'Insufficient credits.' },
      error: { code: 'PAYMENT_REQUIRED', message: 'Insufficient credits.' },
    },
    {
      name: 'ERROR with reason NONE and an object message',
      answer: { status: 'ERROR', exception_reason: 'NONE', message: { stage: 'asr', detail: 'crashed' } },
      error: { code: 'ERROR', message: '{"stage":"asr","detail":"crashed"}' },
    },
    {
      name: 'ERROR with an empty reason and no message',
      answer: { status: 'ERROR', exception_reason: '', message: null },
      error: { code: 'ERROR', message: /status "ERROR"/ },
    },
    {
      name: 'an unknown status (terminal, per providers.md 4.7)',
      answer: { status: 'CANCELLED' },
      error: { code: 'CANCELLED', message: /status "CANCELLED"/ },
    },
  ];
  it.each(endings)('reads $name as failed', async ({ answer, error }) => {
    interceptStatus(answer);
    const report = await adapter.poll(job, { signal });
    expect(report.status).toBe('failed');
    expect(report.providerStatus).toBe(answer.status);
    expect(report.error?.code).toBe(error.code);
    expect(report.error?.message).toMatch(error.message);
    expect(report.result).toBeUndefined();
  });

  it.each([
    { name: 'no status', status: 200, answer: { run_id: 3 }, failure: 'invalid-response' },
    { name: 'an unknown task', status: 404, answer: { detail: 'Task not found' }, failure: 'rejected' },
    { name: 'a 502', status: 502, answer: { detail: 'Bad Gateway' }, failure: 'unavailable' },
  ])('fails the poll on $name', async ({ status, answer, failure }) => {
    interceptStatus(answer, status);
    expect((await rejection(adapter.poll(job, { signal }))).failure).toBe(failure);
  });

  it('sends the key and escapes the task id', async () => {
    let headers: Record<string, string> = {};
    agent
      .get(API)
      .intercept({ path: '/apis/transcribe/a%20b', method: 'GET' })
      .reply(200, (opts) => {
        headers = headersOf(opts.headers);
        return { status: 'PENDING' };
      }, JSON_HEADERS);
    await adapter.poll({ ...job, externalId: 'a b' }, { signal });
    expect(headers['x-api-key']).toBe(KEY);
  });
});

describe('result files', () => {
  const result = { runId: 9, transcript: [...SEGMENTS, { start: 3661.0005, end: 3662.5, text: 'Line\nbreak', speaker: '' }] };

  it('offers JSON, text and SubRip for a stored transcript, nothing for anything else', () => {
    expect(adapter.resultFiles!(job, result).map((f) => f.name)).toEqual(['transcript.json', 'transcript.txt', 'transcript.srt']);
    expect(adapter.resultFiles!(job, null)).toEqual([]);
    expect(adapter.resultFiles!(job, { transcript: 'x' })).toEqual([]);
  });

  it('renders the segments as JSON', async () => {
    const file = await adapter.download!(job, result, 'transcript.json', { signal });
    expect(file.contentType).toBe('application/json');
    expect(JSON.parse(await text(file.body))).toEqual(result.transcript);
  });

  it('renders one "speaker: text" line per segment', async () => {
    const file = await adapter.download!(job, result, 'transcript.txt', { signal });
    expect(file.contentType).toMatch(/^text\/plain/);
    expect(await text(file.body)).toBe('Speaker 1: Hello there.\nSpeaker 2: General Kenobi!\nLine break\n');
  });

  it('renders SubRip cues with real timing', async () => {
    const file = await adapter.download!(job, result, 'transcript.srt', { signal });
    expect(file.contentType).toBe('application/x-subrip');
    expect(await text(file.body)).toBe(
      [
        '1\n00:00:00,000 --> 00:00:01,250\nSpeaker 1: Hello there.\n',
        '2\n00:00:01,250 --> 00:00:03,000\nSpeaker 2: General Kenobi!\n',
        '3\n01:01:01,001 --> 01:01:02,500\nLine break\n',
      ].join('\n'),
    );
  });

  it('formats SubRip times and keeps cues in order when the provider does not', () => {
    expect(srtTime(1.25)).toBe('00:00:01,250');
    expect(srtTime(-1)).toBe('00:00:00,000');
    expect(srtTime(360_000)).toBe('100:00:00,000');
    expect(renderCambaiTranscript('transcript.srt', [{ start: 5, end: 4, text: 'x', speaker: 'A' }])).toBe('1\n00:00:05,000 --> 00:00:05,000\nA: x\n');
    expect(renderCambaiTranscript('transcript.vtt', SEGMENTS)).toBeUndefined();
  });

  it('rejects an unknown file name or a result without a transcript', async () => {
    expect((await rejection(adapter.download!(job, result, 'transcript.vtt', { signal }))).failure).toBe('rejected');
    expect((await rejection(adapter.download!(job, { runId: 1 }, 'transcript.txt', { signal }))).failure).toBe('rejected');
  });
});
