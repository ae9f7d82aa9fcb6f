import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { MockAgent, type FormData } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createKlangioAdapter, KLANGIO_KINDS, KLANGIO_POLL_POLICY } from '../../../src/providers/klangio/klangio-adapter.js';
import type { KlangioAdapterOptions } from '../../../src/providers/klangio/klangio-adapter.js';
import type { CreateJobRequest, JobInput, ProviderAdapter, ProviderJobRef } from '../../../src/streams/provider-port.js';
import { InvalidWebhookError, ProviderError } from '../../../src/streams/errors.js';
import type { JsonValue } from '../../../src/streams/job-snapshot.js';

const BASE = 'https://api.klang.io';
const KEY = 'kl-test-key';
const JSON_HEADERS = { headers: { 'content-type': 'application/json' } };

let agent: MockAgent;
let dir: string;
let audioPath: string;
const context = () => ({ signal: new AbortController().signal });

beforeEach(async () => {
  agent = new MockAgent();
  agent.disableNetConnect();
  dir = await mkdtemp(join(tmpdir(), 'klangio-adapter-'));
  audioPath = join(dir, 'song.wav');
  await writeFile(audioPath, Buffer.from('RIFF....WAVEfake audio'));
});

afterEach(async () => {
  agent.assertNoPendingInterceptors();
  await agent.close();
  await rm(dir, { recursive: true, force: true });
});

/**
 * MockAgent answers in-process for made-up hosts (cdn.example), which the URL guard would resolve
 * for real: these unit tests allow private URLs; test/providers/url-guard.test.ts tests the guard.
 */
function adapter(options: Partial<KlangioAdapterOptions> = {}): ProviderAdapter {
  return createKlangioAdapter({ apiKey: KEY, dispatcher: agent, allowPrivateUrls: true, ...options });
}

function request(kind: string, options: Record<string, JsonValue> = {}, input?: JobInput, webhookUrl?: string): CreateJobRequest {
  return { kind, input: input ?? { type: 'file', path: audioPath }, name: null, metadata: {}, options, webhookUrl };
}

const ref = (kind: string, options: Record<string, JsonValue> = {}, externalId = 'job1'): ProviderJobRef => ({ externalId, kind, options });

/** Intercepts one POST to `path…` and records its query and multipart form. */
function interceptCreate(path: string, answer: { status?: number; body?: unknown; headers?: Record<string, string> } = {}) {
  const seen: { url?: URL; form?: FormData; headers?: Record<string, string> } = {};
  agent
    .get(BASE)
    .intercept({ path: (p) => p.split('?')[0] === path, method: 'POST' })
    .reply((opts) => {
      seen.url = new URL(opts.path, BASE);
      seen.form = opts.body as unknown as FormData;
      seen.headers = opts.headers as Record<string, string>;
      return { statusCode: answer.status ?? 200, data: answer.body ?? { job_id: 'job1' }, responseOptions: { headers: { 'content-type': 'application/json', ...answer.headers } } };
    });
  return seen;
}

function replyStatus(body: unknown, externalId = 'job1', status = 200) {
  agent.get(BASE).intercept({ path: `/job/${externalId}/status`, method: 'GET', headers: { 'kl-api-key': KEY } }).reply(status, body as object, JSON_HEADERS);
}

describe('createKlangioAdapter', () => {
  it('describes the provider, its kinds and the documented poll policy', () => {
    const a = adapter({ pollPolicy: { intervalMs: 50 } });
    expect(a.provider).toBe('klangio');
    expect(a.kinds).toEqual(KLANGIO_KINDS);
    expect(a.webhooks).toBe(true);
    expect('cancel' in a).toBe(false);
    expect(a.credentialId).not.toContain(KEY);
    expect(a.pollPolicy).toEqual({ ...KLANGIO_POLL_POLICY, intervalMs: 50 });
    expect(KLANGIO_POLL_POLICY).toMatchObject({ intervalMs: 10_000, watchdog: { quietMs: 60_000 }, rate: { limit: 10, windowMs: 1000 }, maxInFlight: 8 });
  });

  it('refuses invalid adapter options', () => {
    expect(() => createKlangioAdapter({ apiKey: '', dispatcher: agent })).toThrow(TypeError);
    expect(() => adapter({ baseUrl: 'not a url' })).toThrow(TypeError);
    expect(() => adapter({ maxInputBytes: 0 })).toThrow(TypeError);
    expect(() => adapter({ separationPath: 'no-slash' })).toThrow(TypeError);
  });
});

describe('Klangio adapter: validate', () => {
  const validate = (kind: string, options: Record<string, JsonValue>, input?: JobInput | null) =>
    adapter().validate!({ kind, input: input === null ? undefined : (input ?? { type: 'file', path: '/a.wav' }), name: null, metadata: {}, options });

  it.each([
    ['transcription', {}],
    ['transcription', { model: 'piano_arrangement', outputs: ['pdf', 'gp5', 'midi_quant'], title: 'T', composer: 'C' }],
    ['chord-recognition', { vocabulary: 'full' }],
    ['chord-recognition-extended', {}],
    ['beat-tracking', {}],
    ['strum-recognition', {}],
    ['source-separation', { model: 'six-stems', format: 'mp3' }],
    ['transcription', { model: 'detect', outputs: ['json', 'midi'] }],
  ])('accepts %s with %j', (kind, options) => {
    expect(validate(kind, options as Record<string, JsonValue>)).toEqual([]);
  });

  it.each([
    ['transcription', { model: 'kazoo' }, 'options.model'],
    ['transcription', { outputs: [] }, 'options.outputs'],
    ['transcription', { outputs: ['mxml', 'xml'] }, 'options.outputs.1'],
    ['transcription', { outputs: 'mxml' }, 'options.outputs'],
    ['transcription', { title: '' }, 'options.title'],
    ['transcription', { modle: 'guitar' }, 'options.modle'],
    ['chord-recognition', { vocabulary: 'jazz' }, 'options.vocabulary'],
    ['beat-tracking', { vocabulary: 'full' }, 'options.vocabulary'],
    ['source-separation', { model: 'two-stems' }, 'options.model'],
    ['source-separation', { format: 'flac' }, 'options.format'],
  ])('refuses %s with %j at %s', (kind, options, field) => {
    expect(validate(kind, options as Record<string, JsonValue>).map((i) => i.field)).toContain(field);
  });

  it('requires an input and only downloads http(s) URLs', () => {
    expect(validate('beat-tracking', {}, null)).toEqual([{ field: 'input', reason: expect.stringContaining('need audio') }]);
    expect(validate('beat-tracking', {}, { type: 'url', url: 'ftp://example.com/a.wav' })).toEqual([
      { field: 'input.url', reason: expect.stringContaining('http') },
    ]);
  });
});

describe('Klangio adapter: create', () => {
  it('uploads a file as multipart "file", outputs as repeated fields, options and webhook_url in the query', async () => {
    const seen = interceptCreate('/transcription', { body: { job_id: 'abc123', creation_date: '2025-01-01', deletion_date: '2025-01-15', status_endpoint_url: 'x', gen_midi_unq: true } });
    const created = await adapter().create(request('transcription', { model: 'guitar', title: 'Étude' }, undefined, 'http://hooks.example/k/t'), context());
    // The flags are kept with the job (an older name included): they decide its result files.
    expect(created).toEqual({ externalId: 'abc123', providerData: { gen_midi_unq: true } });
    expect(seen.headers?.['kl-api-key']).toBe(KEY);
    expect(Object.fromEntries(seen.url!.searchParams)).toEqual({ model: 'guitar', title: 'Étude', webhook_url: 'http://hooks.example/k/t' });
    expect(seen.form!.getAll('outputs')).toEqual(['mxml', 'midi']);
    const file = seen.form!.get('file') as File;
    expect(file.name).toBe('song.wav');
    expect(Buffer.from(await file.arrayBuffer()).toString()).toBe('RIFF....WAVEfake audio');
  });

  it('sends the requested outputs once each and no webhook_url when there is none', async () => {
    const seen = interceptCreate('/transcription');
    await adapter().create(request('transcription', { outputs: ['pdf', 'gp5', 'pdf'] }), context());
    expect(seen.form!.getAll('outputs')).toEqual(['pdf', 'gp5']);
    expect(seen.url!.searchParams.has('webhook_url')).toBe(false);
    expect(seen.url!.searchParams.get('model')).toBe('universal');
  });

  it.each([
    ['chord-recognition', {}, '/chord-recognition', { vocabulary: 'major-minor' }],
    ['chord-recognition-extended', { vocabulary: 'full' }, '/chord-recognition-extended', { vocabulary: 'full' }],
    ['beat-tracking', {}, '/beat-tracking', {}],
    ['strum-recognition', {}, '/strum-recognition', {}],
    ['source-separation', {}, '/source-separation', { model: 'four-stems', output: 'wav' }],
    ['source-separation', { model: 'six-stems', format: 'mp3' }, '/source-separation', { model: 'six-stems', output: 'mp3' }],
  ])('creates %s %j at %s with query %j', async (kind, options, path, query) => {
    const seen = interceptCreate(path);
    await adapter().create(request(kind, options), context());
    expect(Object.fromEntries(seen.url!.searchParams)).toEqual(query);
    expect(seen.form!.has('outputs')).toBe(false);
  });

  it('sends the separation audio format as output (as clients in the wild do), or as format when configured', async () => {
    const seen = interceptCreate('/source-separation');
    await adapter().create(request('source-separation', { format: 'mp3' }), context());
    expect(seen.url!.searchParams.get('output')).toBe('mp3');
    expect(seen.url!.searchParams.has('format')).toBe(false);
    const legacy = interceptCreate('/source-separation');
    await adapter({ separationFormatParam: 'format' }).create(request('source-separation', { format: 'mp3' }), context());
    expect(legacy.url!.searchParams.get('format')).toBe('mp3');
    expect(legacy.url!.searchParams.has('output')).toBe(false);
    expect(() => adapter({ separationFormatParam: 'fmt' as 'format' })).toThrow(TypeError);
  });

  it('uses the configured separation path', async () => {
    const seen = interceptCreate('/separation');
    await adapter({ separationPath: '/separation' }).create(request('source-separation'), context());
    expect(seen.url!.pathname).toBe('/separation');
  });

  it.each([
    [{ id: 'from-id' }, 'from-id'],
    [{ job_id: 4711 }, '4711'],
  ])('reads the job id from %j', async (body, id) => {
    interceptCreate('/beat-tracking', { body });
    expect(await adapter().create(request('beat-tracking'), context())).toEqual({ externalId: id });
  });

  it('keeps the gen_* flags of a transcription create answer as the job\'s providerData (was: dropped)', async () => {
    const answer = { job_id: 'j', creation_date: '2025-01-01', deletion_date: '2025-01-15', status_endpoint_url: 'x', gen_xml: true, gen_midi: true, gen_gp5: false, gen_pdf: true };
    interceptCreate('/transcription', { body: { ...answer, gen_odd: 'yes' } });
    const created = await adapter().create(request('transcription', { outputs: ['midi', 'pdf', 'gp5'] }), context());
    expect(created).toEqual({ externalId: 'j', providerData: { gen_xml: true, gen_midi: true, gen_gp5: false, gen_pdf: true } });
    // Other kinds have no flags to keep, and an answer without flags keeps nothing.
    interceptCreate('/beat-tracking', { body: { job_id: 'b', gen_xml: true } });
    expect(await adapter().create(request('beat-tracking'), context())).toEqual({ externalId: 'b' });
    interceptCreate('/transcription', { body: { job_id: 't' } });
    expect(await adapter().create(request('transcription'), context())).toEqual({ externalId: 't' });
  });

  it('reports a status the create answer carries', async () => {
    interceptCreate('/beat-tracking', { body: { job_id: 'j', status: 'IN_QUEUE' } });
    expect(await adapter().create(request('beat-tracking'), context())).toEqual({ externalId: 'j', report: { status: 'queued', providerStatus: 'IN_QUEUE' } });
  });

  it('downloads a URL input through the dispatcher, then uploads it', async () => {
    agent.get('https://cdn.example').intercept({ path: '/music/take%201.mp3', method: 'GET' }).reply(200, Buffer.from('ID3 mp3 bytes'), { headers: { 'content-type': 'audio/mpeg' } });
    const seen = interceptCreate('/beat-tracking');
    await adapter().create(request('beat-tracking', {}, { type: 'url', url: 'https://cdn.example/music/take%201.mp3' }), context());
    const file = seen.form!.get('file') as File;
    expect(file.name).toBe('take 1.mp3');
    expect(file.type).toBe('audio/mpeg');
    expect(Buffer.from(await file.arrayBuffer()).toString()).toBe('ID3 mp3 bytes');
  });

  it('refuses a URL input larger than maxInputBytes without calling Klangio', async () => {
    agent.get('https://cdn.example').intercept({ path: '/big.wav', method: 'GET' }).reply(200, Buffer.alloc(2048));
    const error = await adapter({ maxInputBytes: 1024 }).create(request('beat-tracking', {}, { type: 'url', url: 'https://cdn.example/big.wav' }), context()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ failure: 'rejected', providerCode: 'INPUT_TOO_LARGE' });
  });

  it('refuses a file larger than maxInputBytes', async () => {
    await expect(adapter({ maxInputBytes: 4 }).create(request('beat-tracking'), context())).rejects.toMatchObject({ failure: 'rejected', providerCode: 'INPUT_TOO_LARGE' });
  });

  it.each([
    [401, 'unauthorized input host'],
    [404, 'missing input'],
    [503, 'input host down'],
  ])('turns an input download answering %i (%s) into a rejection that spares the Klangio credential', async (status) => {
    agent.get('https://cdn.example').intercept({ path: '/a.wav', method: 'GET' }).reply(status, 'nope');
    await expect(adapter().create(request('beat-tracking', {}, { type: 'url', url: 'https://cdn.example/a.wav' }), context())).rejects.toMatchObject({
      failure: 'rejected',
      providerCode: 'INPUT_DOWNLOAD_FAILED',
    });
  });

  it('fails clearly for a file it cannot read', async () => {
    await expect(adapter().create(request('beat-tracking', {}, { type: 'file', path: join(dir, 'missing.wav') }), context())).rejects.toMatchObject({
      failure: 'rejected',
      providerCode: 'INPUT_UNREADABLE',
    });
  });

  it.each([
    ['429 with Retry-After seconds', 429, { 'retry-after': '3' }, { failure: 'rate-limited', retryAfterMs: 3000 }],
    ['503', 503, {}, { failure: 'unavailable', status: 503 }],
    ['401', 401, {}, { failure: 'unauthorized', status: 401 }],
    ['422 with a detail', 422, {}, { failure: 'rejected', status: 422, message: expect.stringContaining('model is required') }],
  ])('classifies %s', async (_name, status, headers, expected) => {
    interceptCreate('/beat-tracking', { status, headers, body: { detail: 'model is required' } });
    await expect(adapter().create(request('beat-tracking'), context())).rejects.toMatchObject(expected);
  });

  it.each([
    ['an HTML page', '<html><body>Bad gateway</body></html>'],
    ['JSON without a job id', { creation_date: '2025-01-01' }],
  ])('fails with invalid-response on a 200 with %s', async (_name, body) => {
    agent.get(BASE).intercept({ path: (p) => p.startsWith('/beat-tracking'), method: 'POST' }).reply(200, body as object);
    await expect(adapter().create(request('beat-tracking'), context())).rejects.toMatchObject({ failure: 'invalid-response' });
  });
});

describe('Klangio adapter: poll', () => {
  it.each([
    ['IN_QUEUE', 'queued'],
    ['IN_PROGRESS', 'running'],
    ['in_progress', 'running'],
    ['WARMING_UP', 'queued'],
  ])('maps %s to %s, keeping the provider status verbatim', async (providerStatus, status) => {
    replyStatus({ status: providerStatus });
    expect(await adapter().poll(ref('beat-tracking'), context())).toEqual({ status, providerStatus });
  });

  it.each([
    [{ status: 'FAILED', error: 'Audio file could not be decoded' }, { code: 'FAILED', message: 'Audio file could not be decoded' }],
    [{ status: 'FAILED', error_description: 'too long' }, { code: 'FAILED', message: 'too long' }],
    [{ status: 'FAILED', error: { message: 'nested' } }, { code: 'FAILED', message: 'nested' }],
    [{ status: 'FAILED' }, { code: 'FAILED', message: expect.any(String) }],
    [{ status: 'CANCELLED' }, { code: 'CANCELLED', message: expect.stringContaining('cancelled') }],
    [{ status: 'TIMED_OUT', error: 'took too long' }, { code: 'TIMED_OUT', message: 'took too long' }],
  ])('reports %j as failed with %j', async (body, error) => {
    replyStatus(body);
    expect(await adapter().poll(ref('beat-tracking'), context())).toEqual({ status: 'failed', providerStatus: body.status, error });
  });

  it.each([
    ['chord-recognition', [[0, 0.5, 'N'], [0.5, '2.25', 'E:maj']], [[0, 0.5, 'N'], [0.5, 2.25, 'E:maj']]],
    ['chord-recognition', { chords: [[0, 1, 'A:min']] }, [[0, 1, 'A:min']]],
    [
      'chord-recognition-extended',
      { key: 'A minor', chords: [[0, 1, 'A:min']], strums: [[0.5, 'd']] },
      { key: 'A minor', chords: [[0, 1, 'A:min']], strums: [[0.5, 'D']] },
    ],
    ['chord-recognition-extended', { key: 'C major', chords: [] }, { key: 'C major', chords: [], strums: [] }],
    ['beat-tracking', [[0.1, 1], [0.6, '2']], [[0.1, 1], [0.6, 2]]],
    ['beat-tracking', { beats: [[0.1, 1]] }, [[0.1, 1]]],
    ['strum-recognition', { strums: [[0.25, 'U']] }, { strums: [[0.25, 'U']] }],
    ['strum-recognition', [[0.25, 'D']], { strums: [[0.25, 'D']] }],
  ])('fetches the %s result %j and normalises it', async (kind, answer, result) => {
    replyStatus({ status: 'COMPLETED' });
    agent.get(BASE).intercept({ path: '/job/job1/json', method: 'GET', headers: { 'kl-api-key': KEY } }).reply(200, answer as object, JSON_HEADERS);
    expect(await adapter().poll(ref(kind), context())).toEqual({ status: 'succeeded', providerStatus: 'COMPLETED', result });
  });

  it('fails with invalid-response when a JSON result has the wrong shape', async () => {
    replyStatus({ status: 'COMPLETED' });
    agent.get(BASE).intercept({ path: '/job/job1/json', method: 'GET' }).reply(200, { chords: 'none' }, JSON_HEADERS);
    await expect(adapter().poll(ref('chord-recognition'), context())).rejects.toMatchObject({ failure: 'invalid-response' });
  });

  it('reports a completed transcription with the formats it asked for', async () => {
    replyStatus({ status: 'COMPLETED' });
    expect(await adapter().poll(ref('transcription', { outputs: ['pdf', 'midi_quant'] }), context())).toEqual({
      status: 'succeeded',
      providerStatus: 'COMPLETED',
      result: { formats: ['pdf', 'midi_quant'] },
    });
    replyStatus({ status: 'COMPLETED' });
    expect((await adapter().poll(ref('transcription'), context())).result).toEqual({ formats: ['mxml', 'midi'] });
  });

  it('reports a completed transcription with the formats the create answer flagged, not the ones asked for (was: the request)', async () => {
    // Klangio's own example: asked midi, pdf and gp5; answered gen_xml true and gen_gp5 false.
    const flags = { gen_xml: true, gen_midi: true, gen_midi_quant: false, gen_gp5: false, gen_pdf: true };
    replyStatus({ status: 'COMPLETED' });
    const job = { ...ref('transcription', { outputs: ['midi', 'pdf', 'gp5'] }), providerData: flags };
    expect(await adapter().poll(job, context())).toEqual({ status: 'succeeded', providerStatus: 'COMPLETED', result: { formats: ['midi', 'pdf', 'mxml'] } });
    expect(adapter().resultFiles!(job, { formats: ['midi', 'pdf', 'mxml'] }).map((f) => f.name)).toEqual(['performance.mid', 'score.pdf', 'score.musicxml']);
  });

  it('reports a completed separation with its stems', async () => {
    replyStatus({ status: 'COMPLETED' });
    expect((await adapter().poll(ref('source-separation', { model: 'six-stems', format: 'mp3' }), context())).result).toEqual({
      model: 'six-stems',
      format: 'mp3',
      stems: ['vocals', 'bass', 'drums', 'other', 'piano', 'guitar'],
    });
    replyStatus({ status: 'COMPLETED' });
    expect((await adapter().poll(ref('source-separation'), context())).result).toEqual({ model: 'four-stems', format: 'wav', stems: ['vocals', 'bass', 'drums', 'other'] });
  });

  it.each([
    ['a non-JSON body', 'status: ok', 'invalid-response'],
    ['an HTML error page with 200', '<!doctype html><title>Error</title>', 'invalid-response'],
    ['JSON without a status', { state: 'IN_QUEUE' }, 'invalid-response'],
  ])('fails on %s', async (_name, body, failure) => {
    agent.get(BASE).intercept({ path: '/job/job1/status', method: 'GET' }).reply(200, body as object);
    await expect(adapter().poll(ref('beat-tracking'), context())).rejects.toMatchObject({ failure });
  });

  it.each([
    [404, { detail: 'Job not found' }, 'rejected'],
    [500, { detail: 'boom' }, 'unavailable'],
    [403, { detail: 'forbidden' }, 'unauthorized'],
  ])('classifies a %i status answer as %s', async (status, body, failure) => {
    replyStatus(body, 'job1', status);
    await expect(adapter().poll(ref('beat-tracking'), context())).rejects.toMatchObject({ failure, status });
  });

  it('escapes the job id in the path', async () => {
    replyStatus({ status: 'IN_QUEUE' }, 'a%2Fb');
    expect((await adapter().poll(ref('beat-tracking', {}, 'a/b'), context())).status).toBe('queued');
  });
});

describe('Klangio adapter: parseWebhook', () => {
  const parse = (body: unknown) => adapter().parseWebhook!({ body, headers: {} });

  it.each([
    [{ job_id: 'j', status: 'IN_QUEUE' }, { externalId: 'j', report: { status: 'queued', providerStatus: 'IN_QUEUE' } }],
    [{ id: 'j', status: 'IN_PROGRESS' }, { externalId: 'j', report: { status: 'running', providerStatus: 'IN_PROGRESS' } }],
    [{ job_id: 42, status: 'COMPLETED' }, { externalId: '42', report: { status: 'running', providerStatus: 'COMPLETED' }, confirm: true }],
    [{ job_id: 'j', status: 'FAILED', error: 'x' }, { externalId: 'j', report: { status: 'running', providerStatus: 'FAILED' }, confirm: true }],
    [{ job_id: 'j', status: 'CANCELLED' }, { externalId: 'j', report: { status: 'running', providerStatus: 'CANCELLED' }, confirm: true }],
    [{ job_id: 'j', status: 'TIMED_OUT' }, { externalId: 'j', report: { status: 'running', providerStatus: 'TIMED_OUT' }, confirm: true }],
    [{ job_id: 'j', status: 'SOMETHING_NEW' }, { externalId: 'j', confirm: true }],
    [{ job_id: 'j' }, { externalId: 'j', confirm: true }],
    [{ job_id: 'j', id: 'other', status: 'IN_PROGRESS', extra: true }, { externalId: 'j', report: { status: 'running', providerStatus: 'IN_PROGRESS' } }],
  ])('reads %j', (body, parsed) => {
    expect(parse(body)).toEqual(parsed);
  });

  it.each([['a string', 'COMPLETED'], ['null', null], ['an array', [1]], ['no job id', { status: 'COMPLETED' }], ['an empty id', { job_id: '', status: 'IN_QUEUE' }]])(
    'throws InvalidWebhookError for %s',
    (_name, body) => {
      expect(() => parse(body)).toThrow(InvalidWebhookError);
    },
  );
});

describe('Klangio adapter: result files', () => {
  it('lists the transcription files it produced', () => {
    expect(adapter().resultFiles!(ref('transcription'), { formats: ['mxml', 'gp5', 'midi', 'midi_quant', 'pdf'] })).toEqual([
      { name: 'score.musicxml', contentType: 'application/vnd.recordare.musicxml+xml' },
      { name: 'score.gp5', contentType: 'application/octet-stream' },
      { name: 'performance.mid', contentType: 'audio/midi' },
      { name: 'quantized.mid', contentType: 'audio/midi' },
      { name: 'score.pdf', contentType: 'application/pdf' },
    ]);
  });

  it('lists one file per stem in the chosen format, and one JSON file for the JSON kinds', () => {
    expect(adapter().resultFiles!(ref('source-separation'), { model: 'four-stems', format: 'mp3', stems: ['vocals', 'bass'] })).toEqual([
      { name: 'vocals.mp3', contentType: 'audio/mpeg' },
      { name: 'bass.mp3', contentType: 'audio/mpeg' },
    ]);
    expect(adapter().resultFiles!(ref('beat-tracking'), [[0.1, 1]])).toEqual([{ name: 'beat-tracking.json', contentType: 'application/json' }]);
  });

  it('offers nothing for a result of the wrong shape', () => {
    expect(adapter().resultFiles!(ref('transcription'), { formats: ['wav'] })).toEqual([]);
    expect(adapter().resultFiles!(ref('source-separation'), null)).toEqual([]);
  });

  it('downloads a transcription file from its fetch path (mxml → xml)', async () => {
    agent.get(BASE).intercept({ path: '/job/job1/xml', method: 'GET', headers: { 'kl-api-key': KEY } }).reply(200, '<score-partwise/>', {
      headers: { 'content-type': 'application/vnd.recordare.musicxml+xml' },
    });
    const download = await adapter().download!(ref('transcription'), { formats: ['mxml'] }, 'score.musicxml', context());
    expect(download.contentType).toBe('application/vnd.recordare.musicxml+xml');
    expect(await text(download.body)).toBe('<score-partwise/>');
  });

  it('downloads a stem from /audio?stem_type=', async () => {
    agent.get(BASE).intercept({ path: '/job/job1/audio?stem_type=drums', method: 'GET' }).reply(200, 'RIFF', { headers: { 'content-type': 'audio/wav' } });
    const download = await adapter().download!(ref('source-separation'), { model: 'four-stems', format: 'wav', stems: ['drums'] }, 'drums.wav', context());
    expect(await text(download.body)).toBe('RIFF');
  });

  it('serves a JSON result from the stored result without calling Klangio', async () => {
    const result = { strums: [[0.5, 'U']] };
    const download = await adapter().download!(ref('strum-recognition'), result, 'strum-recognition.json', context());
    expect(download.contentType).toBe('application/json');
    expect(JSON.parse(await text(download.body))).toEqual(result);
  });

  it('refuses a file the job does not offer', async () => {
    await expect(adapter().download!(ref('transcription'), { formats: ['mxml'] }, 'score.pdf', context())).rejects.toMatchObject({ failure: 'rejected' });
  });

  it('classifies a failed download', async () => {
    agent.get(BASE).intercept({ path: '/job/job1/pdf', method: 'GET' }).reply(409, { detail: 'Job is not completed yet' }, JSON_HEADERS);
    await expect(adapter().download!(ref('transcription'), { formats: ['pdf'] }, 'score.pdf', context())).rejects.toMatchObject({
      failure: 'rejected',
      message: expect.stringContaining('not completed'),
    });
  });
});
