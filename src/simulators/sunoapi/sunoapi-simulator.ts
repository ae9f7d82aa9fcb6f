/**
 * sunoapi.org simulator: a local HTTP server speaking the Suno API's vocal-removal and MIDI
 * endpoints under `/api/v1` (providers.md section 3), for the demo and the tests.
 *
 * Choices made where the contract is UNKNOWN (section 7 and the brief):
 * - Envelopes: every API answer is `{ code, msg, data }`. Business errors use HTTP 200 with the
 *   body code (400 bad parameters, 404 unknown task, 429 no credits, 430 too frequent), so a
 *   client must read the body code. Exceptions: a missing or wrong `Authorization: Bearer` key
 *   answers HTTP 401 with body code 401; the 5xx knob answers HTTP 500/502/503 with body code
 *   500; an unknown path answers HTTP 404 with body code 404.
 * - The rate-limit knob answers HTTP 200 (HTTP 430 with `rateLimitHttpStatus: 430`), body
 *   code 430 and a `Retry-After` header. The
 *   `credits` option (unlimited when absent) is spent one per accepted create
 *   (vocal-removal or MIDI); at zero, creates answer body code 429. `GET /api/v1/generate/credit`
 *   returns the balance (`data` is a number; a large number when unlimited).
 * - Vocal removal: the real API separates an existing Suno track; the simulator accepts any
 *   non-empty `taskId` and `audioId`. `type` defaults to `separate_vocal`; `callBackUrl` is
 *   required (loopback only unless `allowRemoteWebhooks`). Unknown task → body code 404.
 * - Separation record: `successFlag` is the status string (PENDING | SUCCESS |
 *   CREATE_TASK_FAILED | GENERATE_AUDIO_FAILED | CALLBACK_EXCEPTION); `response` is null until
 *   SUCCESS, then has every URL field (camelCase) with the fields of the other type null, plus
 *   `originData` (`id`, `audio_url`, `stem_type_group_name`, `duration`) whose ids are valid
 *   `audioId` values for MIDI generation. `musicId` and `audioId` echo the request's
 *   `audioId`. CALLBACK_EXCEPTION replaces SUCCESS once every callback attempt failed; MIDI
 *   generation from such a task is still allowed (its audio exists). URLs point at
 *   `/files/{taskId}/{stem}.wav` on the simulator (no auth; small WAV files, not MP3).
 * - Separation callback: success `{ code: 200, msg, data: { task_id, vocal_removal_info } }`
 *   with snake_case URL fields of the chosen type and no `originData` (neither provider's
 *   callback example has it: only the record lists the tracks); failure `{ code: 500, msg,
 *   data: { task_id, vocal_removal_info: null } }`. With `callbackShape: 'kie'` the field is
 *   `vocal_separation_info`, as kie.ai sends it.
 * - MIDI generate: `taskId` must be a separation whose status is SUCCESS (or
 *   CALLBACK_EXCEPTION), otherwise body code 400; `audioId`, when given, must be one of its
 *   `originData` ids (body code 400 otherwise).
 * - MIDI record: `midiData` is null until success; `completeTime` is null while pending;
 *   `errorCode` 500 and an `errorMessage` on failure; times are numbers. Callback: success
 *   `{ code: 200, msg: 'success', task_id, data: { state: 'complete', instruments } }` with
 *   `start`/`end` mixed numbers and numeric strings; failure `{ code: 500, msg, task_id, data:
 *   { task_id, state: 'failed' } }`. Some runs find no notes at all (`emptyMidiRate`; by default
 *   10% of `separate_vocal` sources, 25% of `split_stem` ones): the record then has
 *   `instruments: []` (a `split_stem` source: an empty `midiData`, `{}`) and the callback
 *   `instruments: []` (`split_stem`: no `instruments`). An instrument may have no notes.
 * - Callbacks: POST JSON once per task at its terminal state; an attempt fails on a non-2xx
 *   answer or no answer within 15 s; retried three times, after 1, 5 and 15 minutes (divided by
 *   `speed`), as docs.sunoapi.org documents, then stopped: at speed 200 the first retry comes
 *   after 300 ms, so a client's poll watchdog, not a retry, is what finds a lost callback soon.
 *   Duplicates, drops, delays and reordering come from the webhook fault knobs. With
 *   `webhookKey`, every attempt is signed as kie.ai signs: `X-Webhook-Timestamp` (Unix seconds
 *   of the simulator's clock at that attempt) and `X-Webhook-Signature` = base64(HMAC-SHA256(
 *   taskId + "." + timestamp, webhookKey)).
 * - Timelines: separation PENDING for 1–3 s, MIDI PENDING for 2–6 s (divided by `speed`);
 *   `jobFailureRate` decides failure at creation (80% generation failure, 20% creation failure).
 * - With `stateFile`, tasks and a limited credit balance survive a restart: the file holds each
 *   task's request, stems, absolute timeline, outcome, CALLBACK_EXCEPTION flag, MIDI
 *   instruments and callback seed. Callbacks pending at `close()` (scheduled, in flight or
 *   waiting to retry) are not kept: after a restart only tasks still pending on the clock call
 *   back, a task that ended while the simulator was down is found by polling, and one whose
 *   callback was still being retried never turns CALLBACK_EXCEPTION.
 */
import { createHmac } from 'node:crypto';
import type { Context, Hono } from 'hono';
import type { ZodType } from 'zod';
import { isHttpUrl, isLoopbackUrl } from '../kit/loopback.js';
import { wavFile } from '../kit/media.js';
import type { RunningSimulator, SimulatorOptions } from '../kit/simulator.js';
import { jobModelOptions, startSimulatorServer } from '../kit/simulator.js';
import type { WebhookSender } from '../kit/webhook-sender.js';
import { midiCallback, midiRecord, separationCallback, separationRecord, STEM_SECONDS, type SunoCallbackShape } from './sunoapi-records.js';
import { SunoMidiRequest, SunoVocalRemovalRequest } from '../../providers/sunoapi/sunoapi-schemas.js';
import type { MidiState, SeparationState, SunoTask } from './sunoapi-tasks.js';
import { SunoapiState } from './sunoapi-task-state.js';
import { SunoTasks } from './sunoapi-tasks.js';

/** Options of {@link startSunoapiSimulator}. */
export interface SunoapiSimulatorOptions extends SimulatorOptions {
  /** Credits available; each accepted create costs one. A balance kept in `stateFile` wins. @default unlimited */
  credits?: number;
  /** Callback answer timeout. @default 15000 */
  callbackTimeoutMs?: number;
  /**
   * Callback retry delays before division by `speed`: three retries, after 1, 5 and 15 minutes,
   * as docs.sunoapi.org documents for separation callbacks.
   * @default SUNOAPI_CALLBACK_RETRY_DELAYS_MS ([60000, 300000, 900000])
   */
  callbackRetryDelaysMs?: number[];
  /**
   * The share (0..1) of MIDI tasks that find no notes (see the module notes); 1 makes every MIDI
   * task empty, 0 none.
   * @default EMPTY_MIDI_RATE (0.1 for separate_vocal sources, 0.25 for split_stem ones)
   */
  emptyMidiRate?: number;
  /**
   * kie.ai's webhook HMAC key: when set, every callback attempt carries `X-Webhook-Timestamp`
   * and `X-Webhook-Signature`. @default none (callbacks are unsigned, as sunoapi.org sends them)
   */
  webhookKey?: string;
  /**
   * The separation callback's layout: `sunoapi` puts the stems under `data.vocal_removal_info`
   * (docs.sunoapi.org), `kie` under `data.vocal_separation_info` (docs.kie.ai).
   * @default 'sunoapi'
   */
  callbackShape?: SunoCallbackShape;
  /**
   * The HTTP status of a rate-limited answer (its body code is 430 either way): `200` as the
   * docs show business errors, or `430`, as rate limiting has also been seen to arrive.
   * @default 200
   */
  rateLimitHttpStatus?: 200 | 430;
}

/** The running sunoapi.org simulator. */
export interface SunoapiSimulator extends RunningSimulator {
  readonly webhooks: WebhookSender;
  /** The record status of a task: the separation `successFlag` string or the MIDI `successFlag` number. */
  status(taskId: string): string | number | undefined;
  /** Remaining credits (`Infinity` when unlimited). */
  credits(): number;
  setCredits(credits: number): void;
}

/** The documented callback retry schedule: after 1, 5 and 15 minutes (before division by `speed`). */
export const SUNOAPI_CALLBACK_RETRY_DELAYS_MS: readonly number[] = [60_000, 300_000, 900_000];

const STEM_FREQUENCY: Record<string, number> = { origin: 220, instrumental: 330, vocal: 440, drums: 110, bass: 82.41 };

const envelope = (c: Context, code: number, msg: string, data: unknown = null, status: 200 | 401 | 404 | 430 | 500 | 502 | 503 = 200, headers?: Record<string, string>): Response =>
  // 430 is not a registered HTTP status, so Hono's status type does not list it.
  c.json({ code, msg, data }, status as 200, headers);

/**
 * Starts a sunoapi.org simulator on 127.0.0.1; give clients `${sim.url}` as the base URL
 * (paths are `/api/v1/...`, like `https://api.sunoapi.org`).
 *
 * @example
 * const sim = await startSunoapiSimulator({ speed: 200, seed: 1 });
 * await fetch(`${sim.url}/api/v1/vocal-removal/generate`, {
 *   method: 'POST',
 *   headers: { authorization: `Bearer ${sim.apiKey}`, 'content-type': 'application/json' },
 *   body: JSON.stringify({ taskId: 't', audioId: 'a', type: 'split_stem', callBackUrl: 'http://127.0.0.1:9000/cb' }),
 * });
 * await sim.close();
 */
export function startSunoapiSimulator(options: SunoapiSimulatorOptions = {}): Promise<SunoapiSimulator> {
  const { emptyMidiRate, webhookKey } = options;
  if (emptyMidiRate !== undefined && !(emptyMidiRate >= 0 && emptyMidiRate <= 1)) {
    return Promise.reject(new RangeError(`emptyMidiRate must be a number from 0 to 1, got ${emptyMidiRate}`));
  }
  if (webhookKey !== undefined && webhookKey === '') return Promise.reject(new RangeError('webhookKey must not be empty'));
  // The simulator's clock, known once the kit is built; callbacks are only sent after that.
  let clock: () => number = Date.now;
  return startSimulatorServer(options, {
    provider: 'sunoapi',
    api: {
      path: '/api/*',
      keyHeader: 'authorization',
      expectedKey: (apiKey) => `Bearer ${apiKey}`,
      unauthorized: (c) => c.json({ code: 401, msg: 'Unauthorized: send Authorization: Bearer <API key>', data: null }, 401),
      rateLimited: (c, seconds) =>
        envelope(c, 430, 'Call frequency is too high, please try again later', null, options.rateLimitHttpStatus ?? 200, { 'Retry-After': String(seconds) }),
      serverError: (c, status) => envelope(c, 500, 'Server error, please try again later', null, status),
    },
    randomStreams: ['model', 'faults', 'webhooks'],
    state: SunoapiState,
    webhooks: {
      timeoutMs: options.callbackTimeoutMs ?? 15_000,
      retryDelaysMs: options.callbackRetryDelaysMs ?? SUNOAPI_CALLBACK_RETRY_DELAYS_MS,
      ...(webhookKey === undefined ? {} : { headers: ({ key }: { key: string }) => signedHeaders(key, clock(), webhookKey) }),
    },
    create: (kit) => {
      clock = kit.options.now;
      let credits = kit.saved?.credits ?? options.credits ?? Number.POSITIVE_INFINITY;
      const terminal = <S extends string>(task: { timeline: readonly { status: S }[] }): S => task.timeline[task.timeline.length - 1]!.status;
      const tasks = new SunoTasks({
        ...jobModelOptions(kit),
        emptyMidiRate,
        callbackBody: (task: SunoTask) =>
          task.kind === 'separation'
            ? separationCallback(task, terminal<SeparationState>(task), kit.url(), options.callbackShape ?? 'sunoapi')
            : midiCallback(task, terminal<MidiState>(task)),
      });
      const spendCredit = (c: Context): Response | undefined => {
        if (credits < 1) return envelope(c, 429, 'Insufficient credits');
        credits -= 1;
        return undefined;
      };
      return {
        routes: (app) => sunoapiRoutes(app, { tasks, baseUrl: kit.url, allowRemoteWebhooks: kit.options.allowRemoteWebhooks, spendCredit, credits: () => credits }),
        outcome: (id) => tasks.get(id)?.outcome,
        resume: () => tasks.restore(kit.saved?.tasks ?? []),
        save: () => ({ format: 1 as const, provider: 'sunoapi' as const, tasks: tasks.save(), ...(Number.isFinite(credits) ? { credits } : {}) }),
        handle: (url) => ({
          webhooks: kit.webhooks(),
          status: (id: string) => {
            const task = tasks.get(id);
            if (task === undefined) return undefined;
            return task.kind === 'separation'
              ? separationRecord(task, tasks.state(task), null, url).successFlag
              : midiRecord(task, tasks.state(task), null).successFlag;
          },
          credits: () => credits,
          setCredits: (n: number) => {
            credits = n;
          },
        }),
      };
    },
  });
}

/**
 * The kie.ai signature headers of one callback attempt for task `taskId`, at `nowMs`. Written
 * here from the docs, independently of the adapter's check, so that the two test each other.
 */
function signedHeaders(taskId: string, nowMs: number, key: string): Record<string, string> {
  const timestamp = String(Math.floor(nowMs / 1000));
  return { 'x-webhook-timestamp': timestamp, 'x-webhook-signature': createHmac('sha256', key).update(`${taskId}.${timestamp}`).digest('base64') };
}

/** What the routes of {@link sunoapiRoutes} read and change. */
interface SunoapiRouteContext {
  tasks: SunoTasks;
  baseUrl: () => string;
  allowRemoteWebhooks: boolean;
  /** Spends one credit, or answers body code 429 when none is left. */
  spendCredit: (c: Context) => Response | undefined;
  credits: () => number;
}

/** Mounts the `/api/v1` routes, the stem files and the not-found envelope. */
function sunoapiRoutes(app: Hono, { tasks, baseUrl, allowRemoteWebhooks, spendCredit, credits }: SunoapiRouteContext): void {
  /** Parses a JSON body with a schema; a refusal is a body-code 400 answer. */
  const readBody = async <T>(c: Context, schema: ZodType<T>): Promise<T | Response> => {
    let json: unknown;
    try {
      json = await c.req.json();
    } catch {
      return envelope(c, 400, 'Request body must be JSON');
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      return envelope(c, 400, `Invalid parameters: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'body'} ${i.message}`).join('; ')}`);
    }
    return parsed.data;
  };
  const refuseCallback = (c: Context, url: string): Response | undefined => {
    if (!isHttpUrl(url)) return envelope(c, 400, 'callBackUrl must be an absolute http(s) URL');
    if (!allowRemoteWebhooks && !isLoopbackUrl(url)) return envelope(c, 400, 'callBackUrl must point at a loopback host (the simulator only calls back locally)');
    return undefined;
  };

  app.post('/api/v1/vocal-removal/generate', async (c) => {
    const req = await readBody(c, SunoVocalRemovalRequest);
    if (req instanceof Response) return req;
    const refused = refuseCallback(c, req.callBackUrl) ?? spendCredit(c);
    if (refused !== undefined) return refused;
    const task = tasks.createSeparation(req);
    return envelope(c, 200, 'success', { taskId: task.id });
  });

  app.get('/api/v1/vocal-removal/record-info', (c) => {
    const task = tasks.get(c.req.query('taskId') ?? '');
    if (task?.kind !== 'separation') return envelope(c, 404, 'Task not found');
    return envelope(c, 200, 'success', separationRecord(task, tasks.state(task), tasks.completedAt(task), baseUrl()));
  });

  app.post('/api/v1/midi/generate', async (c) => {
    const req = await readBody(c, SunoMidiRequest);
    if (req instanceof Response) return req;
    const separation = tasks.get(req.taskId);
    if (separation?.kind !== 'separation') return envelope(c, 400, 'taskId does not refer to a vocal separation task');
    const state = tasks.state(separation);
    if (state !== 'SUCCESS') return envelope(c, 400, `The vocal separation task is not completed (status ${state})`);
    if (req.audioId !== undefined && !separation.stems.some((s) => s.id === req.audioId && s.file !== 'origin')) {
      return envelope(c, 400, 'audioId is not a track of this separation task');
    }
    const refused = refuseCallback(c, req.callBackUrl) ?? spendCredit(c);
    if (refused !== undefined) return refused;
    const task = tasks.createMidi(separation, { callBackUrl: req.callBackUrl, ...(req.audioId === undefined ? {} : { audioId: req.audioId }) });
    return envelope(c, 200, 'success', { taskId: task.id });
  });

  app.get('/api/v1/midi/record-info', (c) => {
    const task = tasks.get(c.req.query('taskId') ?? '');
    if (task?.kind !== 'midi') return envelope(c, 404, 'Task not found');
    return envelope(c, 200, 'success', midiRecord(task, tasks.state(task), tasks.completedAt(task)));
  });

  app.get('/api/v1/generate/credit', (c) => {
    const balance = credits();
    return envelope(c, 200, 'success', Number.isFinite(balance) ? balance : 1_000_000);
  });

  app.get('/files/:taskId/:file{[a-z_]+\\.wav}', (c) => {
    const task = tasks.get(c.req.param('taskId'));
    const file = c.req.param('file').replace(/\.wav$/, '');
    if (task?.kind !== 'separation' || tasks.state(task) !== 'SUCCESS' || !task.stems.some((s) => s.file === file)) {
      return c.text('Not Found', 404);
    }
    const body = wavFile({ seconds: STEM_SECONDS, sampleRate: 22050, frequencyHz: STEM_FREQUENCY[file] ?? 262 });
    return c.body(new Uint8Array(body), 200, { 'content-type': 'audio/wav' });
  });

  app.notFound((c) => envelope(c, 404, 'Wrong method or path', null, 404));
}
