import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, buildConnector, type Dispatcher } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { listMusicaiJobs } from '../../src/providers/musicai/musicai-adapter-client.js';
import { createMusicaiAdapter } from '../../src/providers/musicai/musicai-adapter.js';
import { startMusicaiSimulator, type RunningMusicaiSimulator } from '../../src/simulators/musicai/musicai-simulator.js';
import { createDispatcher } from '../../src/providers/provider-http.js';
import { envelopeError } from '../../src/providers/sunoapi/sunoapi-adapter-envelope.js';
import { createEngine, type Engine } from '../../src/streams/engine.js';
import { MemoryStore } from '../../src/streams/job-store.js';
import type { PollPolicy } from '../../src/streams/poll-scheduler.js';
import { startFaultProxy, type FaultProxy, type ProxyAction, type SeenRequest } from '../support/fault-proxy.js';

/** Short backoffs: the retries wait for the lane like any call, just not for long. */
const FAST: Partial<PollPolicy> = { intervalMs: 20, backoff: { initialMs: 10, maxMs: 50 }, rate: { limit: 1000, windowMs: 1000 }, maxInFlight: 8 };
const URL_INPUT = { type: 'url', url: 'https://example.com/music/song.mp3' } as const;
const WORKFLOW = { workflow: 'stems-four' };

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of cleanups.splice(0).reverse()) await close();
});

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'jobstream-submit-retry-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Rig {
  sim: RunningMusicaiSimulator;
  engine: Engine;
  /** How many jobs the simulator holds: what the provider would bill. */
  jobsAtProvider(): Promise<number>;
}

/** A Music.AI simulator, reached through `dispatcher` at `baseUrl` (a proxy in front of it, or the simulator itself). */
async function rig(
  options: { via?: (simUrl: string) => Promise<string>; dispatcher?: Dispatcher; submitAttempts?: number; createTimeoutMs?: number } = {},
): Promise<Rig> {
  const sim = await startMusicaiSimulator({ speed: 500, seed: 3 });
  cleanups.push(() => sim.close());
  const base = options.via === undefined ? sim.url : await options.via(sim.url);
  const dispatcher = options.dispatcher ?? createDispatcher();
  cleanups.push(() => dispatcher.close());
  const adapter = createMusicaiAdapter({
    apiKey: sim.apiKey,
    baseUrl: `${base}/v1`,
    dispatcher,
    pollPolicy: FAST,
    ...(options.createTimeoutMs === undefined ? {} : { createTimeoutMs: options.createTimeoutMs }),
  });
  const engine = await createEngine({ providers: [adapter], store: new MemoryStore(), ...(options.submitAttempts === undefined ? {} : { submitAttempts: options.submitAttempts }) });
  cleanups.push(() => engine.close());
  const direct = createDispatcher();
  cleanups.push(() => direct.close());
  const jobsAtProvider = async () => (await listMusicaiJobs({ apiKey: sim.apiKey, baseUrl: sim.apiEndpoint, dispatcher: direct }, AbortSignal.timeout(5000))).length;
  return { sim, engine, jobsAtProvider };
}

/** A proxy in front of the simulator that applies `decide`; its requests are in `proxy.seen`. */
function proxied(decide: (request: SeenRequest) => ProxyAction): { via: (simUrl: string) => Promise<string>; proxy: () => FaultProxy } {
  let proxy: FaultProxy | undefined;
  return {
    via: async (simUrl) => {
      proxy = await startFaultProxy(simUrl, decide);
      cleanups.push(() => proxy!.close());
      return proxy.url;
    },
    proxy: () => proxy!,
  };
}

/** The first `times` matching requests get `action`; everything else is passed on. */
function first(times: number, matches: (r: SeenRequest) => boolean, action: ProxyAction): (r: SeenRequest) => ProxyAction {
  let left = times;
  return (r) => (matches(r) && left-- > 0 ? action : { type: 'forward' });
}

const isCreate = (r: SeenRequest) => r.method === 'POST' && r.path === '/v1/job';
const creates = (proxy: FaultProxy) => proxy.seen.filter(isCreate).length;

/** A port nothing listens on (bound, then released), so connecting to it is refused. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('Engine.submit: failures that cannot have created a job are retried', () => {
  it('retries a create whose connection was refused (ECONNREFUSED) and ends with one job at the provider (was: failed for good)', async () => {
    const refusedPort = await closedPort();
    const connect = buildConnector({});
    let refusals = 1;
    // The first connection goes to a port nobody listens on: the kernel refuses it.
    const dispatcher = new Agent({
      connect: (options, callback) => connect(refusals-- > 0 ? { ...options, port: String(refusedPort) } : options, callback),
    });
    const r = await rig({ dispatcher });
    const job = await r.engine.submit({ provider: 'musicai', kind: 'workflow', input: URL_INPUT, options: WORKFLOW });
    expect(job.error).toBeNull();
    expect(job.externalId).not.toBeNull();
    expect(refusals).toBeLessThan(0);
    expect(await r.jobsAtProvider()).toBe(1);
  });

  it('retries a create answered 503 twice, then creates the job once (was: failed with PROVIDER_UNAVAILABLE)', async () => {
    const p = proxied(first(2, isCreate, { type: 'answer', status: 503 }));
    const r = await rig({ via: p.via });
    const job = await r.engine.submit({ provider: 'musicai', kind: 'workflow', input: URL_INPUT, options: WORKFLOW });
    expect(job.error).toBeNull();
    expect(job.externalId).not.toBeNull();
    expect(creates(p.proxy())).toBe(3);
    expect(await r.jobsAtProvider()).toBe(1);
  });

  it('retries a Music.AI upload slot (GET /upload) that answered 500, then uploads and creates the job (was: failed for good)', async () => {
    const file = join(dir, 'take.wav');
    await writeFile(file, Buffer.from('RIFF fake wav bytes'));
    const p = proxied(first(1, (r) => r.method === 'GET' && r.path === '/v1/upload', { type: 'answer', status: 500 }));
    const r = await rig({ via: p.via });
    const job = await r.engine.submit({ provider: 'musicai', kind: 'workflow', input: { type: 'file', path: file }, options: WORKFLOW });
    expect(job.error).toBeNull();
    expect(job.externalId).not.toBeNull();
    expect(p.proxy().seen.filter((s) => s.path === '/v1/upload')).toHaveLength(2);
    expect(creates(p.proxy())).toBe(1);
    expect(await r.jobsAtProvider()).toBe(1);
  });

  it('gives up after submitAttempts creates answered 503, failing with the last provider error', async () => {
    const p = proxied((req) => (isCreate(req) ? { type: 'answer', status: 503 } : { type: 'forward' }));
    const r = await rig({ via: p.via, submitAttempts: 3 });
    const job = await r.engine.submit({ provider: 'musicai', kind: 'workflow', input: URL_INPUT, options: WORKFLOW });
    expect(job).toMatchObject({ status: 'failed', externalId: null, error: { code: 'PROVIDER_UNAVAILABLE' } });
    expect(creates(p.proxy())).toBe(3);
    expect(await r.jobsAtProvider()).toBe(0);
  });
});

describe('Engine.submit: a create that may have made a job is not repeated', () => {
  it('fails a create answered 500 after the provider made the job with SUBMIT_UNCERTAIN, calling create once (was: PROVIDER_UNAVAILABLE)', async () => {
    const p = proxied(first(1, isCreate, { type: 'forward-then-answer', status: 500 }));
    const r = await rig({ via: p.via });
    const job = await r.engine.submit({ provider: 'musicai', kind: 'workflow', input: URL_INPUT, options: WORKFLOW });
    expect(job).toMatchObject({ status: 'failed', externalId: null, error: { code: 'SUBMIT_UNCERTAIN' } });
    expect(job.error?.message).toMatch(/may have created this job \(and may bill for it\)/);
    expect(job.error?.message).toContain("track({ provider: 'musicai', kind: 'workflow', externalId: '<its id>' })");
    expect(creates(p.proxy())).toBe(1);
    expect(await r.jobsAtProvider()).toBe(1);
  });

  it('fails a create whose answer timed out after it was sent with SUBMIT_UNCERTAIN, calling create once (was: PROVIDER_UNAVAILABLE)', async () => {
    const p = proxied(first(1, isCreate, { type: 'forward-then-hang' }));
    // A create call waits createTimeoutMs for its answer (the dispatcher's timeout is for polls).
    const r = await rig({ via: p.via, createTimeoutMs: 300 });
    const job = await r.engine.submit({ provider: 'musicai', kind: 'workflow', input: URL_INPUT, options: WORKFLOW });
    expect(job).toMatchObject({ status: 'failed', externalId: null, error: { code: 'SUBMIT_UNCERTAIN' } });
    expect(creates(p.proxy())).toBe(1);
    expect(await r.jobsAtProvider()).toBe(1);
  });
});

describe('sunoapi.org body codes', () => {
  it('marks maintenance (455) as not created and a server error (500) as possibly created', () => {
    expect(envelopeError(455, 'maintenance', 'POST /api/v1/midi/generate', undefined)).toMatchObject({ failure: 'unavailable', notCreated: true });
    expect(envelopeError(500, 'boom', 'POST /api/v1/midi/generate', undefined)).toMatchObject({ failure: 'unavailable', notCreated: false });
  });
});
