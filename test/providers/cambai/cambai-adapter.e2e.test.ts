import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCambaiAdapter } from '../../../src/providers/cambai/cambai-adapter.js';
import type { CambaiSimulatorOptions, RunningCambaiSimulator } from '../../../src/simulators/cambai/cambai-simulator.js';
import { startCambaiSimulator } from '../../../src/simulators/cambai/cambai-simulator.js';
import type { ProviderAdapter, ProviderJobRef } from '../../../src/streams/provider-port.js';
import { createDispatcher } from '../../../src/providers/provider-http.js';
import { wavFile } from '../../../src/simulators/kit/media.js';
import { createEngine, type Engine, type EngineEvent } from '../../../src/streams/engine.js';
import { InvalidRequestError, ProviderError } from '../../../src/streams/errors.js';
import { MemoryStore } from '../../../src/streams/job-store.js';
import type { JobSnapshot } from '../../../src/streams/job-snapshot.js';
import type { PollPolicy } from '../../../src/streams/poll-scheduler.js';

const FAST: Partial<PollPolicy> = {
  intervalMs: 10,
  backoff: { initialMs: 10, maxMs: 100 },
  rate: { limit: 1000, windowMs: 1000 },
  maxInFlight: 8,
};
const URL_INPUT = { type: 'url', url: 'https://example.com/podcast/episode.mp3' } as const;
const EXCEPTION_REASONS = ['PROCESSING_ERROR', 'INTERNAL_ERROR', 'INVALID_SOURCE_DATA', 'TIMEOUT', 'PAYMENT_REQUIRED'];

interface Setup {
  sim: RunningCambaiSimulator;
  adapter: ProviderAdapter;
  engine: Engine;
  events: EngineEvent[];
}

const teardown: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of teardown.splice(0).reverse()) await close();
});

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cambai-adapter-e2e-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function setup(simOptions: CambaiSimulatorOptions = {}, apiKey?: string): Promise<Setup> {
  const sim = await startCambaiSimulator({ speed: 500, seed: 3, ...simOptions });
  teardown.push(() => sim.close());
  const dispatcher = createDispatcher();
  teardown.push(() => dispatcher.close());
  const adapter = createCambaiAdapter({ apiKey: apiKey ?? sim.apiKey, baseUrl: sim.baseUrl, dispatcher, pollPolicy: FAST });
  const engine = await createEngine({ providers: [adapter], store: new MemoryStore() });
  teardown.push(() => engine.close());
  const events: EngineEvent[] = [];
  engine.events$.subscribe((event) => events.push(event));
  return { sim, adapter, engine, events };
}

function refOf(job: JobSnapshot): ProviderJobRef {
  return { externalId: job.externalId!, kind: job.kind, options: job.options };
}

async function textOf(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks).toString('utf8');
}

interface Segment {
  start: number;
  end: number;
  text: string;
  speaker: string;
}

/** Checks the three transcript files against the stored segments. */
async function checkFiles(s: Setup, job: JobSnapshot): Promise<void> {
  const segments = (job.result as unknown as { transcript: Segment[] }).transcript;
  const names = s.adapter.resultFiles!(refOf(job), job.result).map((f) => f.name);
  expect(names).toEqual(['transcript.json', 'transcript.txt', 'transcript.srt']);
  const files = new Map<string, string>();
  for (const name of names) {
    const download = await s.adapter.download!(refOf(job), job.result, name, { signal: AbortSignal.timeout(5000) });
    files.set(name, await textOf(download.body));
  }
  expect(JSON.parse(files.get('transcript.json')!)).toEqual(segments);
  const lines = files.get('transcript.txt')!.trimEnd().split('\n');
  expect(lines).toHaveLength(segments.length);
  expect(lines[0]).toBe(`${segments[0]!.speaker}: ${segments[0]!.text}`);
  const cues = files.get('transcript.srt')!.trimEnd().split('\n\n');
  expect(cues).toHaveLength(segments.length);
  cues.forEach((cue, i) => {
    const [index, timing, body] = cue.split('\n');
    expect(index).toBe(String(i + 1));
    expect(timing).toMatch(/^\d{2}:\d{2}:\d{2},\d{3} --> \d{2}:\d{2}:\d{2},\d{3}$/);
    expect(body).toBe(`${segments[i]!.speaker}: ${segments[i]!.text}`);
  });
}

describe('Camb.ai adapter against the simulator, through the engine', () => {
  it('transcribes a URL input and renders JSON, text and SubRip files', async () => {
    const s = await setup();
    const submitted = await s.engine.submit({ provider: 'cambai', kind: 'transcription', input: URL_INPUT, options: { language: 1 } });
    const done = await s.engine.waitFor(submitted.id, { timeoutMs: 5000 });
    expect(done).toMatchObject({ status: 'succeeded', providerStatus: 'SUCCESS' });
    expect(s.sim.outcome(done.externalId!)).toBe('succeeded');
    const result = done.result as unknown as { runId: number; transcript: Segment[] };
    expect(Number.isInteger(result.runId)).toBe(true);
    expect(result.transcript.length).toBeGreaterThan(0);
    for (const segment of result.transcript) {
      expect(segment).toEqual({ start: expect.any(Number), end: expect.any(Number), text: expect.any(String), speaker: expect.any(String) });
      expect(segment.end).toBeGreaterThanOrEqual(segment.start);
    }
    await checkFiles(s, done);
  });

  it('uploads a file input as media_file, with project fields', async () => {
    const s = await setup();
    const path = join(dir, 'interview.wav');
    await writeFile(path, wavFile({ seconds: 0.1, sampleRate: 8000, channels: 1 }));
    const submitted = await s.engine.submit({
      provider: 'cambai',
      kind: 'transcription',
      input: { type: 'file', path, contentType: 'audio/wav' },
      options: { language: 31, projectName: 'jobstream e2e', projectDescription: 'adapter test' },
    });
    const done = await s.engine.waitFor(submitted.id, { timeoutMs: 5000 });
    expect(done.status).toBe('succeeded');
    expect(s.sim.outcome(done.externalId!)).toBe('succeeded');
    await checkFiles(s, done);
  });

  it('reports a media problem the simulator finds while processing (an empty upload)', async () => {
    const s = await setup();
    const path = join(dir, 'empty.mp3');
    await writeFile(path, Buffer.alloc(0));
    const submitted = await s.engine.submit({ provider: 'cambai', kind: 'transcription', input: { type: 'file', path }, options: { language: 1 } });
    const done = await s.engine.waitFor(submitted.id, { timeoutMs: 5000 });
    expect(s.sim.outcome(done.externalId!)).toBe('failed');
    expect(done).toMatchObject({ status: 'failed', providerStatus: 'ERROR', error: { code: 'INVALID_SOURCE_DATA' } });
  });

  it('reports failed tasks with the exception reason (or the status) and the message', async () => {
    const s = await setup({ faults: { jobFailureRate: 1 } });
    const jobs = await Promise.all(
      [1, 4, 31, 54, 76].map((language) => s.engine.submit({ provider: 'cambai', kind: 'transcription', input: URL_INPUT, options: { language } })),
    );
    for (const job of jobs) {
      const done = await s.engine.waitFor(job.id, { timeoutMs: 5000 });
      expect(s.sim.outcome(done.externalId!)).toBe('failed');
      expect(done.status).toBe('failed');
      expect(['ERROR', 'TIMEOUT', 'PAYMENT_REQUIRED']).toContain(done.providerStatus);
      expect(EXCEPTION_REASONS).toContain(done.error?.code);
      expect(done.error?.message).not.toBe('');
      expect(done.result).toBeNull();
    }
  });

  it('refuses a language id outside the official list (9999, 137) before recording or calling anything', async () => {
    const s = await setup();
    for (const language of [9999, 137]) {
      const error: unknown = await s.engine
        .submit({ provider: 'cambai', kind: 'transcription', input: URL_INPUT, options: { language } })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidRequestError);
      expect((error as InvalidRequestError).issues[0]?.field).toBe('options.language');
    }
    expect(s.engine.snapshot().jobs).toEqual([]);
  });

  // Reproduction: the adapter took only positive integers and the simulator only seven ids, so
  // "auto", locales and most documented ids ended as PROVIDER_REJECTED (or were refused).
  it.each([35, 'auto', 'en-gb'])(
    'transcribes with language %s, transcriptionMode, runAudioCleaning and word-level timestamps',
    async (language) => {
      const s = await setup();
      const submitted = await s.engine.submit({
        provider: 'cambai',
        kind: 'transcription',
        input: URL_INPUT,
        options: { language, transcriptionMode: 'slow', runAudioCleaning: true, wordLevelTimestamps: true },
      });
      const done = await s.engine.waitFor(submitted.id, { timeoutMs: 5000 });
      expect(done).toMatchObject({ status: 'succeeded', providerStatus: 'SUCCESS' });
      const result = done.result as unknown as { transcript: Segment[] };
      expect(result.transcript.length).toBeGreaterThan(0);
      for (const segment of result.transcript) expect(segment.text.trim()).not.toMatch(/\s/);
    },
  );

  // Reproduction: a 429 that says when to come back only in X-RateLimit-Reset (as the Camb.ai SDK
  // reads it) gave no retryAfterMs, so the scheduler fell back to its short backoff.
  it('reads X-RateLimit-Reset as the retry delay when Retry-After is absent', async () => {
    const s = await setup({ rateLimitHeader: 'x-ratelimit-reset', faults: { rateLimit: { limit: 1, windowMs: 60_000, retryAfterSeconds: 3 } } });
    const ref: ProviderJobRef = { externalId: 'no-such-task', kind: 'transcription', options: { language: 1 } };
    await s.adapter.poll(ref, { signal: AbortSignal.timeout(5000) }).catch(() => undefined);
    const error: unknown = await s.adapter.poll(ref, { signal: AbortSignal.timeout(5000) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ failure: 'rate-limited' });
    const { retryAfterMs } = error as ProviderError;
    expect(retryAfterMs).toBeGreaterThan(1000);
    expect(retryAfterMs).toBeLessThanOrEqual(4000); // the reset is rounded up to a whole second
  });

  it('refuses a request without a language before recording anything', async () => {
    const s = await setup();
    await expect(s.engine.submit({ provider: 'cambai', kind: 'transcription', input: URL_INPUT, options: {} })).rejects.toBeInstanceOf(
      InvalidRequestError,
    );
    expect(s.engine.snapshot().jobs).toEqual([]);
  });

  it('cancels only locally (Camb.ai has no cancel), saying that Camb.ai may still run and bill the task (was: plain canceled)', async () => {
    const s = await setup({ speed: 1 });
    const submitted = await s.engine.submit({ provider: 'cambai', kind: 'transcription', input: URL_INPUT, options: { language: 1 } });
    expect(s.engine.cancelModeOf('cambai')).toBe('tracking-only');
    const canceled = await s.engine.cancel(submitted.id);
    expect(canceled).toMatchObject({ status: 'canceled', providerStatus: 'tracking-stopped', error: { code: 'TRACKING_STOPPED' } });
    expect(canceled.error?.message).toMatch(/cambai may still run it and bill for it/);
  });

  it('reaches the decided outcomes through 5xx, 429 with Retry-After and slow answers, honouring Retry-After', async () => {
    const s = await setup({ speed: 10, seed: 5, faults: { jobFailureRate: 0.5 } });
    const jobs = await Promise.all(
      [1, 54, 76, 88].map((language) => s.engine.submit({ provider: 'cambai', kind: 'transcription', input: URL_INPUT, options: { language } })),
    );
    expect(jobs.every((j) => j.externalId !== null)).toBe(true);
    s.sim.setFaults({ serverErrorRate: 0.3, slowRate: 0.1, slowMs: 100, rateLimit: { limit: 6, windowMs: 1000, retryAfterSeconds: 1 } });

    const finished = await Promise.all(jobs.map((j) => s.engine.waitFor(j.id, { timeoutMs: 15_000 })));
    for (const done of finished) expect(done.status).toBe(s.sim.outcome(done.externalId!));
    // Seed 5 decides a mix, so both terminal paths ran under faults.
    expect(new Set(finished.map((j) => j.status))).toEqual(new Set(['succeeded', 'failed']));
    for (const done of finished.filter((j) => j.status === 'succeeded')) await checkFiles(s, done);

    const polls = s.events.filter((e): e is Extract<EngineEvent, { type: 'poll' }> => e.type === 'poll' && e.provider === 'cambai');
    const limited = polls.filter((e) => e.outcome === 'rate-limited');
    expect(limited.length).toBeGreaterThan(0);
    expect(polls.some((e) => e.outcome === 'unavailable')).toBe(true);
    for (const hit of limited) {
      expect(hit.retryAfterMs).toBe(1000);
      // Polls already in flight when the 429 came back are not covered; every later one waited.
      const later = polls.filter((p) => p.startedAt > hit.endedAt);
      for (const poll of later) expect(poll.startedAt).toBeGreaterThanOrEqual(hit.endedAt + hit.retryAfterMs!);
    }
  });
});
