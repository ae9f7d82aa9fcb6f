import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Dispatcher } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCambaiAdapter } from '../../src/providers/cambai/cambai-adapter.js';
import { createKlangioAdapter } from '../../src/providers/klangio/klangio-adapter.js';
import { listMusicaiJobs } from '../../src/providers/musicai/musicai-adapter-client.js';
import { createMusicaiAdapter } from '../../src/providers/musicai/musicai-adapter.js';
import { createDispatcher } from '../../src/providers/provider-http.js';
import { startCambaiSimulator } from '../../src/simulators/cambai/cambai-simulator.js';
import { wavFile } from '../../src/simulators/kit/media.js';
import { startKlangioSimulator } from '../../src/simulators/klangio/klangio-simulator.js';
import { startMusicaiSimulator } from '../../src/simulators/musicai/musicai-simulator.js';
import type { SubmitRequest } from '../../src/streams/engine-requests.js';
import { createEngine } from '../../src/streams/engine.js';
import { MemoryStore } from '../../src/streams/job-store.js';
import type { PollPolicy } from '../../src/streams/poll-scheduler.js';
import type { ProviderAdapter } from '../../src/streams/provider-port.js';

const FAST: Partial<PollPolicy> = { intervalMs: 20, backoff: { initialMs: 10, maxMs: 50 }, rate: { limit: 1000, windowMs: 1000 }, maxInFlight: 8 };
/** What the dispatcher allows any answer: polls keep it, create calls wait longer. */
const POLL_TIMEOUT_MS = 200;
/**
 * How late the simulators answer a create call, after making the job: well past both timeouts,
 * since undici checks its timers on a coarse tick (they may fire up to about a second late).
 */
const CREATE_DELAY_MS = 2000;

let dir = '';
let audioPath = '';
const cleanups: (() => Promise<void>)[] = [];
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'create-timeout-'));
  audioPath = join(dir, 'take.wav');
  await writeFile(audioPath, wavFile({ seconds: 0.05 }));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Provider {
  adapter: (createTimeoutMs?: number) => ProviderAdapter;
  request: SubmitRequest;
  /** How many jobs the simulator holds: what the provider would bill. */
  jobsAtProvider: () => Promise<number>;
}

type AdapterConnection = { apiKey: string; baseUrl: string; dispatcher: Dispatcher; pollPolicy: Partial<PollPolicy> };
const timeoutOption = (ms: number | undefined) => (ms === undefined ? {} : { createTimeoutMs: ms });

/** Each provider whose create call may answer slowly, with its simulator answering CREATE_DELAY_MS late. */
const PROVIDERS: Record<string, (dispatcher: Dispatcher) => Promise<Provider>> = {
  klangio: async (dispatcher) => {
    const sim = await startKlangioSimulator({ speed: 200, seed: 1, createDelayMs: CREATE_DELAY_MS });
    cleanups.push(() => sim.close());
    const connection: AdapterConnection = { apiKey: sim.apiKey, baseUrl: sim.url, dispatcher, pollPolicy: FAST };
    return {
      adapter: (ms) => createKlangioAdapter({ ...connection, ...timeoutOption(ms) }),
      request: { provider: 'klangio', kind: 'beat-tracking', input: { type: 'file', path: audioPath } },
      jobsAtProvider: () => Promise.resolve(sim.jobIds().length),
    };
  },
  cambai: async (dispatcher) => {
    const sim = await startCambaiSimulator({ speed: 500, seed: 1, createDelayMs: CREATE_DELAY_MS });
    cleanups.push(() => sim.close());
    const connection: AdapterConnection = { apiKey: sim.apiKey, baseUrl: sim.baseUrl, dispatcher, pollPolicy: FAST };
    return {
      adapter: (ms) => createCambaiAdapter({ ...connection, ...timeoutOption(ms) }),
      request: { provider: 'cambai', kind: 'transcription', input: { type: 'url', url: 'https://example.com/talk.mp3' }, options: { language: 1 } },
      jobsAtProvider: () => Promise.resolve(sim.taskIds().length),
    };
  },
  musicai: async (dispatcher) => {
    const sim = await startMusicaiSimulator({ speed: 500, seed: 1, createDelayMs: CREATE_DELAY_MS });
    cleanups.push(() => sim.close());
    const connection: AdapterConnection = { apiKey: sim.apiKey, baseUrl: sim.apiEndpoint, dispatcher, pollPolicy: FAST };
    return {
      adapter: (ms) => createMusicaiAdapter({ ...connection, ...timeoutOption(ms) }),
      request: { provider: 'musicai', kind: 'workflow', input: { type: 'url', url: 'https://example.com/song.mp3' }, options: { workflow: 'stems-four' } },
      jobsAtProvider: async () => (await listMusicaiJobs({ apiKey: sim.apiKey, baseUrl: sim.apiEndpoint, dispatcher }, AbortSignal.timeout(5000))).length,
    };
  },
};

async function rig(name: string, createTimeoutMs?: number) {
  const dispatcher = createDispatcher({ headersTimeoutMs: POLL_TIMEOUT_MS });
  cleanups.push(() => dispatcher.close());
  const provider = await PROVIDERS[name]!(dispatcher);
  const engine = await createEngine({ providers: [provider.adapter(createTimeoutMs)], store: new MemoryStore() });
  cleanups.push(() => engine.close());
  return { engine, provider };
}

describe.each(Object.keys(PROVIDERS))('%s: a slow create answer', (name) => {
  it(`waits for a create answer that comes after the dispatcher's headers timeout, and follows the job (was: SUBMIT_UNCERTAIN at ${POLL_TIMEOUT_MS} ms)`, async () => {
    const { engine, provider } = await rig(name);
    const job = await engine.submit(provider.request);
    expect(job.error).toBeNull();
    expect(job.externalId).not.toBeNull();
    const done = await engine.waitFor(job.id, { timeoutMs: 10_000 });
    expect(done.status, JSON.stringify(done.error)).toMatch(/^(succeeded|failed)$/);
    expect(done.error?.code).not.toBe('SUBMIT_UNCERTAIN');
    expect(await provider.jobsAtProvider()).toBe(1);
  });

  it('records a create that timed out after it was sent as SUBMIT_UNCERTAIN, asked once, with the job made at the provider (was: waited 30 s)', async () => {
    const { engine, provider } = await rig(name, 150);
    const job = await engine.submit(provider.request);
    expect(job).toMatchObject({ status: 'failed', externalId: null, error: { code: 'SUBMIT_UNCERTAIN' } });
    expect(job.error?.message).toContain('within 150 ms');
    expect(job.error?.message).toMatch(/may have created this job \(and may bill for it\)/);
    expect(job.error?.message).toContain(`track({ provider: '${name}'`);
    expect(await provider.jobsAtProvider()).toBe(1);
  });

  it('refuses a createTimeoutMs that is not a positive number of milliseconds', async () => {
    const { provider } = await rig(name);
    for (const bad of [0, -5, 1.5, 7_200_000]) expect(() => provider.adapter(bad), String(bad)).toThrow(/createTimeoutMs/);
  });
});
