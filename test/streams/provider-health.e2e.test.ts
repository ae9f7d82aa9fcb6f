import { filter, firstValueFrom, timeout } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { createDispatcher } from '../../src/providers/provider-http.js';
import { createMusicaiAdapter } from '../../src/providers/musicai/musicai-adapter.js';
import { startMusicaiSimulator } from '../../src/simulators/musicai/musicai-simulator.js';
import { createEngine, type Engine, type EngineEvent } from '../../src/streams/engine.js';
import { MemoryStore } from '../../src/streams/job-store.js';

const teardown: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of teardown.splice(0).reverse()) await close();
});

/** The Music.AI simulator, its adapter (polled every 10 ms) and an engine with one job being polled. */
async function setup() {
  const sim = await startMusicaiSimulator({ speed: 1, seed: 3 });
  teardown.push(() => sim.close());
  const dispatcher = createDispatcher();
  teardown.push(() => dispatcher.close());
  const adapter = createMusicaiAdapter({
    apiKey: sim.apiKey,
    baseUrl: sim.apiEndpoint,
    dispatcher,
    pollPolicy: { intervalMs: 10, backoff: { initialMs: 10, maxMs: 100 }, rate: { limit: 1000, windowMs: 1000 }, maxInFlight: 4 },
  });
  const engine = await createEngine({ providers: [adapter], store: new MemoryStore() });
  teardown.push(() => engine.close());
  const job = await engine.submit({ provider: 'musicai', kind: 'workflow', input: { type: 'url', url: 'https://example.com/song.mp3' }, options: { workflow: 'stems-four' } });
  expect(job.externalId).not.toBeNull();
  return { sim, engine };
}

function next<T extends EngineEvent['type']>(engine: Engine, type: T): Promise<Extract<EngineEvent, { type: T }>> {
  return firstValueFrom(
    engine.events$.pipe(
      filter((event): event is Extract<EngineEvent, { type: T }> => event.type === type),
      timeout(10_000),
    ),
  );
}

describe('provider health against the Music.AI simulator', () => {
  it('shows a 429 with its Retry-After deadline', async () => {
    const { sim, engine } = await setup();
    const limited = next(engine, 'lane-rate-limited');
    sim.setFaults({ rateLimit: { limit: 1, windowMs: 600_000, retryAfterSeconds: 30 } });
    const event = await limited;
    const [lane] = await engine.providerHealth();
    expect(lane).toMatchObject({ provider: 'musicai', state: 'rate-limited', since: event.at, blockedUntil: event.at + 30_000, nextProbeAt: null, failures: 1, jobs: 1 });
    expect(lane!.recentErrors.at(-1)).toMatchObject({ at: expect.any(Number) as number, kind: 'rate-limited' });
    expect(JSON.stringify(lane)).not.toContain(sim.apiKey);
  });

  it('shows an outage (5xx) with its next probe and the errors, then its recovery', async () => {
    const { sim, engine } = await setup();
    const outage = next(engine, 'lane-outage');
    sim.setFaults({ serverErrorRate: 1 });
    const event = await outage;
    const [lane] = await engine.providerHealth();
    expect(lane).toMatchObject({ provider: 'musicai', state: 'outage', since: event.at, nextProbeAt: expect.any(Number) as number });
    expect(lane!.nextProbeAt!).toBeGreaterThanOrEqual(event.until);
    expect(lane!.failures).toBeGreaterThanOrEqual(1);
    expect(lane!.recentErrors.map((e) => e.kind)).toContain('unavailable');
    expect(JSON.stringify(lane)).not.toContain(sim.apiKey);

    const recovered = next(engine, 'lane-recovered');
    sim.setFaults({ serverErrorRate: 0 });
    await recovered;
    const [well] = await engine.providerHealth();
    expect(well).toMatchObject({ state: 'ok', since: null, nextProbeAt: null, failures: 0 });
  });
});
