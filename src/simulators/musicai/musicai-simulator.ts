/**
 * Music.AI simulator: a real HTTP server speaking the Music.AI API under `/v1`
 * (providers.md section 2, seed 001), poll-only like the real service.
 *
 * Choices made where the contract is UNKNOWN (the adapter must stay tolerant of the rest):
 * - Error bodies are `{ message, code }` (section 7) with these statuses: 401 `UNAUTHORIZED`
 *   (missing or wrong `Authorization`; the raw key only, a `Bearer ` prefix is refused),
 *   400 `INVALID_FIELDS` (body not JSON, or name/workflow/params/metadata/copyResultsTo of the
 *   wrong type; bad list/paging query), 400 `INVALID_ID` (job id not a UUID), 404
 *   `WORKFLOW_NOT_FOUND`, 404 `NOT_FOUND`, 422 `INVALID_PARAMS` (an input param the workflow
 *   names, `inputUrl` for most but `Input1` or `Input 1`/`Input 2` for some, missing or not an
 *   http(s) URL; `copyResultsTo` naming an output the workflow lacks, or a target that
 *   is not loopback: the simulator never writes outside the machine), 429 `RATE_LIMITED` with
 *   `Retry-After` (fault knob only; real limits are unknown), 500/502/503 from the 5xx knob.
 * - `GET /v1/job` answers a bare array (section 7), oldest job first, paged by `page`/`size`
 *   (no upper bound on `size`). `POST /v1/job` also accepts an undocumented `batchName` string
 *   so the `batchName` filter can be exercised; the SDK never sends it.
 * - `GET /v1/upload` returns signed URLs back into the simulator (`/storage/uploads/{id}?signature=`),
 *   valid for the simulator's lifetime; PUT and GET there need no API key, only the signature.
 *   Result files live at `/storage/results/{jobId}/{output}.{ext}?signature=` and disappear
 *   with their job. Result URLs are `http://`, so the SDK's `downloadJobResults` (which only
 *   downloads `https://` values) skips them; fetch them directly.
 * - Input check: when the job is created, each input URL naming one of the simulator's upload
 *   slots is inspected in memory (never PUT, empty, or bad signature → `BAD_INPUT`); another
 *   loopback URL is fetched once (non-2xx → `BAD_INPUT`; no answer in 5 s → `TIMEOUT`, and the
 *   job reads STARTED until the probe ends); a non-loopback URL is never fetched and is assumed
 *   readable.
 * - Random failures (`jobFailureRate`) pick `BAD_INPUT`, `TIMEOUT` or `INTERNAL_ERROR` evenly.
 *   A failed job has `result: null`.
 * - `copyResultsTo`: when processing ends each listed output is PUT to its URL; the job reads
 *   STARTED until the PUTs are done, then SUCCEEDED with `"[custom storage]"` in place of those
 *   outputs, or FAILED with `INTERNAL_ERROR` when a target refused the file.
 * - Workflows: five fixed workflows (see `musicai-workflows.ts`); the BPM workflow returns a
 *   scalar `bpm` (a string) and a JSON beat map `{ bpm, beats: [{ time, beat }] }`.
 * - Timing at speed 1: QUEUED 0.5–2 s, then STARTED 2–7 s.
 * - One API key is one application; with a single key, per-key job isolation is moot.
 * - Request faults (latency, 5xx, 429) apply to `/v1` only, after the auth check; the storage
 *   routes never fail. `outcome(id)` is `undefined` while a loopback input is being probed and
 *   turns to `'failed'` if a `copyResultsTo` upload fails; it still answers after a DELETE.
 * - With `stateFile`, jobs, upload slots and the application id survive a restart. The file
 *   holds each job's request, absolute timeline, creation-time decisions (result signature,
 *   BPM, drawn failure), input verdict, finished `copyResultsTo` uploads and deleted flag.
 *   Uploaded bytes are not in the JSON: results do not depend on them, but the download URL
 *   serves them and a later job's input check reads them, so each PUT slot's bytes are a file
 *   in `<stateFile>.uploads/`. A probe or `copyResultsTo` upload unfinished at `close()` runs
 *   again after the restart. Signed URLs carry the simulator's origin: an upload URL handed out
 *   before a restart on another port is no longer recognised as this simulator's.
 */
import type { RunningSimulator, SimulatorOptions } from '../kit/simulator.js';
import { seededUuid } from '../kit/seeded-random.js';
import { startSimulatorServer } from '../kit/simulator.js';
import { musicaiApiRoutes } from './musicai-api-routes.js';
import { musicaiError } from './musicai-errors.js';
import { MusicaiJobStore } from './musicai-job-store.js';
import type { MusicaiStateInput } from './musicai-state.js';
import { MusicaiState } from './musicai-state.js';
import { musicaiStorageRoutes } from './musicai-storage-routes.js';
import { UploadSlots } from './musicai-upload-slots.js';

/** Options of {@link startMusicaiSimulator}. */
export interface MusicaiSimulatorOptions extends SimulatorOptions {
  /** Name of the application behind the API key (`GET /v1/application`, `job.app`). @default 'Simulator Application' */
  applicationName?: string;
  /**
   * How long `POST /v1/job` waits, after the job was created, before it answers: a slow create
   * answer, for tests of create timeouts. Not divided by `speed`.
   * @default 0
   */
  createDelayMs?: number;
}

/** A running Music.AI simulator. */
export interface RunningMusicaiSimulator extends RunningSimulator {
  /** The value for the SDK's `apiEndpoint`: {@link RunningSimulator.url} + `/v1`. */
  readonly apiEndpoint: string;
}

/**
 * Starts a Music.AI simulator on 127.0.0.1.
 *
 * @example
 * const sim = await startMusicaiSimulator({ speed: 200, seed: 1 });
 * const musicAi = new MusicAi({ apiKey: sim.apiKey, apiEndpoint: sim.apiEndpoint });
 * await sim.close();
 */
export function startMusicaiSimulator(options: MusicaiSimulatorOptions = {}): Promise<RunningMusicaiSimulator> {
  return startSimulatorServer(options, {
    provider: 'musicai',
    api: {
      path: '/v1/*',
      keyHeader: 'authorization',
      unauthorized: () => musicaiError(401, 'UNAUTHORIZED', 'Missing or invalid API key'),
      rateLimited: (_c, seconds) => musicaiError(429, 'RATE_LIMITED', 'Too many requests', { 'Retry-After': String(seconds) }),
      serverError: (_c, status) => {
        const code = status === 500 ? 'INTERNAL_ERROR' : status === 502 ? 'BAD_GATEWAY' : 'SERVICE_UNAVAILABLE';
        return musicaiError(status, code, 'The server encountered an error. Please try again.');
      },
    },
    // Request faults draw from their own stream, so that retries never change job decisions.
    randomStreams: ['faults'],
    state: MusicaiState,
    create: async ({ options: o, random, saved, url }) => {
      const appName = options.applicationName ?? 'Simulator Application';
      // Drawn even when a saved id wins, so that a seed draws the same jobs either way.
      const drawnId = seededUuid(random);
      const application = { id: saved?.applicationId ?? drawnId, name: appName };
      const slots = new UploadSlots(url);
      if (saved !== undefined && o.stateFile !== undefined) await slots.restore(uploadsDirOf(o.stateFile), saved.slots);
      const store = new MusicaiJobStore({ random, now: o.now, speed: o.speed, faults: o.faults, slots, baseUrl: url, appName });
      return {
        routes: (app) => {
          app.route('/v1', musicaiApiRoutes({ store, slots, application, createDelayMs: delayOf(options.createDelayMs) }));
          app.route('/', musicaiStorageRoutes(slots, store));
          app.notFound((c) => c.text('Not Found', 404));
        },
        outcome: (id) => store.outcome(id),
        // Restored only once the server listens, so that no input probe starts unless it did.
        resume: () => store.restore(saved?.jobs ?? []),
        save: async (stateFile): Promise<MusicaiStateInput> => ({
          format: 1,
          provider: 'musicai',
          applicationId: application.id,
          slots: await slots.save(uploadsDirOf(stateFile)),
          jobs: store.save(),
        }),
        handle: (endpoint) => ({ apiEndpoint: `${endpoint}/v1` }),
      };
    },
  });
}

/** The folder next to the state file that holds uploaded bytes, one file per upload slot. */
function uploadsDirOf(stateFile: string): string {
  return `${stateFile}.uploads`;
}

/** A delay in ms (finite, not negative), or a RangeError naming the option. */
function delayOf(ms: number | undefined): number {
  const value = ms ?? 0;
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`createDelayMs must be a number of milliseconds ≥ 0, got ${String(ms)}`);
  return value;
}
