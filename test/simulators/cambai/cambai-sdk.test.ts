import { setTimeout as sleep } from 'node:timers/promises';
import { CambApi, CambApiError, CambClient } from '@camb-ai/sdk';
import { describe, expect, it } from 'vitest';
import { CambaiTranscriptionResult } from '../../../src/simulators/cambai/cambai-schemas.js';
import { wavFile } from '../../../src/simulators/kit/media.js';
import type { RunningCambaiSimulator } from '../../../src/simulators/cambai/cambai-simulator.js';
import { closeSimsAfterEach, startSim } from './cambai-test-helpers.js';

closeSimsAfterEach();

/** The official client, given only the simulator's base URL (and no retries unless asked). */
function client(sim: RunningCambaiSimulator, extra: Partial<CambClient.Options> = {}): CambClient {
  return new CambClient({ apiKey: sim.apiKey, baseUrl: sim.baseUrl, maxRetries: 0, ...extra });
}

/** Polls with the SDK until the task is not PENDING (bounded). */
async function pollWithSdk(camb: CambClient, taskId: string): Promise<CambApi.OrchestratorPipelineResult> {
  for (let attempt = 0; attempt < 400; attempt++) {
    const status = await camb.transcription.getTranscriptionTaskStatus({ task_id: taskId });
    if (status.status !== 'PENDING') return status;
    await sleep(5);
  }
  throw new Error('task did not finish');
}

describe('Camb.ai simulator with the official @camb-ai/sdk', () => {
  it('creates a transcription, polls it and fetches its results', async () => {
    const sim = await startSim({ seed: 17 });
    const camb = client(sim);

    const languages = await camb.languages.getSourceLanguages();
    expect(languages.find((l) => l.id === 1)?.short_name).toBe('en-us');

    const created = await camb.transcription.createTranscription({
      language: 1,
      media_file: { data: wavFile({ seconds: 0.2, sampleRate: 8000, channels: 1 }), filename: 'interview.wav', contentType: 'audio/wav' },
      project_name: 'sdk test',
      folder_id: 3,
    });
    expect(created.task_id).toEqual(expect.any(String));
    const status = await pollWithSdk(camb, created.task_id ?? '');
    expect(status.status).toBe('SUCCESS');
    const runId = status.run_id ?? -1;
    expect(Number.isInteger(runId)).toBe(true);
    expect(sim.outcome(created.task_id ?? '')).toBe('succeeded');

    const result = await camb.transcription.getTranscriptionResult({ run_id: runId });
    const segments = CambaiTranscriptionResult.parse(result).transcript;
    expect(segments.length).toBeGreaterThanOrEqual(4);
    const words = await camb.transcription.getTranscriptionResult({ run_id: runId, word_level_timestamps: true });
    expect(words.transcript.length).toBeGreaterThan(segments.length);

    const bulk = await camb.transcription.getTranscriptionResults({ body: { run_ids: [runId] } });
    expect(bulk).toEqual({ [String(runId)]: result });
  });

  it('creates a transcription from a media_url', async () => {
    const sim = await startSim({ seed: 18 });
    const camb = client(sim);
    const created = await camb.transcription.createTranscription({ language: 54, media_url: 'https://example.com/entrevista.mp3' });
    expect((await pollWithSdk(camb, created.task_id ?? '')).status).toBe('SUCCESS');
  });

  it('surfaces a 422 as UnprocessableEntityError with the FastAPI detail', async () => {
    const sim = await startSim();
    const camb = client(sim);
    const error = await camb.transcription.createTranscription({ language: 9999, media_url: 'https://e.com/a.mp3' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CambApi.UnprocessableEntityError);
    const { statusCode, body } = error as CambApi.UnprocessableEntityError;
    expect(statusCode).toBe(422);
    expect(body).toEqual({ detail: [expect.objectContaining({ loc: ['body', 'language'], type: 'value_error' })] });
  });

  it('surfaces a wrong key as CambApiError 401', async () => {
    const sim = await startSim();
    const camb = new CambClient({ apiKey: 'wrong', baseUrl: sim.baseUrl });
    const error = await camb.languages.getSourceLanguages().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CambApiError);
    expect((error as CambApiError).statusCode).toBe(401);
    expect((error as CambApiError).body).toEqual({ detail: 'Invalid API key' });
  });

  it('surfaces a 429 as CambApiError when retries are off', async () => {
    const sim = await startSim({ faults: { rateLimit: { limit: 1, windowMs: 60_000, retryAfterSeconds: 1 } } });
    await client(sim).languages.getSourceLanguages();
    const refused = await client(sim).languages.getSourceLanguages().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(CambApiError);
    expect((refused as CambApiError).statusCode).toBe(429);
  });

  it('is retried by the SDK (default retries) after the Retry-After it sends', async () => {
    const sim = await startSim({ faults: { rateLimit: { limit: 1, windowMs: 500, retryAfterSeconds: 1 } } });
    const camb = new CambClient({ apiKey: sim.apiKey, baseUrl: sim.baseUrl });
    await camb.languages.getSourceLanguages();
    const started = performance.now();
    const languages = await camb.languages.getSourceLanguages();
    expect(languages.length).toBeGreaterThan(0);
    expect(performance.now() - started).toBeGreaterThanOrEqual(950);
  });
});
