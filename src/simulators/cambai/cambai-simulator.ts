/**
 * Camb.ai transcription simulator: a real HTTP server speaking the Camb.ai transcription API
 * under `/apis` (providers.md section 4, seed 003, `@camb-ai/sdk` 1.0.1), poll-only like the
 * real service.
 *
 * Choices made where the contract is UNKNOWN (the adapter must stay tolerant of the rest):
 * - Auth: a missing or wrong `x-api-key` gets 401 `{ detail: "..." }` (section 7).
 * - Validation errors are FastAPI/pydantic v2 422 bodies `{ detail: [{ type, loc, msg, input }] }`:
 *   `language` missing / not a known language id, locale or `"auto"`; neither
 *   `media_file`/`file` nor `media_url`/`audio_url` given (loc `["body"]`); text sent as a file
 *   field or a file as a text field; non-integer `folder_id` or `run_id` query; bad
 *   `word_level_timestamps`, `data_type`, `format_type`; `POST /transcription-results` with
 *   invalid JSON or without an integer list `run_ids`.
 * - `POST /transcribe`: a file wins over a URL when both are sent; `project_*`, `folder_id` and
 *   the `run_id` query are validated and otherwise ignored. `media_url` is never fetched.
 *   Media problems surface the way a processing backend finds them, as an ERROR task: an empty
 *   upload → `INVALID_SOURCE_DATA`; a file name or URL path whose extension is not one of mp3,
 *   wav, aac, flac, mp4, mov, mxf → `SOURCE_TYPE_NOT_SUPPORTED` (no extension is accepted).
 * - Status answers always carry all four keys; `run_id` is set only on SUCCESS, `message` is
 *   a string. Random failures (`jobFailureRate`) end as ERROR 60 % (PROCESSING_ERROR,
 *   INTERNAL_ERROR, INVALID_SOURCE_DATA), TIMEOUT 20 % (`exception_reason: null`),
 *   PAYMENT_REQUIRED 20 %. Unknown task ids get 404 `{ detail }`.
 * - Results: `{ transcript: [...] }` (section 7); a run that is unknown or did not succeed gets
 *   404 `{ detail }`. Speaker labels are "Speaker 1"/"Speaker 2"; text is English whatever
 *   the language id. `word_level_timestamps=true` splits every segment into one segment per
 *   word, same shape, time shared by word length.
 * - `data_type`: absent, `raw_data` (SDK enum) or `json` (documentation) → the JSON segments;
 *   `file` → `{ file_url, expiry }` (the documentation's default, but the SDK never sends
 *   `data_type` and expects segments, so the simulator defaults to segments). `file_url` points
 *   at `/files/transcripts/{run_id}.{format}?signature=` on the simulator (no API key needed),
 *   `expiry` is an ISO time one hour ahead. `format_type` (`txt` default, `srt`, `vtt`) only
 *   matters with `data_type=file`: txt = `[HH:MM:SS.mmm - HH:MM:SS.mmm] Speaker: text` lines,
 *   srt = SubRip cues, vtt = WebVTT cues with `<v Speaker>` tags.
 * - `POST /transcription-results` answers an object keyed by run id strings holding only runs
 *   that succeeded; other ids are left out (the documentation example is `{}`).
 * - Source languages: the official SDK's ~150 ids, their locales and `"auto"` (see
 *   `providers/cambai/cambai-languages.ts`); `transcription_mode` and `run_audio_cleaning` are
 *   validated and otherwise ignored.
 * - Rate limit: none by default; the knob answers 429 `{ detail }` with `Retry-After`, or with
 *   only `X-RateLimit-Reset` (Unix seconds) given `rateLimitHeader: 'x-ratelimit-reset'`. 5xx from
 *   the knob are JSON `{ detail }`, because the SDK mishandles non-JSON bodies. Note that the SDK
 *   retries 408/429/5xx twice by default, honouring `Retry-After`.
 * - Timing at speed 1: PENDING 3–9 s, then terminal.
 * - Request faults apply to `/apis` only, after the auth check; transcript files never fail.
 *   `outcome(taskId)` is decided at creation and keyed by `task_id`.
 * - With `stateFile`, tasks survive a restart: the file holds each task's ids, absolute
 *   timeline, ending, transcript and file signature, and the next run id. The uploaded media
 *   are not kept (the ending is decided at creation and transcripts do not depend on them).
 *   Poll-only, so there are no pending webhooks to lose.
 */
import type { RunningSimulator, SimulatorOptions } from '../kit/simulator.js';
import { startSimulatorServer } from '../kit/simulator.js';
import { cambaiApiRoutes } from './cambai-api-routes.js';
import { cambaiFileRoutes } from './cambai-file-routes.js';
import { CambaiState } from './cambai-task-state.js';
import { CambaiTaskStore } from './cambai-task-store.js';
import { detail } from './cambai-validation.js';

/** Options of {@link startCambaiSimulator}. */
export interface CambaiSimulatorOptions extends SimulatorOptions {
  /**
   * How a 429 of the rate-limit knob says when to come back: `Retry-After` in seconds, or only
   * `X-RateLimit-Reset` as a Unix time in seconds (what the Camb.ai SDK reads when
   * `Retry-After` is absent). @default 'retry-after'
   */
  rateLimitHeader?: 'retry-after' | 'x-ratelimit-reset';
  /**
   * How long `POST /transcribe` waits, after the task was created, before it answers: a slow
   * create answer, for tests of create timeouts. Not divided by `speed`.
   * @default 0
   */
  createDelayMs?: number;
}

/** A running Camb.ai simulator. */
export interface RunningCambaiSimulator extends RunningSimulator {
  /** The value for the SDK's `baseUrl`: {@link RunningSimulator.url} + `/apis`. */
  readonly baseUrl: string;
  /** The ids of every task it holds, in creation order: what Camb.ai would bill. */
  taskIds(): string[];
}

/**
 * Starts a Camb.ai transcription simulator on 127.0.0.1.
 *
 * @example
 * const sim = await startCambaiSimulator({ speed: 200, seed: 1 });
 * const camb = new CambClient({ apiKey: sim.apiKey, baseUrl: sim.baseUrl });
 * await sim.close();
 */
export function startCambaiSimulator(options: CambaiSimulatorOptions = {}): Promise<RunningCambaiSimulator> {
  return startSimulatorServer(options, {
    provider: 'cambai',
    api: {
      path: '/apis/*',
      keyHeader: 'x-api-key',
      unauthorized: (_c, reason) => detail(401, reason === 'missing' ? 'Missing API key: send it in the x-api-key header' : 'Invalid API key'),
      rateLimited: (_c, seconds) =>
        detail(
          429,
          'Too many requests',
          options.rateLimitHeader === 'x-ratelimit-reset'
            ? { 'X-RateLimit-Reset': String(Math.ceil(((options.now ?? Date.now)() + seconds * 1000) / 1000)) }
            : { 'Retry-After': String(seconds) },
        ),
      serverError: (_c, status) =>
        detail(status, status === 500 ? 'Internal Server Error' : status === 502 ? 'Bad Gateway' : 'Service Unavailable'),
    },
    // Request faults draw from their own stream, so that retries never change task decisions.
    randomStreams: ['faults'],
    state: CambaiState,
    create: (kit) => {
      const { now, speed, faults } = kit.options;
      const store = new CambaiTaskStore({ random: kit.random, now, speed, faults });
      // Poll-only: restoring schedules nothing, so it happens before the server listens.
      if (kit.saved !== undefined) store.restore(kit.saved);
      return {
        routes: (app) => {
          app.route('/apis', cambaiApiRoutes({ store, now, baseUrl: kit.url, createDelayMs: delayOf(options.createDelayMs) }));
          app.route('/', cambaiFileRoutes(store));
          app.notFound(() => detail(404, 'Not Found'));
        },
        outcome: (taskId) => store.outcome(taskId),
        save: () => ({ format: 1, provider: 'cambai', ...store.save() }) satisfies CambaiState,
        handle: (url) => ({ baseUrl: `${url}/apis`, taskIds: () => store.save().tasks.map((task) => task.taskId) }),
      };
    },
  });
}

/** A delay in ms (finite, not negative), or a RangeError naming the option. */
function delayOf(ms: number | undefined): number {
  const value = ms ?? 0;
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`createDelayMs must be a number of milliseconds ≥ 0, got ${String(ms)}`);
  return value;
}
