import { text } from 'node:stream/consumers';
import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CreateJobRequest, ProviderAdapter, ProviderJobRef } from '../../../src/streams/provider-port.js';
import { createSunoapiAdapter, SUNOAPI_KINDS, SUNOAPI_POLL_POLICY } from '../../../src/providers/sunoapi/sunoapi-adapter.js';
import type { SunoapiAdapterOptions } from '../../../src/providers/sunoapi/sunoapi-adapter.js';
import { InvalidWebhookError } from '../../../src/streams/errors.js';
import type { JsonValue } from '../../../src/streams/job-snapshot.js';

const BASE = 'https://api.sunoapi.org';
const KEY = 'suno-test-key';
const HOOK = 'https://jobs.example/v1/hooks/sunoapi/tok';
const JSON_HEADERS = { headers: { 'content-type': 'application/json' } };

let agent: MockAgent;
const context = () => ({ signal: new AbortController().signal });

beforeEach(() => {
  agent = new MockAgent();
  agent.disableNetConnect();
});

afterEach(async () => {
  agent.assertNoPendingInterceptors();
  await agent.close();
});

/**
 * MockAgent answers in-process for made-up hosts (cdn.example), which the URL guard would resolve
 * for real: these unit tests allow private URLs; test/providers/url-guard.test.ts tests the guard.
 */
function adapter(options: Partial<SunoapiAdapterOptions> = {}): ProviderAdapter {
  return createSunoapiAdapter({ apiKey: KEY, dispatcher: agent, allowPrivateUrls: true, ...options });
}

/** `webhookUrl: null` builds a request without a callback URL. */
function request(kind: string, options: Record<string, JsonValue>, webhookUrl: string | null = HOOK): CreateJobRequest {
  return { kind, input: undefined, name: null, metadata: {}, options, webhookUrl: webhookUrl ?? undefined };
}

const ref = (kind: string, externalId = 'task1'): ProviderJobRef => ({ externalId, kind, options: {} });

/** Intercepts one POST and records its JSON body and headers. */
function interceptPost(path: string, answer: { status?: number; body?: unknown; headers?: Record<string, string> } = {}) {
  const seen: { json?: unknown; headers?: Record<string, string> } = {};
  agent
    .get(BASE)
    .intercept({ path, method: 'POST' })
    .reply((opts) => {
      seen.json = JSON.parse(opts.body as string);
      seen.headers = opts.headers as Record<string, string>;
      const body = answer.body ?? { code: 200, msg: 'success', data: { taskId: 'new-task' } };
      return { statusCode: answer.status ?? 200, data: body, responseOptions: { headers: { 'content-type': 'application/json', ...answer.headers } } };
    });
  return seen;
}

function replyRecord(kind: 'vocal-removal' | 'midi', data: unknown, taskId = 'task1', envelope: { code?: number; msg?: string } = {}) {
  agent
    .get(BASE)
    .intercept({ path: `/api/v1/${kind}/record-info?taskId=${taskId}`, method: 'GET', headers: { authorization: `Bearer ${KEY}` } })
    .reply(200, { code: envelope.code ?? 200, msg: envelope.msg ?? 'success', data } as object, JSON_HEADERS);
}

const separateVocalRecord = (successFlag: string, extra: Record<string, unknown> = {}) => ({
  taskId: 'task1',
  musicId: 'a1',
  audioId: 'a1',
  callbackUrl: HOOK,
  createTime: 1_700_000_000_000,
  completeTime: 1_700_000_050_000,
  response:
    successFlag === 'PENDING'
      ? null
      : {
          originUrl: 'https://cdn.example/t/origin.mp3',
          instrumentalUrl: 'https://cdn.example/t/instrumental.mp3',
          vocalUrl: 'https://cdn.example/t/vocal.mp3',
          drumsUrl: null,
          originData: [{ id: 'x', audio_url: 'https://cdn.example/t/vocal.mp3', stem_type_group_name: 'Vocals', duration: 3 }],
        },
  successFlag,
  errorCode: null,
  errorMessage: null,
  ...extra,
});

describe('createSunoapiAdapter', () => {
  it('describes the provider, its kinds and the documented poll policy', () => {
    const a = adapter({ pollPolicy: { maxInFlight: 1 } });
    expect(a.provider).toBe('sunoapi');
    expect(a.kinds).toEqual(SUNOAPI_KINDS);
    expect(a.kinds).toEqual(['vocal-separation', 'midi']);
    expect(a.webhooks).toBe(true);
    expect('cancel' in a).toBe(false);
    expect(a.credentialId).not.toContain(KEY);
    expect(a.pollPolicy).toEqual({ ...SUNOAPI_POLL_POLICY, maxInFlight: 1 });
    expect(SUNOAPI_POLL_POLICY).toMatchObject({ intervalMs: 15_000, watchdog: { quietMs: 60_000 }, rate: { limit: 20, windowMs: 10_000 }, maxInFlight: 4 });
  });

  it('refuses invalid adapter options', () => {
    expect(() => createSunoapiAdapter({ apiKey: '', dispatcher: agent })).toThrow(TypeError);
    expect(() => adapter({ baseUrl: 'nope' })).toThrow(TypeError);
  });
});

describe('sunoapi adapter: validate', () => {
  const validate = (kind: string, options: Record<string, JsonValue>, withInput = false) =>
    adapter().validate!({ kind, input: withInput ? { type: 'url', url: 'https://a.example/x.mp3' } : undefined, name: null, metadata: {}, options });

  it.each([
    ['vocal-separation', { taskId: 't', audioId: 'a' }],
    ['vocal-separation', { taskId: 't', audioId: 'a', type: 'split_stem' }],
    ['midi', { taskId: 't' }],
    ['midi', { taskId: 't', audioId: 'a' }],
  ])('accepts %s with %j', (kind, options) => {
    expect(validate(kind, options)).toEqual([]);
  });

  it.each([
    ['vocal-separation', {}, ['options.taskId', 'options.audioId']],
    ['vocal-separation', { taskId: 't', audioId: 'a', type: 'karaoke' }, ['options.type']],
    ['vocal-separation', { taskId: '', audioId: 'a' }, ['options.taskId']],
    ['midi', { audioId: 'a' }, ['options.taskId']],
    ['midi', { taskId: 't', callBackUrl: 'https://x' }, ['options.callBackUrl']],
    ['midi', { taskId: 5 }, ['options.taskId']],
  ])('refuses %s with %j', (kind, options, fields) => {
    expect(validate(kind, options as Record<string, JsonValue>).map((i) => i.field)).toEqual(fields);
  });

  it('refuses an input: the jobs work on earlier Suno tasks', () => {
    expect(validate('midi', { taskId: 't' }, true)).toEqual([{ field: 'input', reason: expect.stringContaining('options.taskId') }]);
  });
});

describe('sunoapi adapter: create', () => {
  it('starts a vocal separation with the callback URL and the default type', async () => {
    const seen = interceptPost('/api/v1/vocal-removal/generate');
    expect(await adapter().create(request('vocal-separation', { taskId: 'music1', audioId: 'track1' }), context())).toEqual({ externalId: 'new-task' });
    expect(seen.json).toEqual({ taskId: 'music1', audioId: 'track1', type: 'separate_vocal', callBackUrl: HOOK });
    expect(seen.headers).toMatchObject({ authorization: `Bearer ${KEY}`, 'content-type': 'application/json' });
  });

  it('starts a MIDI task, with the audio id only when given', async () => {
    const plain = interceptPost('/api/v1/midi/generate');
    await adapter().create(request('midi', { taskId: 'sep1' }), context());
    expect(plain.json).toEqual({ taskId: 'sep1', callBackUrl: HOOK });
    const one = interceptPost('/api/v1/midi/generate', { body: { code: '200', msg: 'success', data: { task_id: 'snake' } } });
    expect(await adapter().create(request('midi', { taskId: 'sep1', audioId: 'trk' }), context())).toEqual({ externalId: 'snake' });
    expect(one.json).toEqual({ taskId: 'sep1', callBackUrl: HOOK, audioId: 'trk' });
  });

  it('fails clearly, without calling sunoapi.org, when there is no callback URL', async () => {
    await expect(adapter().create(request('midi', { taskId: 'sep1' }, null), context())).rejects.toMatchObject({
      failure: 'rejected',
      providerCode: 'CALLBACK_URL_REQUIRED',
      message: expect.stringContaining('webhookUrl'),
    });
  });

  it.each([
    ['430 with Retry-After', { code: 430, msg: 'Call frequency is too high' }, { 'retry-after': '7' }, { failure: 'rate-limited', retryAfterMs: 7000 }],
    ['430 without Retry-After', { code: 430, msg: 'too frequent' }, {}, { failure: 'rate-limited', retryAfterMs: 10_000 }],
    ['429 (no credits)', { code: 429, msg: 'Insufficient credits' }, {}, { failure: 'rejected', providerCode: 'INSUFFICIENT_CREDITS' }],
    ['401', { code: 401, msg: 'Unauthorized' }, {}, { failure: 'unauthorized', providerCode: undefined }],
    ['455 (maintenance)', { code: 455, msg: 'maintenance' }, {}, { failure: 'unavailable' }],
    ['500', { code: 500, msg: 'Server error' }, {}, { failure: 'unavailable' }],
    ['400', { code: 400, msg: 'audioId is not a track of this separation task' }, {}, { failure: 'rejected', message: expect.stringContaining('audioId is not a track') }],
    ['404', { code: 404, msg: 'Task not found' }, {}, { failure: 'rejected', message: expect.stringContaining('Task not found') }],
    ['405 (rate limit exceeded, providers.md 3.2)', { code: 405, msg: 'Rate limit exceeded' }, {}, { failure: 'rate-limited', retryAfterMs: 10_000 }],
    ['413', { code: 413, msg: 'too long' }, {}, { failure: 'rejected' }],
  ])('reads body code %s on HTTP 200', async (_name, body, headers, expected) => {
    interceptPost('/api/v1/midi/generate', { body, headers });
    await expect(adapter().create(request('midi', { taskId: 's' }), context())).rejects.toMatchObject(expected);
  });

  it.each([
    ['HTTP 401', 401, {}, { failure: 'unauthorized', status: 401 }],
    ['HTTP 503', 503, {}, { failure: 'unavailable', status: 503 }],
    ['HTTP 430', 430, {}, { failure: 'rate-limited', retryAfterMs: 10_000 }],
    ['HTTP 430 with Retry-After (its wait, not the default window)', 430, { 'retry-after': '3' }, { failure: 'rate-limited', retryAfterMs: 3000 }],
    ['HTTP 455', 455, {}, { failure: 'unavailable' }],
    ['HTTP 429 with Retry-After seconds', 429, { 'retry-after': '2' }, { failure: 'rate-limited', retryAfterMs: 2000 }],
  ])('classifies %s', async (_name, status, headers, expected) => {
    interceptPost('/api/v1/midi/generate', { status, headers, body: { code: status, msg: 'no', data: null } });
    await expect(adapter().create(request('midi', { taskId: 's' }), context())).rejects.toMatchObject(expected);
  });

  it.each([
    ['an HTML page', '<html><body>502 Bad Gateway</body></html>'],
    ['an envelope without code', { msg: 'success', data: { taskId: 'x' } }],
    ['success without a task id', { code: 200, msg: 'success', data: {} }],
    ['success with null data', { code: 200, msg: 'success', data: null }],
  ])('fails with invalid-response on %s', async (_name, body) => {
    agent.get(BASE).intercept({ path: '/api/v1/midi/generate', method: 'POST' }).reply(200, body as object);
    await expect(adapter().create(request('midi', { taskId: 's' }), context())).rejects.toMatchObject({ failure: 'invalid-response' });
  });
});

describe('sunoapi adapter: poll a vocal separation', () => {
  it.each([
    ['PENDING', separateVocalRecord('PENDING'), { status: 'running', providerStatus: 'PENDING' }],
    [
      'SUCCESS (separate_vocal)',
      separateVocalRecord('SUCCESS'),
      {
        status: 'succeeded',
        providerStatus: 'SUCCESS',
        result: {
          type: 'separate_vocal',
          urls: { origin: 'https://cdn.example/t/origin.mp3', instrumental: 'https://cdn.example/t/instrumental.mp3', vocal: 'https://cdn.example/t/vocal.mp3' },
          originData: [{ id: 'x', audio_url: 'https://cdn.example/t/vocal.mp3', stem_type_group_name: 'Vocals', duration: 3 }],
        },
      },
    ],
    [
      'SUCCESS (split_stem)',
      { ...separateVocalRecord('SUCCESS'), response: { vocalUrl: 'https://c/v.wav', backingVocalsUrl: 'https://c/bv.wav', drumsUrl: 'https://c/d.wav', instrumentalUrl: null } },
      { status: 'succeeded', providerStatus: 'SUCCESS', result: { type: 'split_stem', urls: { vocal: 'https://c/v.wav', backingVocals: 'https://c/bv.wav', drums: 'https://c/d.wav' } } },
    ],
    [
      'CREATE_TASK_FAILED',
      separateVocalRecord('CREATE_TASK_FAILED', { response: null, errorCode: 500, errorMessage: 'Failed to create the separation task' }),
      { status: 'failed', providerStatus: 'CREATE_TASK_FAILED', error: { code: 'CREATE_TASK_FAILED', message: 'Failed to create the separation task (error code 500)' } },
    ],
    [
      'GENERATE_AUDIO_FAILED without a message',
      separateVocalRecord('GENERATE_AUDIO_FAILED', { response: null }),
      { status: 'failed', providerStatus: 'GENERATE_AUDIO_FAILED', error: { code: 'GENERATE_AUDIO_FAILED', message: expect.any(String) } },
    ],
    ['CALLBACK_EXCEPTION with audio', separateVocalRecord('CALLBACK_EXCEPTION'), expect.objectContaining({ status: 'succeeded', providerStatus: 'CALLBACK_EXCEPTION' })],
    [
      'CALLBACK_EXCEPTION without audio',
      separateVocalRecord('CALLBACK_EXCEPTION', { response: null, errorMessage: 'callback failed' }),
      { status: 'failed', providerStatus: 'CALLBACK_EXCEPTION', error: { code: 'CALLBACK_EXCEPTION', message: 'callback failed' } },
    ],
    ['an unknown status', separateVocalRecord('QUEUED_SOMEWHERE', { response: null }), { status: 'queued', providerStatus: 'QUEUED_SOMEWHERE' }],
  ])('maps %s', async (_name, record, report) => {
    replyRecord('vocal-removal', record);
    expect(await adapter().poll(ref('vocal-separation'), context())).toEqual(report);
  });

  it.each([
    ['SUCCESS without any URL', separateVocalRecord('SUCCESS', { response: { vocalUrl: null } })],
    ['a record without successFlag', { taskId: 'task1' }],
    ['null data', null],
  ])('fails with invalid-response on %s', async (_name, record) => {
    replyRecord('vocal-removal', record);
    await expect(adapter().poll(ref('vocal-separation'), context())).rejects.toMatchObject({ failure: 'invalid-response' });
  });

  it('keeps the record’s originData tracks in the result (the ids a MIDI job takes as audioId), read tolerantly', async () => {
    const urls = { vocalUrl: 'https://c/v.mp3', instrumentalUrl: 'https://c/i.mp3' };
    const originData = [
      { id: 'v-1', audio_url: 'https://c/v.mp3', stem_type_group_name: 'Vocals', duration: 245.6, cover: 'not listed by the docs' },
      { id: 7, audio_url: null, stem_type_group_name: '', duration: '12.5' },
      { audio_url: 'https://c/no-id.mp3', stem_type_group_name: 'Drums' },
      'junk',
    ];
    replyRecord('vocal-removal', separateVocalRecord('SUCCESS', { response: { ...urls, originData } }));
    expect((await adapter().poll(ref('vocal-separation'), context())).result).toEqual({
      type: 'separate_vocal',
      urls: { vocal: 'https://c/v.mp3', instrumental: 'https://c/i.mp3' },
      originData: [{ id: 'v-1', audio_url: 'https://c/v.mp3', stem_type_group_name: 'Vocals', duration: 245.6 }, { id: '7', duration: 12.5 }],
    });
    // CALLBACK_EXCEPTION with audio keeps them too; a record without the list gives none.
    replyRecord('vocal-removal', separateVocalRecord('CALLBACK_EXCEPTION', { response: { ...urls, originData: [{ id: 'i-1' }] } }));
    expect((await adapter().poll(ref('vocal-separation'), context())).result).toMatchObject({ originData: [{ id: 'i-1' }] });
    replyRecord('vocal-removal', separateVocalRecord('SUCCESS', { response: urls }));
    expect((await adapter().poll(ref('vocal-separation'), context())).result).not.toHaveProperty('originData');
  });

  it('reads an unknown task (body code 404) as rejected', async () => {
    replyRecord('vocal-removal', null, 'task1', { code: 404, msg: 'Task not found' });
    await expect(adapter().poll(ref('vocal-separation'), context())).rejects.toMatchObject({ failure: 'rejected' });
  });
});

describe('sunoapi adapter: poll a MIDI task', () => {
  const midiRecord = (successFlag: number | string, extra: Record<string, unknown> = {}) => ({
    taskId: 'task1',
    recordTaskId: -1,
    audioId: null,
    callbackUrl: HOOK,
    createTime: 1_700_000_000_000,
    completeTime: null,
    midiData: null,
    successFlag,
    errorCode: null,
    errorMessage: null,
    ...extra,
  });

  it.each([
    ['pending (0)', midiRecord(0), { status: 'running', providerStatus: '0' }],
    [
      'success (1) with mixed number and string times',
      midiRecord(1, {
        midiData: {
          state: 'complete',
          instruments: [
            { name: 'Drums', notes: [{ pitch: 36, start: '0.5', end: 0.6, velocity: 0.9 }] },
            { name: 'Synth Voice', notes: [] },
            { name: 'Acoustic Grand Piano' },
          ],
        },
      }),
      {
        status: 'succeeded',
        providerStatus: '1',
        result: {
          instruments: [
            { name: 'Drums', notes: [{ pitch: 36, start: 0.5, end: 0.6, velocity: 0.9 }] },
            { name: 'Synth Voice', notes: [] },
            { name: 'Acoustic Grand Piano', notes: [] },
          ],
        },
      },
    ],
    ['success (1) without midiData', midiRecord('1'), { status: 'succeeded', providerStatus: '1', result: { instruments: [] } }],
    ['success (1) with empty instruments', midiRecord(1, { midiData: { state: 'complete' } }), { status: 'succeeded', providerStatus: '1', result: { instruments: [] } }],
    ['success (1) with an empty midiData object', midiRecord(1, { midiData: {} }), { status: 'succeeded', providerStatus: '1', result: { instruments: [] } }],
    ['success (1) with an empty midiData string', midiRecord(1, { midiData: '' }), { status: 'succeeded', providerStatus: '1', result: { instruments: [] } }],
    ['success (1) with an empty midiData list', midiRecord(1, { midiData: [] }), { status: 'succeeded', providerStatus: '1', result: { instruments: [] } }],
    [
      'task creation failed (2)',
      midiRecord(2, { errorCode: 500, errorMessage: 'Failed to create the MIDI generation task' }),
      { status: 'failed', providerStatus: '2', error: { code: 'TASK_CREATE_FAILED', message: 'Failed to create the MIDI generation task (error code 500)' } },
    ],
    [
      'generation failed (3)',
      midiRecord(3, { errorMessage: 'MIDI generation failed' }),
      { status: 'failed', providerStatus: '3', error: { code: 'MIDI_GENERATION_FAILED', message: 'MIDI generation failed' } },
    ],
    ['an unknown flag', midiRecord(9), { status: 'queued', providerStatus: '9' }],
  ])('maps %s', async (_name, record, report) => {
    replyRecord('midi', record);
    expect(await adapter().poll(ref('midi'), context())).toEqual(report);
  });

  it.each([
    ['a velocity outside 0..1', { name: 'x', notes: [{ pitch: 60, start: 0, end: 1, velocity: 100 }] }],
    ['a pitch outside 0..127', { name: 'x', notes: [{ pitch: 200, start: 0, end: 1, velocity: 0.5 }] }],
    ['a non-numeric time', { name: 'x', notes: [{ pitch: 60, start: 'soon', end: 1, velocity: 0.5 }] }],
  ])('fails with invalid-response on %s', async (_name, instrument) => {
    replyRecord('midi', midiRecord(1, { midiData: { instruments: [instrument] } }));
    await expect(adapter().poll(ref('midi'), context())).rejects.toMatchObject({ failure: 'invalid-response' });
  });

  it('fails with invalid-response on a non-JSON answer', async () => {
    agent.get(BASE).intercept({ path: '/api/v1/midi/record-info?taskId=task1', method: 'GET' }).reply(200, 'OK');
    await expect(adapter().poll(ref('midi'), context())).rejects.toMatchObject({ failure: 'invalid-response' });
  });
});

describe('sunoapi adapter: parseWebhook', () => {
  // Result URLs on host `c` count as the provider's own (see the foreign-host cases in url-guard.test.ts).
  const parse = (body: unknown) => adapter().parseWebhook!({ body, headers: {} });
  const notes = [{ pitch: 60, start: '0.25', end: 0.5, velocity: 0.7 }];
  const normalised = [{ pitch: 60, start: 0.25, end: 0.5, velocity: 0.7 }];

  it.each([
    ['top-level task_id', { code: 200, msg: 'success', task_id: 'm1', data: { state: 'complete', instruments: [{ name: 'Drums', notes }] } }],
    ['data.task_id', { code: 200, msg: 'success', data: { task_id: 'm1', state: 'complete', instruments: [{ name: 'Drums', notes }] } }],
    ['data.taskId', { code: 200, msg: 'success', data: { taskId: 'm1', state: 'complete', instruments: [{ name: 'Drums', notes }] } }],
    ['top-level taskId and a string code', { code: '200', msg: 'success', taskId: 'm1', data: { state: 'complete', instruments: [{ name: 'Drums', notes }] } }],
  ])('reports a MIDI success with the task id in %s', (_name, body) => {
    expect(parse(body)).toEqual({
      externalId: 'm1',
      report: { status: 'succeeded', providerStatus: 'complete', result: { instruments: [{ name: 'Drums', notes: normalised }] } },
    });
  });

  it('reads missing or empty instruments on success as a result with no notes, not a failure', () => {
    for (const data of [{ state: 'complete' }, { state: 'complete', instruments: [] }, { state: 'complete', instruments: null }, { instruments: [] }]) {
      expect(parse({ code: 200, msg: 'success', task_id: 'm1', data })).toEqual({
        externalId: 'm1',
        report: { status: 'succeeded', providerStatus: data.state ?? '200', result: { instruments: [] } },
      });
    }
  });

  it('reports a failure callback as failed with the message', () => {
    expect(parse({ code: 500, msg: 'MIDI generation failed', task_id: 'm1', data: { task_id: 'm1', state: 'failed' } })).toEqual({
      externalId: 'm1',
      report: { status: 'failed', providerStatus: 'failed', error: { code: 'TASK_FAILED', message: 'MIDI generation failed' } },
    });
    expect(parse({ code: 500, msg: 'Vocal separation failed', data: { task_id: 's1', vocal_removal_info: null } })).toEqual({
      externalId: 's1',
      report: { status: 'failed', providerStatus: '500', error: { code: 'TASK_FAILED', message: 'Vocal separation failed' } },
    });
    expect(parse({ code: 500, task_id: 'm1', data: null }).report?.error).toEqual({ code: 'TASK_FAILED', message: 'the task failed (code 500)' });
  });

  it.each([
    ['sunoapi.org', 'vocal_removal_info'],
    ['kie.ai (not as an empty MIDI result)', 'vocal_separation_info'],
  ])(
    'reads a %s separation success (stems under data.%s) as SUCCESS at running rank and confirms by polling: only the record has originData',
    (_shape, key) => {
      const body = {
        code: 200,
        msg: 'vocal separation generated successfully.',
        data: { task_id: 's1', [key]: { origin_url: '', instrumental_url: 'https://file.aiquickdraw.com/s/i.mp3', vocal_url: 'https://file.aiquickdraw.com/s/v.mp3' } },
      };
      expect(parse(body)).toEqual({ externalId: 's1', report: { status: 'running', providerStatus: 'SUCCESS' }, confirm: true });
      const split = parse({ code: 200, msg: 'ok', data: { task_id: 's1', [key]: { vocal_url: 'https://c/v.mp3', backing_vocals_url: 'https://c/b.mp3' } } });
      expect(split).toEqual({ externalId: 's1', report: { status: 'running', providerStatus: 'SUCCESS' }, confirm: true });
      expect(parse({ code: 200, msg: 'ok', data: { task_id: 's1', [key]: { vocal_url: null } } })).toEqual({ externalId: 's1', confirm: true });
    },
  );

  it.each([
    ['success without data', { code: 200, msg: 'success', task_id: 'm1' }],
    ['an unexpected code', { code: 202, msg: 'accepted', task_id: 'm1', data: { state: 'running' } }],
    ['a code-200 body with stems under an unknown field', { code: 200, msg: 'success', data: { task_id: 's1', stem_info: { vocal_url: 'https://c/v.mp3' } } }],
    ['a code-200 body with neither stems nor instruments nor a complete state', { code: 200, msg: 'success', task_id: 'm1', data: { state: 'text' } }],
  ])('never ends the job on an unrecognised body (%s): no report, confirm by polling, marked unrecognised', (_name, body) => {
    expect(parse(body)).toEqual({ externalId: expect.any(String), confirm: true, unrecognised: true });
  });

  it('asks for a poll, without an unrecognised mark, on a separation success without URLs', () => {
    expect(parse({ code: 200, msg: 'success', data: { task_id: 's1', vocal_removal_info: { vocal_url: null } } })).toEqual({ externalId: 's1', confirm: true });
  });

  it.each([
    ['a string', 'done'],
    ['no code', { task_id: 'm1', data: {} }],
    ['no task id anywhere', { code: 200, msg: 'success', data: { state: 'complete' } }],
    ['a bad note', { code: 200, task_id: 'm1', data: { instruments: [{ name: 'x', notes: [{ pitch: -1, start: 0, end: 1, velocity: 0.5 }] }] } }],
  ])('throws InvalidWebhookError for %s', (_name, body) => {
    expect(() => parse(body)).toThrow(InvalidWebhookError);
  });
});

describe('sunoapi adapter: result files', () => {
  const separation = { type: 'split_stem', urls: { vocal: 'https://cdn.example/t/vocal.wav?sig=abc', drums: 'https://cdn.example/t/drums', bass: 'file:///etc/passwd' } };

  it('names one file per stem after its URL’s extension (mp3 when it has none) and skips non-web links', () => {
    expect(adapter().resultFiles!(ref('vocal-separation'), separation)).toEqual([
      { name: 'vocal.wav', contentType: 'audio/wav' },
      { name: 'drums.mp3', contentType: 'audio/mpeg' },
    ]);
    expect(adapter().resultFiles!(ref('midi'), { instruments: [] })).toEqual([{ name: 'notes.json', contentType: 'application/json' }]);
    expect(adapter().resultFiles!(ref('midi'), null)).toEqual([]);
  });

  it('downloads a stem through the dispatcher without sending the API key', async () => {
    let headers: Record<string, string> = {};
    agent
      .get('https://cdn.example')
      .intercept({ path: '/t/vocal.wav?sig=abc', method: 'GET' })
      .reply((opts) => {
        headers = (opts.headers ?? {}) as Record<string, string>;
        return { statusCode: 200, data: 'RIFF', responseOptions: { headers: { 'content-type': 'audio/wav' } } };
      });
    const download = await adapter().download!(ref('vocal-separation'), separation, 'vocal.wav', context());
    expect(download.contentType).toBe('audio/wav');
    expect(await text(download.body)).toBe('RIFF');
    expect(Object.keys(headers).map((h) => h.toLowerCase())).not.toContain('authorization');
  });

  it('serves notes.json from the stored result without a call', async () => {
    const result = { instruments: [{ name: 'Drums', notes: [{ pitch: 36, start: 0, end: 0.1, velocity: 1 }] }] };
    const download = await adapter().download!(ref('midi'), result, 'notes.json', context());
    expect(JSON.parse(await text(download.body))).toEqual(result);
  });

  it('refuses a file the job does not offer, and classifies a failed download', async () => {
    await expect(adapter().download!(ref('vocal-separation'), separation, 'bass.mp3', context())).rejects.toMatchObject({ failure: 'rejected' });
    agent.get('https://cdn.example').intercept({ path: '/t/drums', method: 'GET' }).reply(404, 'Not Found');
    await expect(adapter().download!(ref('vocal-separation'), separation, 'drums.mp3', context())).rejects.toMatchObject({ failure: 'rejected', status: 404 });
  });
});
