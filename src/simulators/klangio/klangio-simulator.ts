/**
 * Klangio simulator: a local HTTP server speaking the Klangio API (providers.md section 1)
 * at its root, for the demo and the tests.
 *
 * Choices made where the contract is UNKNOWN (section 7 and the brief):
 * - Errors answer `{ "detail": "<message>" }`: 401 for a missing or wrong `kl-api-key`, 422 for a
 *   missing/invalid required query parameter, a missing or empty multipart `file`, invalid
 *   `outputs` or a refused `webhook_url`; 404 for an unknown job or a result format the job does
 *   not have (not requested via `outputs`, or not produced by that kind of job); 409 for a
 *   result fetched before the job is COMPLETED (also for FAILED jobs), 422 for an `audio` fetch
 *   without a valid `stem_type`, 404 for a stem the model does not produce (piano/guitar on
 *   four-stems). The rate-limit knob answers 429 `{detail}` with `Retry-After`; the 5xx knob
 *   answers 500/502/503 `{detail}`.
 * - Source separation is `POST /source-separation?model=four-stems|six-stems&output=wav|mp3`
 *   (the format defaults to wav; clients in the wild name the parameter `output`, and a
 *   parameter of another name is ignored; `separationFormatParam: 'format'` reads `format`
 *   instead) with the audio in multipart `file`. WAV stems are 16-bit PCM, stereo, 44.1 kHz
 *   tones (`audio/wav`); the simulator cannot encode MP3, so MP3 stems are real MP3 files of
 *   silence (MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, `audio/mpeg`). There is no JSON result for
 *   separation jobs.
 * - Transcription `outputs` may be repeated form fields (as Python `requests` sends a list) or
 *   one comma-separated value; when absent it defaults to `mxml`. The create answer carries
 *   `gen_xml`, `gen_midi`, `gen_midi_quant`, `gen_gp5`, `gen_pdf` (newer flag names only), and
 *   they may differ from the request, as in Klangio's own example (asked midi, pdf, gp5;
 *   answered `gen_xml: true`, `gen_gp5: false`): with probability `outputFlagDriftRate`
 *   (decided per job from its seed) MusicXML is produced unasked and the first of gp5, pdf,
 *   midi_quant asked for is not. Only the flagged formats are served; the others answer 404. The
 *   quantized MIDI is served under `/job/{id}/midi_quant` (`quantizedMidiPath: 'midi_unq'`
 *   serves it under `/job/{id}/midi_unq` instead; Klangio's docs name both), the other path
 *   answers 404.
 *   `model` must be one of the documented or integrator-seen models (`KlangioModel`).
 *   Transcription `outputs` may include `json` (no `gen_*` flag; served as MusicInfo / Parts /
 *   Measures / Voices / Notes, field names inside each level the simulator's own) and the
 *   model may be `detect`.
 * - `deletion_date` is 14 days after `creation_date` (the documented retention); results are
 *   not actually deleted.
 * - Status answers are `{ status }`; a FAILED job's answer also has `error` (a short reason
 *   string). CANCELLED and TIMED_OUT are never produced.
 * - Webhooks: POST JSON `{ job_id, status }` to `webhook_url` when the job enters IN_PROGRESS
 *   and when it ends (COMPLETED or FAILED), no signature, `content-type: application/json`.
 *   An attempt fails on a non-2xx answer or no complete answer within 10 s; it is retried after
 *   1 s, 5 s and 15 s (divided by `speed`), then given up. Only loopback URLs are accepted unless
 *   `allowRemoteWebhooks`.
 * - Timeline: IN_QUEUE for 0.5–2 s, IN_PROGRESS for 2–6 s (divided by `speed`); the
 *   `jobFailureRate` knob decides at creation whether the job ends FAILED.
 * - Results are generated from the job's seed (the uploaded audio is not analysed, like the
 *   documented "demo transcription"); GP5 files are a version header and song-info block only
 *   (see `gp5File`).
 * - With `stateFile`, jobs survive a restart: the file holds each job's request, absolute
 *   timeline, outcome, error and result seed (not the uploaded audio, which results do not
 *   depend on). Webhooks pending at `close()` (scheduled, in flight or waiting to retry) are
 *   not kept; after a restart only the changes still ahead of the clock are sent, so a client
 *   learns about changes made while the simulator was down by polling.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Context, Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { RunningSimulator, SimulatorOptions } from '../kit/simulator.js';
import { jobModelOptions, startSimulatorServer } from '../kit/simulator.js';
import type { WebhookSender } from '../kit/webhook-sender.js';
import { parseCreate, type SeparationFormatParam } from './klangio-create.js';
import type { KlangioJob } from './klangio-jobs.js';
import { KlangioState } from './klangio-job-state.js';
import { KlangioJobKind, KlangioJobs } from './klangio-jobs.js';
import { formatsOf, resultFile, stemsOf, type QuantizedMidiPath } from './klangio-result-files.js';
import { genFlags } from './klangio-output-flags.js';
import { KlangioStem } from '../../providers/klangio/klangio-schemas.js';

/** Options of {@link startKlangioSimulator}. */
export interface KlangioSimulatorOptions extends SimulatorOptions {
  /** Webhook answer timeout. @default 10000 */
  webhookTimeoutMs?: number;
  /** Webhook retry delays before division by `speed`. @default [1000, 5000, 15000] */
  webhookRetryDelaysMs?: number[];
  /** The query parameter a source separation's audio format is read from. @default 'output' */
  separationFormatParam?: SeparationFormatParam;
  /**
   * Where the quantized MIDI is served (`GET /job/{id}/midi_quant` or `/midi_unq`; Klangio's docs
   * name both); the other path answers 404.
   * @default 'midi_quant'
   */
  quantizedMidiPath?: QuantizedMidiPath;
  /**
   * Probability that a transcription's create answer flags (and so the files it serves) differ
   * from the outputs asked for (see the module notes), decided per job from its seed; `0` makes
   * every job produce exactly what it asked for, `1` every job whose request can drift.
   * @default 0.25
   */
  outputFlagDriftRate?: number;
  /**
   * How long a create call waits, after the job was created, before it answers: a slow upload
   * answer, for tests of create timeouts. Not divided by `speed`.
   * @default 0
   */
  createDelayMs?: number;
}

/** The running Klangio simulator. */
export interface KlangioSimulator extends RunningSimulator {
  readonly webhooks: WebhookSender;
  /** The current status of a job as the simulator sees it, or `undefined`. */
  status(jobId: string): string | undefined;
  /** The ids of every job it holds, in creation order: what Klangio would bill. */
  jobIds(): string[];
}

const RETENTION_DAYS = 14;

const detail = (c: Context, status: ContentfulStatusCode, text: string, headers?: Record<string, string>): Response =>
  c.json({ detail: text }, status, headers);

const isoDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/**
 * Starts a Klangio simulator on 127.0.0.1.
 *
 * @example
 * const sim = await startKlangioSimulator({ speed: 200, seed: 1 });
 * const form = new FormData();
 * form.append('file', new Blob([wav]), 'song.wav');
 * form.append('outputs', 'mxml');
 * const res = await fetch(`${sim.url}/transcription?model=universal`, { method: 'POST', headers: { 'kl-api-key': sim.apiKey }, body: form });
 * await sim.close();
 */
export function startKlangioSimulator(options: KlangioSimulatorOptions = {}): Promise<KlangioSimulator> {
  return startSimulatorServer(options, {
    provider: 'klangio',
    api: {
      path: '*',
      keyHeader: 'kl-api-key',
      unauthorized: (c, reason) =>
        detail(c, 401, reason === 'missing' ? 'Missing API key: send it in the kl-api-key header' : 'Invalid API key'),
      rateLimited: (c, seconds) => detail(c, 429, 'Too many requests', { 'Retry-After': String(seconds) }),
      serverError: (c, status) => detail(c, status, 'Internal server error'),
    },
    randomStreams: ['model', 'faults', 'webhooks'],
    webhooks: { timeoutMs: options.webhookTimeoutMs ?? 10_000, retryDelaysMs: options.webhookRetryDelaysMs ?? [1000, 5000, 15_000] },
    state: KlangioState,
    create: (kit) => {
      const jobs = new KlangioJobs({ ...jobModelOptions(kit), outputFlagDriftRate: driftRate(options.outputFlagDriftRate) });
      return {
        routes: (app) =>
          klangioRoutes(app, {
            jobs,
            baseUrl: kit.url,
            allowRemoteWebhooks: kit.options.allowRemoteWebhooks,
            formatParam: options.separationFormatParam ?? 'output',
            quantizedPath: options.quantizedMidiPath ?? 'midi_quant',
            createDelayMs: delayOf(options.createDelayMs),
          }),
        outcome: (id) => jobs.get(id)?.outcome,
        resume: () => jobs.restore(kit.saved?.jobs ?? []),
        save: () => ({ format: 1, provider: 'klangio', jobs: jobs.save() }) satisfies KlangioState,
        handle: () => ({
          webhooks: kit.webhooks(),
          status: (id: string) => {
            const job = jobs.get(id);
            return job === undefined ? undefined : jobs.status(job);
          },
          jobIds: () => jobs.save().map((job) => job.id),
        }),
      };
    },
  });
}

/** Mounts the create, status and result routes and the not-found answer. */
function klangioRoutes(
  app: Hono,
  {
    jobs,
    baseUrl,
    allowRemoteWebhooks,
    formatParam,
    quantizedPath,
    createDelayMs,
  }: {
    jobs: KlangioJobs;
    baseUrl: () => string;
    allowRemoteWebhooks: boolean;
    formatParam: SeparationFormatParam;
    quantizedPath: QuantizedMidiPath;
    createDelayMs: number;
  },
): void {
  for (const kind of KlangioJobKind.options) {
    app.post(`/${kind}`, async (c) => {
      const spec = await parseCreate(c, kind, allowRemoteWebhooks, formatParam);
      if ('detail' in spec) return detail(c, spec.status, spec.detail);
      const job = jobs.create(spec);
      const body: Record<string, unknown> = {
        job_id: job.id,
        creation_date: isoDay(job.createdAt),
        deletion_date: isoDay(job.createdAt + RETENTION_DAYS * 86_400_000),
        status_endpoint_url: `${baseUrl()}/job/${job.id}/status`,
      };
      // What the job produces, which may differ from what was asked for.
      if (kind === 'transcription') Object.assign(body, genFlags(job.outputs ?? new Set()));
      // The job exists from here on, whether or not the client waits for this answer.
      if (createDelayMs > 0) await sleep(createDelayMs, undefined, { ref: false });
      return c.json(body, 200);
    });
  }

  const withJob = (c: Context, handle: (job: KlangioJob) => Response): Response => {
    const job = jobs.get(c.req.param('id') ?? '');
    return job === undefined ? detail(c, 404, 'Job not found') : handle(job);
  };

  app.get('/job/:id/status', (c) =>
    withJob(c, (job) => {
      const status = jobs.status(job);
      return c.json(status === 'FAILED' ? { status, error: job.error ?? 'Processing failed' } : { status }, 200);
    }),
  );

  const notReady = (c: Context, job: KlangioJob): Response | undefined => {
    const status = jobs.status(job);
    if (status === 'COMPLETED') return undefined;
    if (status === 'FAILED') return detail(c, 409, `Job failed: ${job.error ?? 'processing failed'}; no results`);
    return detail(c, 409, `Job is not completed yet (status ${status})`);
  };

  const send = (c: Context, job: KlangioJob, format: string, stem?: string): Response => {
    const file = resultFile(job, format, stem);
    return c.body(typeof file.body === 'string' ? file.body : new Uint8Array(file.body), 200, {
      'content-type': file.contentType,
      'content-disposition': `attachment; filename="${job.id}${stem === undefined ? '' : `_${stem}`}.${file.extension}"`,
    });
  };

  app.get('/job/:id/audio', (c) =>
    withJob(c, (job) => {
      if (!formatsOf(job, quantizedPath).includes('audio')) return detail(c, 404, 'This job has no audio result');
      const stem = KlangioStem.safeParse(c.req.query('stem_type'));
      if (!stem.success) return detail(c, 422, `query parameter 'stem_type' must be one of ${KlangioStem.options.join(', ')}`);
      if (!stemsOf(job).includes(stem.data)) return detail(c, 404, `Stem ${stem.data} is not produced by ${job.separationModel}`);
      return notReady(c, job) ?? send(c, job, 'audio', stem.data);
    }),
  );

  app.get('/job/:id/:format', (c) =>
    withJob(c, (job) => {
      const format = c.req.param('format');
      if (!formatsOf(job, quantizedPath).includes(format)) return detail(c, 404, `Result format ${format} is not available for this job`);
      return notReady(c, job) ?? send(c, job, format);
    }),
  );

  app.notFound((c) => detail(c, 404, 'Not Found'));
}

/** A rate in [0, 1], or a RangeError naming the option. */
function driftRate(rate: number | undefined): number {
  const value = rate ?? 0.25;
  if (!(value >= 0 && value <= 1)) throw new RangeError(`outputFlagDriftRate must be between 0 and 1, got ${String(rate)}`);
  return value;
}

/** A delay in ms (finite, not negative), or a RangeError naming the option. */
function delayOf(ms: number | undefined): number {
  const value = ms ?? 0;
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`createDelayMs must be a number of milliseconds ≥ 0, got ${String(ms)}`);
  return value;
}
