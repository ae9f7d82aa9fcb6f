import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { listMusicaiJobs } from '../../../src/providers/musicai/musicai-adapter-client.js';
import { createMusicaiAdapter } from '../../../src/providers/musicai/musicai-adapter.js';
import type { MusicaiSimulatorOptions, RunningMusicaiSimulator } from '../../../src/simulators/musicai/musicai-simulator.js';
import { startMusicaiSimulator } from '../../../src/simulators/musicai/musicai-simulator.js';
import type { ProviderAdapter, ProviderJobRef } from '../../../src/streams/provider-port.js';
import { createDispatcher } from '../../../src/providers/provider-http.js';
import { wavFile } from '../../../src/simulators/kit/media.js';
import { createEngine, type Engine, type EngineEvent } from '../../../src/streams/engine.js';
import { InvalidRequestError } from '../../../src/streams/errors.js';
import { MemoryStore } from '../../../src/streams/job-store.js';
import type { JobSnapshot } from '../../../src/streams/job-snapshot.js';
import type { PollPolicy } from '../../../src/streams/poll-scheduler.js';
import { parseWav } from '../../simulators/kit/media-parsers.js';

const FAST: Partial<PollPolicy> = {
  intervalMs: 10,
  backoff: { initialMs: 10, maxMs: 100 },
  rate: { limit: 1000, windowMs: 1000 },
  maxInFlight: 8,
};
const URL_INPUT = { type: 'url', url: 'https://example.com/music/song.mp3' } as const;

interface Setup {
  sim: RunningMusicaiSimulator;
  adapter: ProviderAdapter;
  engine: Engine;
  events: EngineEvent[];
  dispatcher: ReturnType<typeof createDispatcher>;
}

const teardown: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of teardown.splice(0).reverse()) await close();
});

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'musicai-adapter-e2e-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function setup(simOptions: MusicaiSimulatorOptions = {}, apiKey?: string): Promise<Setup> {
  const sim = await startMusicaiSimulator({ speed: 500, seed: 7, ...simOptions });
  teardown.push(() => sim.close());
  const dispatcher = createDispatcher();
  teardown.push(() => dispatcher.close());
  const adapter = createMusicaiAdapter({ apiKey: apiKey ?? sim.apiKey, baseUrl: sim.apiEndpoint, dispatcher, pollPolicy: FAST });
  const engine = await createEngine({ providers: [adapter], store: new MemoryStore() });
  teardown.push(() => engine.close());
  const events: EngineEvent[] = [];
  engine.events$.subscribe((event) => events.push(event));
  return { sim, adapter, engine, events, dispatcher };
}

function refOf(job: JobSnapshot): ProviderJobRef {
  return { externalId: job.externalId!, kind: job.kind, options: job.options };
}

async function bytesOf(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

async function downloadAll(s: Setup, job: JobSnapshot): Promise<Map<string, { contentType: string; bytes: Buffer }>> {
  const files = new Map<string, { contentType: string; bytes: Buffer }>();
  for (const file of s.adapter.resultFiles!(refOf(job), job.result)) {
    const download = await s.adapter.download!(refOf(job), job.result, file.name, { signal: AbortSignal.timeout(5000) });
    files.set(file.name, { contentType: download.contentType, bytes: await bytesOf(download.body) });
  }
  return files;
}

describe('Music.AI adapter against the simulator, through the engine', () => {
  it('runs a stem workflow on a URL input and downloads real WAV stems', async () => {
    const s = await setup();
    const submitted = await s.engine.submit({ provider: 'musicai', kind: 'workflow', input: URL_INPUT, options: { workflow: 'stems-four' } });
    const done = await s.engine.waitFor(submitted.id, { timeoutMs: 5000 });
    expect(done.status).toBe('succeeded');
    expect(s.sim.outcome(done.externalId!)).toBe('succeeded');
    expect(Object.keys(done.result as object)).toEqual(['vocals', 'drums', 'bass', 'other']);

    const files = await downloadAll(s, done);
    expect([...files.keys()]).toEqual(['vocals.wav', 'drums.wav', 'bass.wav', 'other.wav']);
    for (const file of files.values()) {
      expect(file.contentType).toBe('audio/wav');
      expect(file.bytes.toString('ascii', 0, 4)).toBe('RIFF');
      expect(parseWav(file.bytes)).toMatchObject({ format: 1, channels: 2, bitsPerSample: 16 });
    }
    expect(s.events.some((e) => e.type === 'poll' && e.outcome === 'ok')).toBe(true);
  });

  // Reproduction: the simulator's `music-ai/generate-chords` takes `Input1`, not `inputUrl`; the
  // adapter always sent `inputUrl`, so the job was refused with 422 INVALID_PARAMS.
  it('uploads a file into a workflow whose input is Input1, given inputParam', async () => {
    const s = await setup();
    const path = join(dir, 'chords.wav');
    const audio = wavFile({ seconds: 0.1, sampleRate: 8000, channels: 1 });
    await writeFile(path, audio);
    const submitted = await s.engine.submit({
      provider: 'musicai',
      kind: 'workflow',
      input: { type: 'file', path, contentType: 'audio/wav' },
      options: { workflow: 'music-ai/generate-chords', inputParam: 'Input1' },
    });
    const done = await s.engine.waitFor(submitted.id, { timeoutMs: 5000 });
    expect(done).toMatchObject({ status: 'succeeded', providerStatus: 'SUCCEEDED' });
    const [remote] = (await listMusicaiJobs({ apiKey: s.sim.apiKey, baseUrl: s.sim.apiEndpoint, dispatcher: s.dispatcher }, AbortSignal.timeout(5000)))
      .filter((j) => j.id === done.externalId);
    const input1 = (remote?.workflowParams as { Input1: string }).Input1;
    expect(Buffer.from(await (await fetch(input1)).arrayBuffer()).equals(audio)).toBe(true);
    expect([...(await downloadAll(s, done)).keys()]).toEqual(['chords.json']);
  });

  it('runs a two-input workflow: the file as Input 1, a URL param as Input 2', async () => {
    const s = await setup();
    const submitted = await s.engine.submit({
      provider: 'musicai',
      kind: 'workflow',
      input: { type: 'url', url: 'https://example.com/vocals-from.mp3' },
      options: { workflow: 'mashup-two-songs', inputParam: 'Input 1', params: { 'Input 2': 'https://example.com/backing.mp3' } },
    });
    const done = await s.engine.waitFor(submitted.id, { timeoutMs: 5000 });
    expect(done.status).toBe('succeeded');
    expect(s.sim.outcome(done.externalId!)).toBe('succeeded');
  });

  it('uploads a file input, runs the BPM workflow, and serves the beat map and result.json', async () => {
    const s = await setup();
    const path = join(dir, 'input.wav');
    const audio = wavFile({ seconds: 0.1, sampleRate: 8000, channels: 1 });
    await writeFile(path, audio);
    const submitted = await s.engine.submit({
      provider: 'musicai',
      kind: 'workflow',
      name: 'bpm of input.wav',
      metadata: { origin: 'e2e' },
      input: { type: 'file', path, contentType: 'audio/wav' },
      options: { workflow: 'untitled-workflow-e78c2e' },
    });
    const done = await s.engine.waitFor(submitted.id, { timeoutMs: 5000 });
    expect(done.status).toBe('succeeded');
    expect(s.sim.outcome(done.externalId!)).toBe('succeeded');

    // The simulator kept the uploaded bytes behind the input URL the job was given.
    const [remote] = (await listMusicaiJobs({ apiKey: s.sim.apiKey, baseUrl: s.sim.apiEndpoint, dispatcher: s.dispatcher }, AbortSignal.timeout(5000)))
      .filter((j) => j.id === done.externalId);
    expect(remote).toMatchObject({ name: 'bpm of input.wav', metadata: { origin: 'e2e' } });
    const inputUrl = (remote?.workflowParams as { inputUrl: string }).inputUrl;
    expect(Buffer.from(await (await fetch(inputUrl)).arrayBuffer()).equals(audio)).toBe(true);

    const files = await downloadAll(s, done);
    expect([...files.keys()]).toEqual(['beats.json', 'result.json']);
    const beats = JSON.parse(files.get('beats.json')!.bytes.toString('utf8')) as { bpm: number; beats: { time: number; beat: number }[] };
    expect(files.get('beats.json')!.contentType).toMatch(/^application\/json/);
    expect(beats.beats.length).toBeGreaterThan(0);
    expect(beats.beats[0]).toEqual({ time: 0, beat: 1 });
    const scalars = JSON.parse(files.get('result.json')!.bytes.toString('utf8')) as { bpm: string };
    expect(scalars).toEqual({ bpm: String(beats.bpm) });
  });

  it('reports a failed job with the provider error code and message', async () => {
    const s = await setup({ faults: { jobFailureRate: 1 } });
    const submitted = await s.engine.submit({ provider: 'musicai', kind: 'workflow', input: URL_INPUT, options: { workflow: 'stems-six' } });
    const done = await s.engine.waitFor(submitted.id, { timeoutMs: 5000 });
    expect(s.sim.outcome(done.externalId!)).toBe('failed');
    expect(done).toMatchObject({ status: 'failed', providerStatus: 'FAILED', result: null });
    const [remote] = (await listMusicaiJobs({ apiKey: s.sim.apiKey, baseUrl: s.sim.apiEndpoint, dispatcher: s.dispatcher }, AbortSignal.timeout(5000)))
      .filter((j) => j.id === done.externalId);
    const error = remote?.error as { code: string; message: string };
    expect(['BAD_INPUT', 'TIMEOUT', 'INTERNAL_ERROR']).toContain(error.code);
    expect(done.error).toEqual({ code: error.code, message: error.message });
  });

  it('fails the submission as rejected for an unknown workflow, naming it', async () => {
    const s = await setup();
    const job = await s.engine.submit({ provider: 'musicai', kind: 'workflow', input: URL_INPUT, options: { workflow: 'no-such-flow' } });
    expect(job.status).toBe('failed');
    expect(job.error?.code).toBe('PROVIDER_REJECTED');
    expect(job.error?.message).toMatch(/Workflow not found: no-such-flow/);
  });

  it('refuses an invalid request before recording anything', async () => {
    const s = await setup();
    await expect(s.engine.submit({ provider: 'musicai', kind: 'workflow', input: URL_INPUT, options: {} })).rejects.toBeInstanceOf(InvalidRequestError);
    expect(s.engine.snapshot().jobs).toEqual([]);
  });

  it('cancels by deleting the job at the provider', async () => {
    const s = await setup({ speed: 1 });
    const submitted = await s.engine.submit({ provider: 'musicai', kind: 'workflow', input: URL_INPUT, options: { workflow: 'stems-four' } });
    expect(s.engine.cancelModeOf('musicai')).toBe('provider');
    const canceled = await s.engine.cancel(submitted.id);
    expect(canceled).toMatchObject({ status: 'canceled', providerStatus: 'canceled', error: null });
    const remaining = await listMusicaiJobs({ apiKey: s.sim.apiKey, baseUrl: s.sim.apiEndpoint, dispatcher: s.dispatcher }, AbortSignal.timeout(5000));
    expect(remaining.map((j) => j.id)).not.toContain(submitted.externalId);
  });

  it('reaches the decided outcomes through 5xx, 429 with Retry-After and slow answers, honouring Retry-After', async () => {
    const s = await setup({ speed: 10, seed: 11, faults: { jobFailureRate: 0.5 } });
    const jobs = await Promise.all(
      ['stems-four', 'vocals-accompaniment', 'dialogue-music-effects', 'stems-six'].map((workflow) =>
        s.engine.submit({ provider: 'musicai', kind: 'workflow', input: URL_INPUT, options: { workflow } }),
      ),
    );
    expect(jobs.every((j) => j.externalId !== null)).toBe(true);
    s.sim.setFaults({ serverErrorRate: 0.3, slowRate: 0.1, slowMs: 100, rateLimit: { limit: 6, windowMs: 1000, retryAfterSeconds: 1 } });

    const finished = await Promise.all(jobs.map((j) => s.engine.waitFor(j.id, { timeoutMs: 15_000 })));
    for (const done of finished) expect(done.status).toBe(s.sim.outcome(done.externalId!));
    // Seed 11 decides a mix, so both terminal paths ran under faults.
    expect(new Set(finished.map((j) => j.status))).toEqual(new Set(['succeeded', 'failed']));

    const polls = s.events.filter((e): e is Extract<EngineEvent, { type: 'poll' }> => e.type === 'poll' && e.provider === 'musicai');
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
