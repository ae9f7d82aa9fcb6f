import { afterEach, describe, expect, it } from 'vitest';
import { createEngine, safeMessage, type Engine, type EngineEvent } from '../../src/streams/engine.js';
import { ProviderError } from '../../src/streams/errors.js';
import { MemoryStore } from '../../src/streams/job-store.js';
import { PollScheduler } from '../../src/streams/poll-scheduler.js';
import { FakeProvider, hookUrl } from '../support/fake-provider.js';
import { VirtualClock } from '../support/virtual-clock.js';

const url = { type: 'url' as const, url: 'https://example.com/song.wav' };

const engines: Engine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});

async function setup() {
  const provider = new FakeProvider({ credentialId: 'c0ffee12', pollPolicy: { rate: { limit: 20, windowMs: 1000 }, outageProbeMs: 2000, backoff: { initialMs: 1000, maxMs: 60_000 } } });
  const clock = new VirtualClock();
  const engine = await createEngine({ providers: [provider], store: new MemoryStore(), scheduler: clock, random: () => 0.5, webhookUrl: hookUrl });
  engines.push(engine);
  const events: EngineEvent[] = [];
  engine.events$.subscribe((event) => events.push(event));
  return { engine, provider, clock, events };
}

describe('Engine.providerHealth', () => {
  it('shows a healthy lane with its rate budget and jobs', async () => {
    const { engine } = await setup();
    await engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    await engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    const [lane, ...others] = await engine.providerHealth();
    expect(others).toEqual([]);
    expect(lane).toMatchObject({ lane: 'fake:c0ffee12', provider: 'fake', jobs: 2, ratePerSecond: 20, burst: 20, state: 'ok', since: null, blockedUntil: null, nextProbeAt: null, failures: 0, recentErrors: [] });
    // Two submissions took a token each; nothing refilled yet on the virtual clock.
    expect(lane!.tokens).toBe(18);
  });

  it('shows a 429 with its Retry-After deadline, then an outage with its next probe, then recovery', async () => {
    const { engine, provider, clock, events } = await setup();
    await engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    provider.failures.push({ on: 'poll', error: new ProviderError('fake', 'rate-limited', 'HTTP 429: slow down', { status: 429, retryAfterMs: 30_000 }) });
    await clock.until(() => events.some((e) => e.type === 'lane-rate-limited'));
    const limited = events.find((e) => e.type === 'lane-rate-limited') as Extract<EngineEvent, { type: 'lane-rate-limited' }>;
    let [lane] = await engine.providerHealth();
    expect(lane).toMatchObject({ state: 'rate-limited', since: limited.at, blockedUntil: limited.at + 30_000, nextProbeAt: null, failures: 1, tokens: 0, jobs: 1 });
    expect(lane!.recentErrors).toEqual([{ at: limited.at, kind: 'rate-limited', message: 'fake: HTTP 429: slow down' }]);

    // After the block the next poll finds the provider down (a 503, with a secret in the URL it names).
    provider.failures.push({
      on: 'poll',
      error: new ProviderError('fake', 'unavailable', 'HTTP 503 from https://api.example.com/jobs/1?api_key=sk_live_abcdefghijklmnopqrstuvwxyz0123456789 (Bearer abc.def)', { status: 503 }),
    });
    await clock.until(() => events.some((e) => e.type === 'lane-outage'), { limitMs: 40_000, stepMs: 100 });
    const outage = events.find((e) => e.type === 'lane-outage') as Extract<EngineEvent, { type: 'lane-outage' }>;
    [lane] = await engine.providerHealth();
    expect(lane).toMatchObject({ state: 'outage', since: limited.at, blockedUntil: outage.until, nextProbeAt: outage.until, failures: 2 });
    expect(outage.until).toBeGreaterThan(outage.at);
    expect(lane!.recentErrors.map((e) => e.kind)).toEqual(['rate-limited', 'unavailable']);
    const message = lane!.recentErrors[1]!.message;
    expect(message).toContain('HTTP 503 from https://api.example.com/jobs/1?[redacted]');
    expect(message).not.toMatch(/sk_live|abc\.def/);

    // The probe gets an answer: the lane is well again; the errors stay listed.
    await clock.until(() => events.some((e) => e.type === 'lane-recovered'), { limitMs: 10_000, stepMs: 100 });
    [lane] = await engine.providerHealth();
    expect(lane).toMatchObject({ state: 'ok', since: null, blockedUntil: null, nextProbeAt: null, failures: 0 });
    expect(lane!.recentErrors).toHaveLength(2);
  });

  it('keeps the last 10 errors of a lane', async () => {
    const { engine, provider, clock } = await setup();
    await engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    for (let i = 0; i < 12; i++) provider.failures.push({ on: 'poll', error: new ProviderError('fake', 'invalid-response', `bad answer ${i}`) });
    await clock.until(() => provider.failures.length === 0, { limitMs: 600_000, stepMs: 500 });
    await clock.advance(10);
    const [lane] = await engine.providerHealth();
    expect(lane!.recentErrors.map((e) => e.message)).toEqual(Array.from({ length: 10 }, (_, i) => `fake: bad answer ${i + 2}`));
    expect(lane!.state).toBe('ok');
  });
});

describe('PollScheduler.lanes', () => {
  it('refills the tokens it reports without spending them', async () => {
    const clock = new VirtualClock();
    const polls = new PollScheduler({ poll: () => Promise.resolve({ type: 'ok', terminal: false }), scheduler: clock });
    polls.defineLane('l:1', { intervalMs: 60_000, backoff: { initialMs: 10, maxMs: 100 }, rate: { limit: 4, windowMs: 1000 }, maxInFlight: 1 });
    for (let i = 0; i < 3; i++) polls.add(`j${i}`, { lane: 'l:1', hooked: false, dueAt: clock.now() });
    await clock.advance(0);
    expect(await polls.lanes()).toEqual([
      { lane: 'l:1', jobs: 3, ratePerSecond: 4, burst: 4, tokens: 1, state: 'ok', since: null, blockedUntil: null, nextProbeAt: null, failures: 0 },
    ]);
    await clock.advance(500);
    expect((await polls.lanes())[0]!.tokens).toBe(3);
    expect((await polls.lanes())[0]!.tokens).toBe(3);
    polls.close();
  });
});

describe('safeMessage', () => {
  it('cuts credentials, query strings and long tokens, and keeps one short line', () => {
    expect(safeMessage('401 token=abc123 from https://u:p@h.example/x?key=1\nnext')).toBe('401 token=[redacted] from https://[redacted]@h.example/x?[redacted] next');
    expect(safeMessage('x'.repeat(300))).toBe('[redacted]');
    expect(safeMessage('word '.repeat(60)).length).toBe(200);
  });
});
