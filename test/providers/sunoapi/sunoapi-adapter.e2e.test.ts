import { buffer } from 'node:stream/consumers';
import type { Dispatcher } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import type { ProviderAdapter, ProviderJobRef } from '../../../src/streams/provider-port.js';
import { createDispatcher } from '../../../src/providers/provider-http.js';
import type { WebhookEvent } from '../../../src/simulators/kit/webhook-sender.js';
import { createSunoapiAdapter, type SunoapiAdapterOptions } from '../../../src/providers/sunoapi/sunoapi-adapter.js';
import { startSunoapiSimulator, type SunoapiSimulator, type SunoapiSimulatorOptions } from '../../../src/simulators/sunoapi/sunoapi-simulator.js';
import { createEngine, type Engine, type EngineEvent } from '../../../src/streams/engine.js';
import type { JobChange } from '../../../src/streams/job-change.js';
import type { JobSnapshot } from '../../../src/streams/job-snapshot.js';
import { MemoryStore } from '../../../src/streams/job-store.js';
import type { PollPolicy } from '../../../src/streams/poll-scheduler.js';
import { startFaultProxy, type ProxyAction, type SeenRequest } from '../../support/fault-proxy.js';
import { startWebhookIntake } from '../../support/webhook-intake.js';
import { parseWav } from '../../simulators/kit/media-parsers.js';

/** Fast enough for a simulator at speed 200; the watchdog waits long enough for callbacks to lead. */
const FAST: Partial<PollPolicy> = {
  intervalMs: 40,
  watchdog: { quietMs: 400 },
  backoff: { initialMs: 10, maxMs: 200 },
  rate: { limit: 1000, windowMs: 1000 },
  maxInFlight: 16,
};
const WAIT = { timeoutMs: 10_000 };
const SEPARATION_ERRORS = ['Failed to create the separation task', 'Vocal separation failed while processing the audio'];
const MIDI_ERRORS = ['Failed to create the MIDI generation task', 'MIDI generation failed'];

interface Rig {
  sim: SunoapiSimulator;
  engine: Engine;
  adapter: ProviderAdapter;
  changes: JobChange[];
  hooks: WebhookEvent[];
  events: EngineEvent[];
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function rig(
  options: {
    sim?: SunoapiSimulatorOptions;
    adapter?: Partial<SunoapiAdapterOptions>;
    webhooks?: boolean;
    pollPolicy?: Partial<PollPolicy>;
    /** Puts a fault proxy in front of the webhook intake, deciding per callback attempt. */
    intakeFaults?: (request: SeenRequest) => ProxyAction;
  } = {},
): Promise<Rig> {
  // The simulator retries callbacks on its documented schedule (1, 5, 15 minutes divided by speed).
  const sim = await startSunoapiSimulator({ speed: 200, seed: 21, ...options.sim });
  cleanups.push(() => sim.close());
  const dispatcher: Dispatcher = createDispatcher();
  cleanups.push(() => dispatcher.close());
  const adapter = createSunoapiAdapter({ apiKey: sim.apiKey, baseUrl: sim.url, dispatcher, pollPolicy: options.pollPolicy ?? FAST, ...options.adapter });
  let intakeUrl = '';
  const engine = await createEngine({
    providers: [adapter],
    store: new MemoryStore(),
    ...(options.webhooks === false ? {} : { webhookUrl: (provider: string, token: string) => `${intakeUrl}/v1/hooks/${provider}/${token}` }),
  });
  cleanups.push(() => engine.close());
  if (options.webhooks !== false) {
    const intake = await startWebhookIntake(engine);
    intakeUrl = intake.url;
    cleanups.push(() => intake.close());
    if (options.intakeFaults !== undefined) {
      const proxy = await startFaultProxy(intake.url, options.intakeFaults);
      intakeUrl = proxy.url;
      cleanups.push(() => proxy.close());
    }
  }
  const changes: JobChange[] = [];
  engine.changes$().subscribe((change) => changes.push(change));
  const events: EngineEvent[] = [];
  engine.events$.subscribe((event) => events.push(event));
  const hooks: WebhookEvent[] = [];
  sim.webhooks.events.subscribe((event) => hooks.push(event));
  return { sim, engine, adapter, changes, hooks, events };
}

const refOf = (job: JobSnapshot): ProviderJobRef => ({ externalId: job.externalId!, kind: job.kind, options: job.options });

async function downloadAll(adapter: ProviderAdapter, job: JobSnapshot): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const file of adapter.resultFiles!(refOf(job), job.result)) {
    const download = await adapter.download!(refOf(job), job.result, file.name, { signal: AbortSignal.timeout(5000) });
    files.set(file.name, await buffer(download.body));
  }
  return files;
}

function separate(engine: Engine, type: 'separate_vocal' | 'split_stem' = 'separate_vocal', n = 1): Promise<JobSnapshot> {
  return engine.submit({ provider: 'sunoapi', kind: 'vocal-separation', options: { taskId: `music-${n}`, audioId: `track-${n}`, type } });
}

/** The separation record as the simulator answers it, for comparing with a job's result. */
async function separationRecord(sim: SunoapiSimulator, taskId: string): Promise<{ response: { originData: { id: string; stem_type_group_name: string }[] } }> {
  const res = await fetch(`${sim.url}/api/v1/vocal-removal/record-info?taskId=${taskId}`, { headers: { authorization: `Bearer ${sim.apiKey}` } });
  return ((await res.json()) as { data: { response: { originData: { id: string; stem_type_group_name: string }[] } } }).data;
}

type SeparationResult = { type: string; urls: Record<string, string>; originData: { id: string; audio_url: string; stem_type_group_name: string; duration: number }[] };

describe('sunoapi adapter against the simulator', () => {
  it('separates both ways (a callback, then the confirming poll), then makes MIDI from a track the result names', async () => {
    const { sim, engine, adapter, changes } = await rig();
    const [vocal, split] = await Promise.all([separate(engine, 'separate_vocal', 1), separate(engine, 'split_stem', 2)]);
    const [vocalDone, splitDone] = await Promise.all([engine.waitFor(vocal.id, WAIT), engine.waitFor(split.id, WAIT)]);
    for (const job of [vocalDone, splitDone]) {
      expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
      expect(sim.outcome(job.externalId!)).toBe('succeeded');
      // The callback said SUCCESS (running rank); the poll it asked for brought the whole record.
      const mine = changes.filter((c) => c.job.id === job.id);
      expect(mine.some((c) => c.job.source === 'webhook' && c.job.status === 'running' && c.job.providerStatus === 'SUCCESS')).toBe(true);
      expect(job.source).toBe('poll');
      // originData is kept, as the record lists it: the ids a MIDI job takes as audioId.
      const record = await separationRecord(sim, job.externalId!);
      expect((job.result as SeparationResult).originData).toEqual(record.response.originData);
      expect((job.result as SeparationResult).originData.length).toBeGreaterThan(0);
    }
    expect(vocalDone.result).toMatchObject({ type: 'separate_vocal', urls: { origin: expect.any(String), instrumental: expect.any(String), vocal: expect.any(String) } });
    expect((vocalDone.result as SeparationResult).originData.map((t) => t.stem_type_group_name).sort()).toEqual(['Instrumental', 'Vocals']);
    expect(splitDone.result).toMatchObject({ type: 'split_stem' });
    const vocalFiles = await downloadAll(adapter, vocalDone);
    expect([...vocalFiles.keys()].sort()).toEqual(['instrumental.wav', 'origin.wav', 'vocal.wav']);
    const splitFiles = await downloadAll(adapter, splitDone);
    expect(splitFiles.size).toBe(13);
    expect([...splitFiles.keys()]).toEqual(expect.arrayContaining(['vocal.wav', 'backingVocals.wav', 'drums.wav', 'woodwinds.wav']));
    for (const bytes of [...vocalFiles.values(), ...splitFiles.values()]) expect(parseWav(bytes)).toMatchObject({ format: 1, bitsPerSample: 16 });

    // One track of the separation, picked from the job's own result, as a user would pick it.
    const drums = (splitDone.result as SeparationResult).originData.find((t) => t.stem_type_group_name === 'Drums')!;
    const midiAll = await engine.submit({ provider: 'sunoapi', kind: 'midi', options: { taskId: vocalDone.externalId! } });
    const midiOne = await engine.submit({ provider: 'sunoapi', kind: 'midi', options: { taskId: splitDone.externalId!, audioId: drums.id } });
    for (const job of await Promise.all([engine.waitFor(midiAll.id, WAIT), engine.waitFor(midiOne.id, WAIT)])) {
      expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
      expect(sim.outcome(job.externalId!)).toBe('succeeded');
      expect(job.source).toBe('webhook');
      const result = job.result as { instruments: { name: string; notes: { pitch: number; start: number; end: number; velocity: number }[] }[] };
      for (const instrument of result.instruments) {
        for (const note of instrument.notes) {
          expect(typeof note.start).toBe('number');
          expect(typeof note.end).toBe('number');
          expect(note.velocity).toBeGreaterThanOrEqual(0);
          expect(note.velocity).toBeLessThanOrEqual(1);
        }
      }
      const files = await downloadAll(adapter, job);
      expect([...files.keys()]).toEqual(['notes.json']);
      expect(JSON.parse(files.get('notes.json')!.toString('utf8'))).toEqual(job.result);
    }
  });

  it('ends a separation with its stems and tracks when the callback is kie.ai-shaped (data.vocal_separation_info), never as an empty MIDI result', async () => {
    const { sim, engine, adapter, changes } = await rig({ sim: { callbackShape: 'kie' } });
    const done = await engine.waitFor((await separate(engine, 'split_stem')).id, WAIT);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    expect(changes.some((c) => c.job.id === done.id && c.job.source === 'webhook' && c.job.providerStatus === 'SUCCESS')).toBe(true);
    expect(sim.outcome(done.externalId!)).toBe('succeeded');
    expect(done.result).toMatchObject({ type: 'split_stem', urls: { vocal: expect.any(String), drums: expect.any(String) } });
    expect((done.result as SeparationResult).originData).toEqual((await separationRecord(sim, done.externalId!)).response.originData);
    expect(done.result).not.toHaveProperty('instruments');
    expect((await downloadAll(adapter, done)).size).toBe(13);
  });

  it('recovers a callback refused on its first attempt by the watchdog poll, long before the first retry (1 minute / speed)', async () => {
    // Speed 10: jobs take 0.1-0.6 s, the first retry would come 6 s after the refusal; the
    // watchdog polls 300 ms after the last webhook (or the submission).
    const firstAttempt = new Set<string>();
    const { sim, engine, changes, hooks } = await rig({
      sim: { speed: 10 },
      pollPolicy: { ...FAST, watchdog: { quietMs: 300 } },
      intakeFaults: (request) => {
        if (request.method !== 'POST' || firstAttempt.has(request.path)) return { type: 'forward' };
        firstAttempt.add(request.path);
        return { type: 'answer', status: 503 };
      },
    });
    const sep = await engine.waitFor((await separate(engine)).id, WAIT);
    const midi = await engine.waitFor((await engine.submit({ provider: 'sunoapi', kind: 'midi', options: { taskId: sep.externalId! } })).id, WAIT);
    for (const job of [sep, midi]) {
      expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
      expect(sim.outcome(job.externalId!)).toBe('succeeded');
      expect(job.source).toBe('poll');
      expect(changes.filter((c) => c.job.id === job.id && c.job.source === 'webhook')).toEqual([]);
    }
    // Each callback was refused once and is waiting for its retry; none came through. (The
    // simulator hears a refusal a moment after sending it: the poll may have been quicker.)
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (hooks.filter((e) => e.type === 'failed').length >= 2) resolve();
      };
      sim.webhooks.events.subscribe(check);
      check();
    });
    const failed = hooks.filter((e) => e.type === 'failed');
    expect(failed.map((e) => [e.attempt, e.status, e.willRetry])).toEqual([
      [1, 503, true],
      [1, 503, true],
    ]);
    expect(hooks.some((e) => e.type === 'delivered')).toBe(false);
  });

  it('ends MIDI jobs that found no notes as succeeded with an empty result and an empty notes.json, by callback or by poll', async () => {
    const { sim, engine, adapter } = await rig({ sim: { emptyMidiRate: 1 } });
    const [vocal, split] = await Promise.all([separate(engine, 'separate_vocal', 1), separate(engine, 'split_stem', 2)]);
    const separations = await Promise.all([engine.waitFor(vocal.id, WAIT), engine.waitFor(split.id, WAIT)]);
    const midis = await Promise.all(separations.map((s) => engine.submit({ provider: 'sunoapi', kind: 'midi', options: { taskId: s.externalId! } })));
    for (const job of await Promise.all(midis.map((m) => engine.waitFor(m.id, WAIT)))) {
      expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
      expect(job.source).toBe('webhook');
      expect(job.error).toBeNull();
      expect(job.result).toEqual({ instruments: [] });
      const files = await downloadAll(adapter, job);
      expect(JSON.parse(files.get('notes.json')!.toString('utf8'))).toEqual({ instruments: [] });
    }
    // Found by polling (callbacks lost), an empty record is the same success.
    sim.setFaults({ webhook: { dropRate: 1 } });
    const polled = await Promise.all(separations.map((s) => engine.submit({ provider: 'sunoapi', kind: 'midi', options: { taskId: s.externalId! } })));
    for (const job of await Promise.all(polled.map((m) => engine.waitFor(m.id, WAIT)))) {
      expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
      expect(job.source).toBe('poll');
      expect(job.result).toEqual({ instruments: [] });
    }
  });

  it('reaches the same outcomes by polling when every callback is lost', async () => {
    const { sim, engine, changes } = await rig({ sim: { faults: { webhook: { dropRate: 1 } } }, pollPolicy: { ...FAST, watchdog: { quietMs: 100 } } });
    const sep = await engine.waitFor((await separate(engine)).id, WAIT);
    expect(sep.status).toBe('succeeded');
    expect(sep.source).toBe('poll');
    expect(sep.result).toMatchObject({ type: 'separate_vocal', urls: { vocal: expect.any(String) } });
    const midi = await engine.waitFor((await engine.submit({ provider: 'sunoapi', kind: 'midi', options: { taskId: sep.externalId! } })).id, WAIT);
    expect(midi.status).toBe('succeeded');
    expect(sim.outcome(midi.externalId!)).toBe('succeeded');
    expect(changes.some((c) => c.job.source === 'webhook')).toBe(false);
  });

  it('fails separations and MIDI tasks the simulator fails, with the provider’s message', async () => {
    const { sim, engine } = await rig();
    const sep = await engine.waitFor((await separate(engine)).id, WAIT);
    sim.setFaults({ jobFailureRate: 1 });
    const badSep = await engine.waitFor((await separate(engine, 'split_stem', 2)).id, WAIT);
    const badMidi = await engine.waitFor((await engine.submit({ provider: 'sunoapi', kind: 'midi', options: { taskId: sep.externalId! } })).id, WAIT);
    expect(badSep.status).toBe('failed');
    expect(sim.outcome(badSep.externalId!)).toBe('failed');
    expect(['TASK_FAILED', 'CREATE_TASK_FAILED', 'GENERATE_AUDIO_FAILED']).toContain(badSep.error?.code);
    expect(SEPARATION_ERRORS.some((text) => badSep.error!.message.startsWith(text))).toBe(true);
    expect(badMidi.status).toBe('failed');
    expect(sim.outcome(badMidi.externalId!)).toBe('failed');
    expect(['TASK_FAILED', 'TASK_CREATE_FAILED', 'MIDI_GENERATION_FAILED']).toContain(badMidi.error?.code);
    expect(MIDI_ERRORS.some((text) => badMidi.error!.message.startsWith(text))).toBe(true);
  });

  it('reports the failure codes of a failed separation found by polling', async () => {
    const { sim, engine } = await rig({ sim: { faults: { jobFailureRate: 1, webhook: { dropRate: 1 } } }, pollPolicy: { ...FAST, watchdog: { quietMs: 100 } } });
    const job = await engine.waitFor((await separate(engine)).id, WAIT);
    expect(job.status).toBe('failed');
    expect(sim.outcome(job.externalId!)).toBe('failed');
    expect(['CREATE_TASK_FAILED', 'GENERATE_AUDIO_FAILED']).toContain(job.error?.code);
    expect(job.providerStatus).toBe(job.error?.code);
  });

  it('turns missing credits and a missing callback URL into failed jobs with clear codes', async () => {
    const broke = await rig({ sim: { credits: 0 } });
    const poor = await separate(broke.engine);
    expect(poor.status).toBe('failed');
    expect(poor.error?.code).toBe('INSUFFICIENT_CREDITS');
    const unhooked = await rig({ webhooks: false });
    const lost = await separate(unhooked.engine);
    expect(lost.status).toBe('failed');
    expect(lost.error?.code).toBe('CALLBACK_URL_REQUIRED');
  });
});
