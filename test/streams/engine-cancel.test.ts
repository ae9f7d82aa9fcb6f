import { afterEach, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/streams/engine.js';
import { ProviderError } from '../../src/streams/errors.js';
import { MemoryStore } from '../../src/streams/job-store.js';
import { FakeProvider, hookUrl } from '../support/fake-provider.js';
import { VirtualClock } from '../support/virtual-clock.js';

const url = { type: 'url' as const, url: 'https://example.com/song.wav' };

/** A provider whose API has no cancel (like Klangio, Camb.ai and sunoapi.org). */
function noCancel(name: string): FakeProvider {
  return Object.assign(new FakeProvider({ provider: name }), { cancel: undefined });
}

const engines: Engine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});

async function setup() {
  const canceling = new FakeProvider();
  const tracking = noCancel('plain');
  const clock = new VirtualClock();
  const engine = await createEngine({ providers: [canceling, tracking], store: new MemoryStore(), scheduler: clock, random: () => 0.5, webhookUrl: hookUrl });
  engines.push(engine);
  return { engine, canceling, tracking, clock };
}

describe('Engine.cancel', () => {
  it('says per provider whether a cancel reaches the provider', async () => {
    const { engine } = await setup();
    expect(engine.cancelModeOf('fake')).toBe('provider');
    expect(engine.cancelModeOf('plain')).toBe('tracking-only');
    expect(engine.cancelModeOf('nope')).toBeUndefined();
  });

  it('cancels at a provider that can: canceled, provider status canceled, no error', async () => {
    const { engine, canceling } = await setup();
    const job = await engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    expect(await engine.cancel(job.id)).toMatchObject({ status: 'canceled', providerStatus: 'canceled', error: null });
    expect(canceling.canceled).toEqual(['ext-1']);
  });

  it('where the provider cannot cancel, says that tracking stopped and the provider may still run and bill the job (was: canceled like a real cancel)', async () => {
    const { engine, tracking, clock } = await setup();
    const job = await engine.submit({ provider: 'plain', kind: 'transcription', input: url });
    const canceled = await engine.cancel(job.id);
    expect(canceled).toMatchObject({ status: 'canceled', providerStatus: 'tracking-stopped', source: 'cancel', error: { code: 'TRACKING_STOPPED' } });
    expect(canceled.error?.message).toBe(
      'jobstream stopped tracking this job; it was not cancelled at the provider (plain has no way to cancel a job). plain may still run it and bill for it.',
    );
    // Tracking has stopped: no more polls.
    const polls = tracking.polls;
    await clock.advance(100);
    expect(tracking.polls).toBe(polls);
    expect(await engine.cancel(job.id)).toEqual(canceled);
  });

  it('cancels a pipeline step that never reached its provider plainly', async () => {
    const { engine } = await setup();
    const first = await engine.submit({ provider: 'fake', kind: 'transcription', input: url });
    const step = await engine.submit({ provider: 'plain', kind: 'separation', input: url, after: { jobId: first.id } });
    expect(await engine.cancel(step.id)).toMatchObject({ status: 'canceled', providerStatus: 'canceled', error: null });
  });

  it('stops retrying a submission canceled while it waited for its next attempt, and says the provider may have it (was: created it anyway)', async () => {
    const { engine, tracking, clock } = await setup();
    tracking.failures.push({ on: 'create', error: new ProviderError('plain', 'unavailable', 'down for a moment', { status: 503, notCreated: true }) });
    const asked = new Promise<void>((resolve) => {
      tracking.beforeCreate = () => Promise.resolve(resolve());
    });
    const submitted = engine.submit({ provider: 'plain', kind: 'transcription', input: url });
    await asked;
    const id = engine.list().jobs[0]!.id;
    const canceled = await engine.cancel(id);
    expect(canceled).toMatchObject({ status: 'canceled', providerStatus: 'tracking-stopped', externalId: null, error: { code: 'TRACKING_STOPPED' } });
    expect(canceled.error?.message).toMatch(/while its submission to plain was under way/);
    await clock.advance(1000);
    expect(await submitted).toEqual(canceled);
    expect(tracking.created).toHaveLength(1);
  });
});
