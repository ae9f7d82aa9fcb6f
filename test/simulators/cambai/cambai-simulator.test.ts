import { describe, expect, it } from 'vitest';
import {
  CambaiCreateTranscriptionResponse,
  CambaiErrorDetail,
  CambaiExceptionReason,
  CambaiSourceLanguages,
  CambaiTaskStatusResponse,
  CambaiTranscriptFile,
  CambaiTranscriptionResult,
  CambaiTranscriptionResults,
  CambaiValidationError,
} from '../../../src/simulators/cambai/cambai-schemas.js';
import { call, closeSimsAfterEach, createTask, form, manualClock, startSim, succeededRun, waitForTerminal } from './cambai-test-helpers.js';

closeSimsAfterEach();

const endpoints: [string, string][] = [
  ['POST', '/transcribe'],
  ['GET', '/transcribe/some-task'],
  ['GET', '/transcription-result/1'],
  ['POST', '/transcription-results'],
  ['GET', '/source-languages'],
];

describe('Camb.ai simulator › auth', () => {
  it.each(endpoints)('refuses %s %s without the right x-api-key', async (method, path) => {
    const sim = await startSim({ apiKey: 'camb-key' });
    for (const key of [null, 'wrong', 'Bearer camb-key']) {
      const answer = await call(sim, method, path, { key });
      expect(answer.status).toBe(401);
      expect(CambaiErrorDetail.parse(answer.body).detail).toMatch(/API key/);
    }
  });
});

describe('Camb.ai simulator › POST /transcribe', () => {
  it.each([
    ['media_url', { media_url: 'https://example.com/a.mp3' }],
    ['media_file', { media_file: new File([new Uint8Array([1, 2, 3])], 'a.wav', { type: 'audio/wav' }) }],
    ['the deprecated audio_url', { audio_url: 'https://example.com/a.flac' }],
    ['the deprecated file', { file: new File([new Uint8Array([1])], 'a.mp3') }],
  ])('accepts media given as %s and answers a task_id', async (_what, fields) => {
    const sim = await startSim();
    const answer = await call(sim, 'POST', '/transcribe', {
      form: form({ language: '54', project_name: 'p', project_description: 'd', folder_id: '7', ...fields }),
    });
    expect(answer.status).toBe(200);
    const { task_id } = CambaiCreateTranscriptionResponse.parse(answer.body);
    expect(task_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(sim.outcome(task_id ?? '')).toBe('succeeded');
  });

  const invalid: [string, Record<string, string | File>, string, (string | number)[], string][] = [
    ['a missing language', { media_url: 'https://e.com/a.mp3' }, '', ['body', 'language'], 'missing'],
    ['a language that is neither an id, a locale nor "auto"', { language: 'english', media_url: 'https://e.com/a.mp3' }, '', ['body', 'language'], 'value_error'],
    ['an unknown language id', { language: '9999', media_url: 'https://e.com/a.mp3' }, '', ['body', 'language'], 'value_error'],
    ['a language id the SDK enum skips (137)', { language: '137', media_url: 'https://e.com/a.mp3' }, '', ['body', 'language'], 'value_error'],
    ['a transcription_mode other than fast or slow', { language: '1', media_url: 'https://e.com/a.mp3', transcription_mode: 'turbo' }, '', ['body', 'transcription_mode'], 'enum'],
    ['a run_audio_cleaning that is not a boolean', { language: '1', media_url: 'https://e.com/a.mp3', run_audio_cleaning: 'maybe' }, '', ['body', 'run_audio_cleaning'], 'bool_parsing'],
    ['no media at all', { language: '1' }, '', ['body'], 'value_error'],
    ['text where a file belongs', { language: '1', media_file: 'a.mp3' }, '', ['body', 'media_file'], 'value_error'],
    ['a non-integer folder_id', { language: '1', media_url: 'https://e.com/a.mp3', folder_id: 'x' }, '', ['body', 'folder_id'], 'int_parsing'],
    ['a non-integer run_id query', { language: '1', media_url: 'https://e.com/a.mp3' }, '?run_id=abc', ['query', 'run_id'], 'int_parsing'],
  ];

  it.each(invalid)('answers a FastAPI 422 for %s', async (_what, fields, query, loc, type) => {
    const sim = await startSim();
    const answer = await call(sim, 'POST', `/transcribe${query}`, { form: form(fields) });
    expect(answer.status).toBe(422);
    const { detail } = CambaiValidationError.parse(answer.body);
    expect(detail).toContainEqual(expect.objectContaining({ loc, type, msg: expect.any(String) }));
  });

  // Reproduction: the simulator knew seven ids and answered 422 for ids the API documents
  // (35 en-gb, 4 ar-ae, 151 tl-ph), for locale strings and for "auto".
  it.each([
    ['35', 'en-gb, an SDK id outside the old seven'],
    ['4', 'ar-ae'],
    ['151', 'tl-ph, the last SDK id'],
    ['auto', 'language detection'],
    ['en-gb', 'a locale string'],
    ['PT_BR', 'a locale in enum spelling'],
  ])('accepts language %s (%s) with transcription_mode and run_audio_cleaning, which the 7-id simulator refused with 422', async (language) => {
    const sim = await startSim();
    const answer = await call(sim, 'POST', '/transcribe', {
      form: form({ language, media_url: 'https://example.com/a.mp3', transcription_mode: 'slow', run_audio_cleaning: 'true' }),
    });
    expect(answer.status).toBe(200);
    expect(sim.outcome(CambaiCreateTranscriptionResponse.parse(answer.body).task_id ?? '')).toBe('succeeded');
  });

  it('answers 422 with every missing field for a JSON body', async () => {
    const sim = await startSim();
    const answer = await call(sim, 'POST', '/transcribe', { json: { language: 1, media_url: 'https://e.com/a.mp3' } });
    expect(answer.status).toBe(422);
    expect(CambaiValidationError.parse(answer.body).detail.map((d) => d.loc)).toEqual([['body', 'language'], ['body']]);
  });
});

describe('Camb.ai simulator › task status', () => {
  it('stays PENDING, then reaches SUCCESS with an integer run_id, within ten seconds at speed 1', async () => {
    const clock = manualClock();
    const sim = await startSim({ speed: 1, now: clock.now });
    const taskId = await createTask(sim, { media_url: 'https://example.com/a.mp3' });
    const status = async () => CambaiTaskStatusResponse.parse((await call(sim, 'GET', `/transcribe/${taskId}`)).body);
    expect(await status()).toEqual({ status: 'PENDING', run_id: null, exception_reason: null, message: null });
    clock.advance(2999);
    expect((await status()).status).toBe('PENDING');
    clock.advance(6002);
    const done = await status();
    expect(done).toMatchObject({ status: 'SUCCESS', exception_reason: null, message: null });
    expect(Number.isInteger(done.run_id)).toBe(true);
  });

  it('ends in each failure state when the failure knob fires', async () => {
    const sim = await startSim({ seed: 31, faults: { jobFailureRate: 1 } });
    const statuses = new Set<string>();
    const taskIds = await Promise.all(Array.from({ length: 40 }, () => createTask(sim, { media_url: 'https://e.com/a.mp3' })));
    for (const taskId of taskIds) {
      const { seen, final } = await waitForTerminal(sim, taskId);
      expect(seen.slice(0, -1).every((status) => status === 'PENDING')).toBe(true);
      expect(final.run_id).toBeNull();
      expect(typeof final.message).toBe('string');
      if (final.exception_reason !== null) CambaiExceptionReason.parse(final.exception_reason);
      if (final.status === 'ERROR') expect(final.exception_reason).not.toBeNull();
      expect(sim.outcome(taskId)).toBe('failed');
      statuses.add(final.status);
    }
    expect([...statuses].sort()).toEqual(['ERROR', 'PAYMENT_REQUIRED', 'TIMEOUT']);
  });

  it.each([
    ['an unsupported file type', { media_file: new File(['notes'], 'notes.txt') }, 'SOURCE_TYPE_NOT_SUPPORTED'],
    ['an unsupported URL type', { media_url: 'https://example.com/slides.pdf' }, 'SOURCE_TYPE_NOT_SUPPORTED'],
    ['an empty upload', { media_file: new File([], 'empty.wav') }, 'INVALID_SOURCE_DATA'],
  ])('fails with ERROR for %s', async (_what, fields, reason) => {
    const sim = await startSim();
    const taskId = await createTask(sim, fields);
    expect(sim.outcome(taskId)).toBe('failed');
    const { final } = await waitForTerminal(sim, taskId);
    expect(final).toMatchObject({ status: 'ERROR', exception_reason: reason, run_id: null });
  });

  it('answers 404 for an unknown task and outcome undefined', async () => {
    const sim = await startSim();
    const answer = await call(sim, 'GET', '/transcribe/nope');
    expect(answer.status).toBe(404);
    expect(CambaiErrorDetail.parse(answer.body).detail).toBe('Task not found');
    expect(sim.outcome('nope')).toBeUndefined();
  });

  it('decides the same outcomes and transcripts for the same seed', async () => {
    const run = async () => {
      const sim = await startSim({ seed: 77, faults: { jobFailureRate: 0.5 } });
      const taskIds: string[] = [];
      for (let i = 0; i < 12; i++) taskIds.push(await createTask(sim, { media_url: 'https://e.com/a.mp3' }));
      const outcomes = taskIds.map((id) => sim.outcome(id));
      const succeeded = taskIds[outcomes.indexOf('succeeded')] ?? '';
      const { final } = await waitForTerminal(sim, succeeded);
      return { outcomes, transcript: (await call(sim, 'GET', `/transcription-result/${final.run_id}`)).body };
    };
    const first = await run();
    expect(first.outcomes).toContain('failed');
    expect(first.outcomes).toContain('succeeded');
    expect(await run()).toEqual(first);
  });
});

describe('Camb.ai simulator › source languages', () => {
  it('lists languages with integer ids, including the documented ones', async () => {
    const sim = await startSim();
    const languages = CambaiSourceLanguages.parse((await call(sim, 'GET', '/source-languages')).body);
    const ids = languages.map((l) => l.id);
    for (const id of [1, 4, 31, 54, 76, 88, 139]) expect(ids).toContain(id);
    expect(languages.find((l) => l.id === 1)?.language).toMatch(/English/);
  });

  it('lists the official SDK enum, about 150 ids with their locales (35 = en-gb, 4 = ar-ae), not seven', async () => {
    const sim = await startSim();
    const languages = CambaiSourceLanguages.parse((await call(sim, 'GET', '/source-languages')).body);
    expect(languages).toHaveLength(149);
    expect(languages.find((l) => l.id === 35)).toMatchObject({ short_name: 'en-gb', language: expect.stringMatching(/English/) });
    expect(languages.find((l) => l.id === 4)?.short_name).toBe('ar-ae');
    expect(languages.map((l) => l.id)).not.toContain(137);
  });
});

describe('Camb.ai simulator › faults', () => {
  it('answers random 5xx with a JSON detail, and recovers when the knob is reset', async () => {
    const sim = await startSim({ seed: 3, faults: { serverErrorRate: 1 } });
    for (let i = 0; i < 10; i++) {
      const answer = await call(sim, 'GET', '/source-languages');
      expect([500, 502, 503]).toContain(answer.status);
      expect(CambaiErrorDetail.parse(answer.body).detail).toEqual(expect.any(String));
    }
    sim.setFaults({ serverErrorRate: 0 });
    expect((await call(sim, 'GET', '/source-languages')).status).toBe(200);
  });

  it('rate-limits with 429, Retry-After and a detail, creating no task when refused', async () => {
    const sim = await startSim({ faults: { rateLimit: { limit: 1, windowMs: 60_000, retryAfterSeconds: 3 } } });
    expect((await call(sim, 'GET', '/source-languages')).status).toBe(200);
    const refused = await call(sim, 'POST', '/transcribe', { form: form({ language: '1', media_url: 'https://e.com/a.mp3' }) });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('3');
    expect(CambaiErrorDetail.parse(refused.body).detail).toBe('Too many requests');
  });
});

describe('Camb.ai simulator › rate limit as X-RateLimit-Reset', () => {
  it('sends only X-RateLimit-Reset, a Unix time in seconds, when asked to', async () => {
    const sim = await startSim({ rateLimitHeader: 'x-ratelimit-reset', faults: { rateLimit: { limit: 1, windowMs: 60_000, retryAfterSeconds: 3 } } });
    expect((await call(sim, 'GET', '/source-languages')).status).toBe(200);
    const before = Date.now();
    const refused = await call(sim, 'GET', '/source-languages');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBeNull();
    const reset = Number(refused.headers.get('x-ratelimit-reset'));
    expect(reset * 1000).toBeGreaterThanOrEqual(before + 2000);
    expect(reset * 1000).toBeLessThanOrEqual(Date.now() + 4000);
  });
});

describe('Camb.ai simulator › bulk results', () => {
  it('answers results keyed by run id strings, leaving out unknown runs', async () => {
    const sim = await startSim({ seed: 5 });
    const a = await succeededRun(sim);
    const b = await succeededRun(sim);
    const answer = await call(sim, 'POST', '/transcription-results', { json: { run_ids: [a, b, 1] } });
    expect(answer.status).toBe(200);
    const results = CambaiTranscriptionResults.parse(answer.body);
    expect(Object.keys(results).sort()).toEqual([String(a), String(b)].sort());
    const single = CambaiTranscriptionResult.parse((await call(sim, 'GET', `/transcription-result/${a}`)).body);
    expect(results[String(a)]).toEqual(single);
  });

  it.each([
    ['invalid JSON', '{run_ids:', ['body', 0], 'json_invalid'],
    ['a missing run_ids', { ids: [1] }, ['body', 'run_ids'], 'missing'],
    ['run_ids that is not a list', { run_ids: 5 }, ['body', 'run_ids'], 'list_type'],
    ['a run id that is not an integer', { run_ids: [1, 'x'] }, ['body', 'run_ids', 1], 'int_parsing'],
  ])('answers a FastAPI 422 for %s', async (_what, json, loc, type) => {
    const sim = await startSim();
    const answer = await call(sim, 'POST', '/transcription-results', { json });
    expect(answer.status).toBe(422);
    expect(CambaiValidationError.parse(answer.body).detail).toContainEqual(expect.objectContaining({ loc, type }));
  });
});

describe('Camb.ai simulator › transcript file', () => {
  it('answers { file_url, expiry } for data_type=file and serves the file without an API key', async () => {
    const clock = manualClock();
    const sim = await startSim({ speed: 1, now: clock.now });
    const taskId = await createTask(sim, { media_url: 'https://example.com/a.mp3' });
    clock.advance(10_000);
    const { final } = await waitForTerminal(sim, taskId);
    const answer = await call(sim, 'GET', `/transcription-result/${final.run_id}?data_type=file&format_type=vtt`);
    const file = CambaiTranscriptFile.parse(answer.body);
    expect(Date.parse(file.expiry)).toBe(clock.now() + 3_600_000);
    expect(file.file_url.startsWith(sim.url)).toBe(true);
    const vtt = await fetch(file.file_url);
    expect(vtt.headers.get('content-type')).toMatch(/^text\/vtt/);
    expect((await vtt.text()).startsWith('WEBVTT\n\n')).toBe(true);
    expect((await fetch(file.file_url.replace(/signature=\w+/, 'signature=no'))).status).toBe(404);
  });
});
