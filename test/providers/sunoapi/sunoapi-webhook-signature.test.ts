import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createDispatcher } from '../../../src/providers/provider-http.js';
import { PROVIDERS } from '../../../src/providers/provider-catalog.js';
import { createSunoapiAdapter, SUNOAPI_WEBHOOK_TOLERANCE_MS, type SunoapiAdapterOptions } from '../../../src/providers/sunoapi/sunoapi-adapter.js';
import { ConfigError, loadServerConfig } from '../../../src/server/server-config.js';
import type { RunningServer } from '../../../src/server/server.js';
import { startSunoapiSimulator, type SunoapiSimulator, type SunoapiSimulatorOptions } from '../../../src/simulators/sunoapi/sunoapi-simulator.js';
import type { WebhookEvent } from '../../../src/simulators/kit/webhook-sender.js';
import { createEngine, type EngineEvent } from '../../../src/streams/engine.js';
import { WebhookSignatureError } from '../../../src/streams/errors.js';
import type { JobChange } from '../../../src/streams/job-change.js';
import type { JobSnapshot } from '../../../src/streams/job-snapshot.js';
import { MemoryStore } from '../../../src/streams/job-store.js';
import type { PollPolicy } from '../../../src/streams/poll-scheduler.js';
import type { ProviderAdapter } from '../../../src/streams/provider-port.js';
import { startTestServer } from '../../support/test-server.js';
import { VirtualClock } from '../../support/virtual-clock.js';

const KEY = 'kie-webhook-hmac-key';
const WAIT = { timeoutMs: 10_000 };

/** kie.ai's rule, written out here from the docs: base64(HMAC-SHA256(taskId + "." + timestamp, key)). */
function sign(taskId: string, timestamp: string, key = KEY): string {
  return createHmac('sha256', key).update(`${taskId}.${timestamp}`).digest('base64');
}

/** The signature headers of a delivery sent at `atMs`. */
function signed(taskId: string, atMs: number, key = KEY): Record<string, string> {
  const timestamp = String(Math.floor(atMs / 1000));
  return { 'x-webhook-timestamp': timestamp, 'x-webhook-signature': sign(taskId, timestamp, key) };
}

const failure = (taskId: string) => ({ code: 500, msg: 'Vocal separation failed', data: { task_id: taskId, vocal_removal_info: null } });
const midiSuccess = (taskId: string) => ({ code: 200, msg: 'success', task_id: taskId, data: { state: 'complete', instruments: [] } });

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function adapterWith(options: Partial<SunoapiAdapterOptions> = {}): ProviderAdapter {
  const dispatcher = createDispatcher();
  cleanups.push(() => dispatcher.close());
  return createSunoapiAdapter({ apiKey: 'k', dispatcher, ...options });
}

describe('sunoapi adapter: kie.ai webhook signatures', () => {
  const now = Date.parse('2025-06-01T10:00:00.000Z');
  const parse = (body: unknown, headers: Record<string, string>, options: { receivedAt?: number | undefined; webhookKey?: string | null } = {}) => {
    const webhookKey = options.webhookKey === undefined ? KEY : options.webhookKey;
    const receivedAt = 'receivedAt' in options ? options.receivedAt : now;
    return adapterWith(webhookKey === null ? {} : { webhookKey }).parseWebhook!({ body, headers, receivedAt });
  };

  it('accepts a delivery signed over the task id and its timestamp, wherever the body names the task', () => {
    expect(parse(midiSuccess('m1'), signed('m1', now))).toMatchObject({ externalId: 'm1', report: { status: 'succeeded' } });
    expect(parse(failure('s1'), signed('s1', now))).toMatchObject({ externalId: 's1', report: { status: 'failed' } });
    // Header names in any case; at the edges of the window.
    const { 'x-webhook-timestamp': ts, 'x-webhook-signature': sig } = signed('m1', now - SUNOAPI_WEBHOOK_TOLERANCE_MS);
    expect(parse(midiSuccess('m1'), { 'X-Webhook-Timestamp': ts!, 'X-Webhook-Signature': sig! }).externalId).toBe('m1');
    expect(parse(midiSuccess('m1'), signed('m1', now + SUNOAPI_WEBHOOK_TOLERANCE_MS)).externalId).toBe('m1');
  });

  it.each([
    ['no headers at all', {}, /no X-Webhook-Timestamp header/],
    ['no signature', { 'x-webhook-timestamp': String(now / 1000) }, /no X-Webhook-Signature header/],
    ['a timestamp in milliseconds', { 'x-webhook-timestamp': 'soon', 'x-webhook-signature': 'x' }, /not a Unix time in seconds/],
    ['a signature made with another key', signed('m1', now, 'another-key'), /does not match task m1/],
    ['a signature of another task', signed('m2', now), /does not match task m1/],
    ['a signature over another timestamp', { ...signed('m1', now), 'x-webhook-timestamp': String(now / 1000 + 1) }, /does not match/],
    ['a timestamp older than 5 minutes', signed('m1', now - SUNOAPI_WEBHOOK_TOLERANCE_MS - 2000), /is 302 s old \(at most 300 s\)/],
    ['a timestamp more than 5 minutes ahead', signed('m1', now + SUNOAPI_WEBHOOK_TOLERANCE_MS + 2000), /is 302 s in the future/],
  ])('refuses a delivery with %s (WEBHOOK_SIGNATURE_INVALID)', (_name, headers, message) => {
    const error = (() => {
      try {
        parse(midiSuccess('m1'), headers);
        return undefined;
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(WebhookSignatureError);
    expect(error).toMatchObject({ code: 'WEBHOOK_SIGNATURE_INVALID', provider: 'sunoapi', message: expect.stringMatching(message) });
  });

  it('refuses a signed delivery it cannot date (no receivedAt): the engine always sets it', () => {
    expect(() => parse(midiSuccess('m1'), signed('m1', now), { receivedAt: undefined })).toThrow(/no receive time/);
  });

  it('reads unsigned and oddly signed deliveries as before when no key is configured', () => {
    expect(parse(midiSuccess('m1'), {}, { webhookKey: null })).toMatchObject({ externalId: 'm1', report: { status: 'succeeded' } });
    expect(parse(midiSuccess('m1'), signed('m1', 0, 'whatever'), { webhookKey: null })).toMatchObject({ report: { status: 'succeeded' } });
  });

  it('refuses an empty webhookKey', () => {
    expect(() => adapterWith({ webhookKey: ' ' })).toThrow(/webhookKey: must be a non-empty string/);
  });
});

describe('sunoapi webhook key configuration', () => {
  it('reads SUNOAPI_WEBHOOK_KEY into the sunoapi provider, and the catalog’s adapter checks signatures with it', () => {
    const config = loadServerConfig({ SUNOAPI_API_KEY: 'suno', SUNOAPI_WEBHOOK_KEY: KEY, KLANGIO_API_KEY: 'kl', KLANGIO_WEBHOOK_KEY: 'ignored' });
    expect(config.providers.find((p) => p.name === 'sunoapi')).toMatchObject({ apiKey: 'suno', webhookKey: KEY });
    expect(config.providers.find((p) => p.name === 'klangio')).not.toHaveProperty('webhookKey');
    expect(loadServerConfig({ SUNOAPI_API_KEY: 'suno' }).providers[0]).not.toHaveProperty('webhookKey');

    const dispatcher = createDispatcher();
    cleanups.push(() => dispatcher.close());
    const { webhookKey } = config.providers.find((p) => p.name === 'sunoapi')!;
    const adapter = PROVIDERS.sunoapi.createAdapter({ apiKey: 'suno', dispatcher, ...(webhookKey === undefined ? {} : { webhookKey }) });
    expect(() => adapter.parseWebhook!({ body: midiSuccess('m1'), headers: {}, receivedAt: Date.now() })).toThrow(WebhookSignatureError);
  });

  it('refuses SUNOAPI_WEBHOOK_KEY without SUNOAPI_API_KEY', () => {
    expect(() => loadServerConfig({ SUNOAPI_WEBHOOK_KEY: KEY })).toThrow(ConfigError);
    expect(() => loadServerConfig({ SUNOAPI_WEBHOOK_KEY: KEY })).toThrow('SUNOAPI_WEBHOOK_KEY is set but SUNOAPI_API_KEY is not');
  });
});

/** Polls that never come within a test: only webhooks (and polls they ask for) move jobs. */
const SLOW: Partial<PollPolicy> = { intervalMs: 60_000, watchdog: { quietMs: 60_000 }, backoff: { initialMs: 10, maxMs: 200 }, rate: { limit: 1000, windowMs: 1000 }, maxInFlight: 16 };

async function simulator(options: SunoapiSimulatorOptions = {}): Promise<{ sim: SunoapiSimulator; hooks: WebhookEvent[] }> {
  const sim = await startSunoapiSimulator({ speed: 200, seed: 4, ...options });
  cleanups.push(() => sim.close());
  const hooks: WebhookEvent[] = [];
  sim.webhooks.events.subscribe((event) => hooks.push(event));
  return { sim, hooks };
}

/** Resolves once `done(hooks)` holds, checked at each webhook event of the simulator. */
function hooksUntil(sim: SunoapiSimulator, hooks: WebhookEvent[], done: (hooks: WebhookEvent[]) => boolean): Promise<void> {
  return new Promise((resolve) => {
    const subscription = sim.webhooks.events.subscribe(() => {
      if (done(hooks)) {
        subscription.unsubscribe();
        resolve();
      }
    });
    if (done(hooks)) {
      subscription.unsubscribe();
      resolve();
    }
  });
}

describe('sunoapi webhook signatures through the engine clock', () => {
  it('checks the timestamp against the engine’s clock (receivedAt), not the wall clock', async () => {
    const { sim } = await simulator({ faults: { webhook: { dropRate: 1 } } });
    const dispatcher = createDispatcher();
    cleanups.push(() => dispatcher.close());
    // No poll within the hour the test moves the clock by.
    const adapter = createSunoapiAdapter({ apiKey: sim.apiKey, baseUrl: sim.url, dispatcher, webhookKey: KEY, pollPolicy: { ...SLOW, intervalMs: 3_600_000, watchdog: { quietMs: 3_600_000 } } });
    // The engine's clock is a year behind the wall clock.
    const clock = new VirtualClock(Date.now() - 365 * 86_400_000);
    let token = '';
    const engine = await createEngine({
      providers: [adapter],
      store: new MemoryStore(),
      scheduler: clock,
      webhookUrl: (provider, t) => {
        token = t;
        return `http://127.0.0.1:9/v1/hooks/${provider}/${t}`;
      },
    });
    cleanups.push(() => engine.close());
    const job = await engine.submit({ provider: 'sunoapi', kind: 'vocal-separation', options: { taskId: 'music-1', audioId: 'track-1' } });
    const taskId = job.externalId!;
    // Signed at the wall clock's now: a year ahead of the engine, refused.
    await expect(engine.ingestWebhook({ provider: 'sunoapi', token, body: failure(taskId), headers: signed(taskId, Date.now()) })).rejects.toThrow(/in the future/);
    // Signed at the engine's now: accepted, until the engine's clock has moved on past the window.
    const stamp = signed(taskId, clock.now());
    await clock.advance(SUNOAPI_WEBHOOK_TOLERANCE_MS + 1000);
    await expect(engine.ingestWebhook({ provider: 'sunoapi', token, body: failure(taskId), headers: stamp })).rejects.toThrow(/s old/);
    expect((await engine.ingestWebhook({ provider: 'sunoapi', token, body: failure(taskId), headers: signed(taskId, clock.now()) })).outcome).toBe('applied');
    expect(engine.get(job.id)?.status).toBe('failed');
  });
});

describe('sunoapi webhook signatures over HTTP', () => {
  async function serve(adapterOptions: Partial<SunoapiAdapterOptions>, simOptions: SunoapiSimulatorOptions, pollPolicy: Partial<PollPolicy> = SLOW) {
    const { sim, hooks } = await simulator(simOptions);
    const dispatcher = createDispatcher();
    cleanups.push(() => dispatcher.close());
    const adapter = createSunoapiAdapter({ apiKey: sim.apiKey, baseUrl: sim.url, dispatcher, pollPolicy, ...adapterOptions });
    const { server } = await startTestServer({ providers: [adapter] });
    cleanups.push(() => server.close());
    const changes: JobChange[] = [];
    server.engine.changes$().subscribe((change) => changes.push(change));
    const events: EngineEvent[] = [];
    server.engine.events$.subscribe((event) => events.push(event));
    return { sim, hooks, server, changes, events };
  }

  /** The job's webhook URL, as the simulator's record shows it. */
  async function callbackUrlOf(sim: SunoapiSimulator, job: JobSnapshot): Promise<string> {
    const res = await fetch(`${sim.url}/api/v1/vocal-removal/record-info?taskId=${job.externalId}`, { headers: { authorization: `Bearer ${sim.apiKey}` } });
    return ((await res.json()) as { data: { callbackUrl: string } }).data.callbackUrl;
  }

  const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  it('answers 401 WEBHOOK_SIGNATURE_INVALID to unsigned, badly signed, stale and future deliveries, changing nothing, then takes a signed one', async () => {
    const { sim, server, changes, events } = await serve({ webhookKey: KEY }, { faults: { webhook: { dropRate: 1 } } });
    const job = await server.engine.submit({ provider: 'sunoapi', kind: 'vocal-separation', options: { taskId: 'music-1', audioId: 'track-1' } });
    const url = await callbackUrlOf(sim, job);
    expect(url.startsWith(server.publicUrl)).toBe(true);
    const taskId = job.externalId!;
    const before = server.engine.get(job.id)!;
    const firstRefusal = Date.now();
    const success = { code: 200, msg: 'ok', data: { task_id: taskId, vocal_removal_info: { vocal_url: `${sim.url}/files/x/vocal.wav` } } };
    for (const [body, headers] of [
      [failure(taskId), {}],
      [failure(taskId), signed(taskId, Date.now(), 'another-key')],
      // A body that would ask for a poll: refused before that could happen.
      [success, signed(taskId, Date.now(), 'another-key')],
      [failure(taskId), signed(taskId, Date.now() - SUNOAPI_WEBHOOK_TOLERANCE_MS - 60_000)],
      [failure(taskId), signed(taskId, Date.now() + SUNOAPI_WEBHOOK_TOLERANCE_MS + 60_000)],
    ] as const) {
      const res = await post(url, body, headers);
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error: { code: 'WEBHOOK_SIGNATURE_INVALID', message: expect.stringMatching(/^unauthenticated sunoapi webhook: /) } });
    }
    expect(server.engine.get(job.id)).toEqual(before);
    expect(changes.filter((c) => c.job.id === job.id && c.job.version > before.version)).toEqual([]);

    const ok = await post(url, failure(taskId), signed(taskId, Date.now()));
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ outcome: 'applied' });
    const done = await server.engine.waitFor(job.id, WAIT);
    expect(done).toMatchObject({ status: 'failed', source: 'webhook', error: { code: 'TASK_FAILED', message: 'Vocal separation failed' } });
    // No refused delivery hurried a poll.
    expect(events.filter((e) => e.type === 'poll' && e.jobId === job.id && e.startedAt >= firstRefusal)).toEqual([]);
  });

  it('takes unsigned deliveries as before when no webhook key is configured', async () => {
    const { sim, server } = await serve({}, { faults: { webhook: { dropRate: 1 } } });
    const job = await server.engine.submit({ provider: 'sunoapi', kind: 'vocal-separation', options: { taskId: 'music-1', audioId: 'track-1' } });
    const res = await post(await callbackUrlOf(sim, job), failure(job.externalId!));
    expect(res.status).toBe(200);
    expect((await server.engine.waitFor(job.id, WAIT)).status).toBe('failed');
  });

  it('takes the simulator’s signed callbacks with the same key, and finds the outcome by polling when the keys differ', async () => {
    const FAST: Partial<PollPolicy> = { intervalMs: 40, watchdog: { quietMs: 300 }, backoff: { initialMs: 10, maxMs: 200 }, rate: { limit: 1000, windowMs: 1000 }, maxInFlight: 16 };
    const run = async (server: RunningServer) => {
      const sep = await server.engine.waitFor((await server.engine.submit({ provider: 'sunoapi', kind: 'vocal-separation', options: { taskId: 'music-1', audioId: 'track-1' } })).id, WAIT);
      const midi = await server.engine.waitFor((await server.engine.submit({ provider: 'sunoapi', kind: 'midi', options: { taskId: sep.externalId! } })).id, WAIT);
      return [sep, midi] as const;
    };

    const same = await serve({ webhookKey: KEY }, { webhookKey: KEY, speed: 10 }, FAST);
    const [sep, midi] = await run(same.server);
    expect([sep.status, midi.status]).toEqual(['succeeded', 'succeeded']);
    expect(midi.source).toBe('webhook');
    expect(same.changes.some((c) => c.job.id === sep.id && c.job.source === 'webhook')).toBe(true);
    // The simulator hears the answers a little after the engine has taken the deliveries.
    await hooksUntil(same.sim, same.hooks, (hooks) => hooks.filter((e) => e.type === 'delivered').length === 2);
    expect(same.hooks.filter((e) => e.type === 'delivered' || e.type === 'failed').map((e) => e.status)).toEqual([200, 200]);

    const other = await serve({ webhookKey: KEY }, { webhookKey: 'a-different-key', speed: 10 }, FAST);
    const jobs = await run(other.server);
    for (const job of jobs) {
      expect(job.status).toBe('succeeded');
      expect(job.source).toBe('poll');
      expect(other.changes.filter((c) => c.job.id === job.id && c.job.source === 'webhook')).toEqual([]);
    }
    // Each callback's first attempt was refused; the retries (6 s away at speed 10) never mattered.
    await hooksUntil(other.sim, other.hooks, (hooks) => hooks.filter((e) => e.type === 'failed').length === 2);
    expect(other.hooks.some((e) => e.type === 'delivered')).toBe(false);
    expect(other.hooks.filter((e) => e.type === 'failed').map((e) => [e.status, e.willRetry])).toEqual([
      [401, true],
      [401, true],
    ]);
  });
});
