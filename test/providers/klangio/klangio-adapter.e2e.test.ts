import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import type { Dispatcher } from 'undici';
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import { createKlangioAdapter, type KlangioAdapterOptions } from '../../../src/providers/klangio/klangio-adapter.js';
import { KLANGIO_ERRORS } from '../../../src/simulators/klangio/klangio-jobs.js';
import {
  KlangioBeatResult,
  KlangioChordExtendedResult,
  KlangioChordResult,
  KlangioStrumResult,
} from '../../../src/providers/klangio/klangio-schemas.js';
import { startKlangioSimulator, type KlangioSimulator, type KlangioSimulatorOptions } from '../../../src/simulators/klangio/klangio-simulator.js';
import type { ProviderAdapter, ProviderJobRef } from '../../../src/streams/provider-port.js';
import { createDispatcher } from '../../../src/providers/provider-http.js';
import { wavFile } from '../../../src/simulators/kit/media.js';
import type { WebhookEvent } from '../../../src/simulators/kit/webhook-sender.js';
import { createEngine, type Engine, type EngineEvent } from '../../../src/streams/engine.js';
import type { JobChange } from '../../../src/streams/job-change.js';
import type { JobSnapshot } from '../../../src/streams/job-snapshot.js';
import { MemoryStore } from '../../../src/streams/job-store.js';
import type { PollPolicy } from '../../../src/streams/poll-scheduler.js';
import { startWebhookIntake, type WebhookIntake } from '../../support/webhook-intake.js';
import { checkPdf, parseMidi, parseWav } from '../../simulators/kit/media-parsers.js';

/** Fast enough for a simulator at speed 200; the watchdog waits long enough for webhooks to lead. */
const FAST: Partial<PollPolicy> = {
  intervalMs: 40,
  watchdog: { quietMs: 400 },
  backoff: { initialMs: 10, maxMs: 200 },
  rate: { limit: 1000, windowMs: 1000 },
  maxInFlight: 16,
};
const WAIT = { timeoutMs: 10_000 };

interface Rig {
  sim: KlangioSimulator;
  engine: Engine;
  adapter: ProviderAdapter;
  changes: JobChange[];
  hooks: WebhookEvent[];
  events: EngineEvent[];
}

let dir: string;
let audioPath: string;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'klangio-e2e-'));
  audioPath = join(dir, 'take.wav');
  await writeFile(audioPath, wavFile({ seconds: 0.05 }));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function rig(
  options: { sim?: KlangioSimulatorOptions; adapter?: Partial<KlangioAdapterOptions>; webhooks?: boolean; pollPolicy?: Partial<PollPolicy> } = {},
): Promise<Rig> {
  // Flags follow the request unless a test asks for drift.
  const sim = await startKlangioSimulator({ speed: 200, seed: 11, webhookRetryDelaysMs: [100, 200], outputFlagDriftRate: 0, ...options.sim });
  cleanups.push(() => sim.close());
  const dispatcher: Dispatcher = createDispatcher();
  cleanups.push(() => dispatcher.close());
  const adapter = createKlangioAdapter({ apiKey: sim.apiKey, baseUrl: sim.url, dispatcher, pollPolicy: options.pollPolicy ?? FAST, ...options.adapter });
  let intakeUrl = '';
  const engine = await createEngine({
    providers: [adapter],
    store: new MemoryStore(),
    ...(options.webhooks === false ? {} : { webhookUrl: (provider: string, token: string) => `${intakeUrl}/v1/hooks/${provider}/${token}` }),
  });
  cleanups.push(() => engine.close());
  if (options.webhooks !== false) {
    const intake: WebhookIntake = await startWebhookIntake(engine);
    intakeUrl = intake.url;
    cleanups.push(() => intake.close());
  }
  const changes: JobChange[] = [];
  engine.changes$().subscribe((change) => changes.push(change));
  const hooks: WebhookEvent[] = [];
  sim.webhooks.events.subscribe((event) => hooks.push(event));
  const events: EngineEvent[] = [];
  engine.events$.subscribe((event) => events.push(event));
  return { sim, engine, adapter, changes, hooks, events };
}

const refOf = (job: JobSnapshot): ProviderJobRef => ({ externalId: job.externalId!, kind: job.kind, options: job.options });

async function downloadAll(adapter: ProviderAdapter, job: JobSnapshot): Promise<Map<string, { contentType: string; bytes: Buffer }>> {
  const files = new Map<string, { contentType: string; bytes: Buffer }>();
  for (const file of adapter.resultFiles!(refOf(job), job.result)) {
    const download = await adapter.download!(refOf(job), job.result, file.name, { signal: AbortSignal.timeout(5000) });
    files.set(file.name, { contentType: download.contentType, bytes: await buffer(download.body) });
  }
  return files;
}

/** Checks that a file's bytes are the format its name promises. */
function expectRealFormat(name: string, bytes: Buffer): void {
  if (name.endsWith('.musicxml')) expect(bytes.toString('utf8')).toMatch(/<score-partwise[\s>]/);
  else if (name.endsWith('.gp5')) expect(bytes.subarray(1, 25).toString('latin1')).toBe('FICHIER GUITAR PRO v5.00');
  else if (name.endsWith('.mid')) expect(parseMidi(bytes).events.length).toBeGreaterThan(0);
  else if (name.endsWith('.pdf')) expect(checkPdf(bytes).objects).toBeGreaterThan(0);
  else if (name.endsWith('.wav')) expect(parseWav(bytes)).toMatchObject({ format: 1, channels: 2, sampleRate: 44100, bitsPerSample: 16 });
  else if (name.endsWith('.json')) expect(() => JSON.parse(bytes.toString('utf8')) as unknown).not.toThrow();
  else throw new Error(`unexpected file ${name}`);
}

describe('Klangio adapter against the simulator', () => {
  it('runs every job kind to the simulator’s outcome, led by webhooks, and serves real result files', async () => {
    const { sim, engine, adapter, changes } = await rig();
    const input = { type: 'file' as const, path: audioPath };
    const submitted = await Promise.all([
      engine.submit({ provider: 'klangio', kind: 'transcription', input, options: { model: 'guitar', outputs: ['mxml', 'gp5', 'midi', 'midi_quant', 'pdf'], title: 'Take' } }),
      engine.submit({ provider: 'klangio', kind: 'chord-recognition', input, options: { vocabulary: 'full' } }),
      engine.submit({ provider: 'klangio', kind: 'chord-recognition-extended', input }),
      engine.submit({ provider: 'klangio', kind: 'beat-tracking', input }),
      engine.submit({ provider: 'klangio', kind: 'strum-recognition', input }),
      engine.submit({ provider: 'klangio', kind: 'source-separation', input, options: { model: 'six-stems' } }),
    ]);
    const done = await Promise.all(submitted.map((job) => engine.waitFor(job.id, WAIT)));
    for (const job of done) {
      expect(job.status, `${job.kind}: ${JSON.stringify(job.error)}`).toBe('succeeded');
      expect(sim.outcome(job.externalId!)).toBe('succeeded');
      expect(job.providerStatus).toBe('COMPLETED');
    }
    const byKind = new Map(done.map((job) => [job.kind, job]));

    expect(KlangioChordResult.safeParse(byKind.get('chord-recognition')!.result).success).toBe(true);
    expect(KlangioChordExtendedResult.safeParse(byKind.get('chord-recognition-extended')!.result).success).toBe(true);
    expect(KlangioBeatResult.safeParse(byKind.get('beat-tracking')!.result).success).toBe(true);
    expect(KlangioStrumResult.safeParse(byKind.get('strum-recognition')!.result).success).toBe(true);
    expect(byKind.get('transcription')!.result).toEqual({ formats: ['mxml', 'gp5', 'midi', 'midi_quant', 'pdf'] });
    expect(byKind.get('source-separation')!.result).toEqual({
      model: 'six-stems',
      format: 'wav',
      stems: ['vocals', 'bass', 'drums', 'other', 'piano', 'guitar'],
    });

    const transcription = await downloadAll(adapter, byKind.get('transcription')!);
    expect([...transcription.keys()]).toEqual(['score.musicxml', 'score.gp5', 'performance.mid', 'quantized.mid', 'score.pdf']);
    const stems = await downloadAll(adapter, byKind.get('source-separation')!);
    expect([...stems.keys()]).toEqual(['vocals.wav', 'bass.wav', 'drums.wav', 'other.wav', 'piano.wav', 'guitar.wav']);
    expect(stems.get('vocals.wav')!.contentType).toBe('audio/wav');
    for (const [name, file] of [...transcription, ...stems]) expectRealFormat(name, file.bytes);
    for (const kind of ['chord-recognition', 'chord-recognition-extended', 'beat-tracking', 'strum-recognition']) {
      const job = byKind.get(kind)!;
      const files = await downloadAll(adapter, job);
      expect([...files.keys()]).toEqual([`${kind}.json`]);
      expect(JSON.parse(files.get(`${kind}.json`)!.bytes.toString('utf8'))).toEqual(job.result);
    }

    const fromWebhooks = changes.filter((change) => change.job.source === 'webhook');
    expect(fromWebhooks.length).toBeGreaterThan(0);
    // The terminal webhook is thin: the outcome itself always comes from the poll it triggers.
    for (const job of done) expect(job.source).toBe('poll');
  });

  it('serves the files the create answer flagged, not the ones asked for (was: the request, and a 404 for score.gp5)', async () => {
    const { engine } = await rig({ sim: { outputFlagDriftRate: 1 } });
    const job = await engine.submit({ provider: 'klangio', kind: 'transcription', input: { type: 'file', path: audioPath }, options: { model: 'guitar', outputs: ['midi', 'pdf', 'gp5'] } });
    expect(job.providerData).toEqual({ gen_xml: true, gen_midi: true, gen_midi_quant: false, gen_gp5: false, gen_pdf: true });
    const done = await engine.waitFor(job.id, WAIT);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    expect(done.result).toEqual({ formats: ['midi', 'pdf', 'mxml'] });
    const files = engine.resultFiles(done.id);
    expect(files.map((f) => f.name)).toEqual(['performance.mid', 'score.pdf', 'score.musicxml']);
    for (const file of files) expectRealFormat(file.name, await buffer((await engine.openResult(done.id, file.name)).body));
  });

  it('keeps the flags with the job across an engine restart (was: lost, so the result followed the request)', async () => {
    const sim = await startKlangioSimulator({ speed: 50, seed: 11, outputFlagDriftRate: 1 });
    cleanups.push(() => sim.close());
    const dispatcher = createDispatcher();
    cleanups.push(() => dispatcher.close());
    const dataDir = await mkdtemp(join(dir, 'data-'));
    const adapter = (pollPolicy: Partial<PollPolicy>) => createKlangioAdapter({ apiKey: sim.apiKey, baseUrl: sim.url, dispatcher, pollPolicy });
    // The first engine never polls (no webhooks, an hour between polls): it stops with the job unfinished.
    const first = await createEngine({ providers: [adapter({ ...FAST, intervalMs: 3_600_000 })], dataDir });
    const job = await first.submit({ provider: 'klangio', kind: 'transcription', input: { type: 'file', path: audioPath }, options: { outputs: ['midi', 'pdf', 'gp5'] } });
    expect(job.status).toBe('queued');
    await first.close();
    const second = await createEngine({ providers: [adapter(FAST)], dataDir });
    cleanups.push(() => second.close());
    const done = await second.waitFor(job.id, WAIT);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    expect(done.providerData).toEqual(job.providerData);
    expect(done.result).toEqual({ formats: ['midi', 'pdf', 'mxml'] });
    expect(done.artifacts).toMatchObject({ state: 'complete', files: [{ name: 'performance.mid' }, { name: 'score.pdf' }, { name: 'score.musicxml' }] });
  });

  it('cancels by stopping tracking only: the job is canceled here and runs on at Klangio (was: canceled as if Klangio had stopped it)', async () => {
    const { engine, sim } = await rig({ sim: { speed: 20 } });
    const job = await engine.submit({ provider: 'klangio', kind: 'beat-tracking', input: { type: 'file', path: audioPath } });
    expect(engine.cancelModeOf('klangio')).toBe('tracking-only');
    const canceled = await engine.cancel(job.id);
    expect(canceled).toMatchObject({ status: 'canceled', providerStatus: 'tracking-stopped', source: 'cancel', error: { code: 'TRACKING_STOPPED' } });
    expect(canceled.error?.message).toBe(
      'jobstream stopped tracking this job; it was not cancelled at the provider (klangio has no way to cancel a job). klangio may still run it and bill for it.',
    );
    // Klangio knows nothing of it: the job runs to its end there.
    expect(sim.status(job.externalId!)).toMatch(/^IN_/);
    await expect.poll(() => sim.status(job.externalId!), { timeout: 5000 }).toBe('COMPLETED');
    expect(engine.get(job.id)).toEqual(canceled);
  });

  it('gets MP3 stems for a source separation asked in mp3 (the format sent as output=mp3, not format=mp3)', async () => {
    const { engine, adapter } = await rig();
    const job = await engine.submit({ provider: 'klangio', kind: 'source-separation', input: { type: 'file', path: audioPath }, options: { format: 'mp3' } });
    const done = await engine.waitFor(job.id, WAIT);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    const files = await downloadAll(adapter, done);
    expect([...files.keys()].sort()).toEqual(['bass.mp3', 'drums.mp3', 'other.mp3', 'vocals.mp3']);
    for (const file of files.values()) {
      expect(file.contentType).toBe('audio/mpeg');
      expect([file.bytes[0], file.bytes[1]! & 0xe0]).toEqual([0xff, 0xe0]);
    }
  });

  it('downloads the quantized MIDI from midi_unq when midi_quant answers 404', async () => {
    const { engine, adapter } = await rig({ sim: { quantizedMidiPath: 'midi_unq' } });
    const job = await engine.submit({ provider: 'klangio', kind: 'transcription', input: { type: 'file', path: audioPath }, options: { outputs: ['midi_quant'] } });
    const done = await engine.waitFor(job.id, WAIT);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    const files = await downloadAll(adapter, done);
    expect([...files.keys()]).toEqual(['quantized.mid']);
    expectRealFormat('quantized.mid', files.get('quantized.mid')!.bytes);
  });

  it('runs a transcription with the detect model and the json output, and serves transcription.json', async () => {
    const { engine, adapter } = await rig();
    const job = await engine.submit({ provider: 'klangio', kind: 'transcription', input: { type: 'file', path: audioPath }, options: { model: 'detect', outputs: ['json', 'midi'] } });
    expect(job.status).not.toBe('failed');
    const done = await engine.waitFor(job.id, WAIT);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    const files = await downloadAll(adapter, done);
    expect([...files.keys()].sort()).toEqual(['performance.mid', 'transcription.json']);
    expect(JSON.parse(files.get('transcription.json')!.bytes.toString('utf8'))).toMatchObject({ MusicInfo: expect.any(Object), Parts: expect.any(Array) });
  });

  it('downloads a URL input and uploads it; refuses one over maxInputBytes', async () => {
    const server: Server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'audio/wav' });
      res.end(wavFile({ seconds: 0.05 }));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/take.wav`;

    // The input server is on loopback: allowed here (url-guard.test.ts shows the refusal).
    const { engine, sim } = await rig({ adapter: { maxInputBytes: 100_000, allowPrivateUrls: true } });
    const ok = await engine.submit({ provider: 'klangio', kind: 'beat-tracking', input: { type: 'url', url } });
    const done = await engine.waitFor(ok.id, WAIT);
    expect(done.status).toBe('succeeded');
    expect(sim.outcome(done.externalId!)).toBe('succeeded');

    const small = await rig({ adapter: { maxInputBytes: 1000, allowPrivateUrls: true } });
    const refused = await small.engine.submit({ provider: 'klangio', kind: 'beat-tracking', input: { type: 'url', url } });
    expect(refused.status).toBe('failed');
    expect(refused.error).toMatchObject({ code: 'INPUT_TOO_LARGE' });
    expect(refused.externalId).toBeNull();
  });

  it('fails a job the simulator fails, with Klangio’s error text', async () => {
    const { engine, sim } = await rig({ sim: { faults: { jobFailureRate: 1 } } });
    const job = await engine.submit({ provider: 'klangio', kind: 'chord-recognition', input: { type: 'file', path: audioPath } });
    const done = await engine.waitFor(job.id, WAIT);
    expect(done.status).toBe('failed');
    expect(sim.outcome(done.externalId!)).toBe('failed');
    expect(done.providerStatus).toBe('FAILED');
    expect(done.error?.code).toBe('FAILED');
    expect(KLANGIO_ERRORS).toContain(done.error?.message);
  });

  it('reaches the outcome by polling alone, for jobs submitted without webhooks and for adopted jobs', async () => {
    const { engine, adapter, sim, changes } = await rig({ webhooks: false });
    const job = await engine.submit({ provider: 'klangio', kind: 'strum-recognition', input: { type: 'file', path: audioPath } });
    const created = await adapter.create(
      { kind: 'transcription', input: { type: 'file', path: audioPath }, name: null, metadata: {}, options: { outputs: ['pdf'] } },
      { signal: AbortSignal.timeout(5000) },
    );
    const adopted = await engine.track({ provider: 'klangio', kind: 'transcription', externalId: created.externalId, options: { outputs: ['pdf'] } });
    const done = await Promise.all([engine.waitFor(job.id, WAIT), engine.waitFor(adopted.id, WAIT)]);
    for (const one of done) {
      expect(one.status).toBe('succeeded');
      expect(sim.outcome(one.externalId!)).toBe('succeeded');
    }
    expect(done[1]?.result).toEqual({ formats: ['pdf'] });
    expect(changes.filter((c) => c.job.source === 'webhook')).toEqual([]);
  });
});
