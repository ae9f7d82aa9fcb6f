import { FormData } from 'undici';
import { z } from 'zod';
import { ProviderError, type RequestIssue } from '../../streams/errors.js';
import type { JsonValue } from '../../streams/job-snapshot.js';
import type { PollPolicy } from '../../streams/poll-scheduler.js';
import type { CreateJobResult, ProviderAdapter } from '../../streams/provider-port.js';
import { jobOptionsOrReject, scaffoldAdapter, type AdapterOptions, type ProviderProfile } from '../adapter-scaffold.js';
import { callProvider, CreateTimeoutOption, expectShape, joinUrl, jsonOf } from '../provider-http.js';
import type { OutsideUrlOptions } from '../url-guard.js';
import { klangioFiles } from './klangio-adapter-files.js';
import { genFlagsOf, transcriptionFormats } from './klangio-adapter-flags.js';
import { klangioUpload } from './klangio-adapter-input.js';
import { isJsonKind, KLANGIO_KINDS, parseKlangioOptions, type KlangioJobOptions } from './klangio-adapter-options.js';
import { KLANGIO_JSON_ANSWERS, KLANGIO_STEMS } from './klangio-adapter-results.js';
import { KlangioStatusAnswer, klangioState, parseKlangioWebhook } from './klangio-adapter-status.js';

export { KLANGIO_KINDS } from './klangio-adapter-options.js';

/**
 * How Klangio jobs are polled by default. Klangio documents neither a polling interval nor a
 * rate limit (providers.md 1.6); it calls `webhook_url` on status changes, so webhooks are the
 * main channel and polls are a watchdog: every 10 s without webhooks, and 60 s after the last
 * webhook while they arrive. The budget of 10 calls per second per key is our own restraint.
 */
export const KLANGIO_POLL_POLICY: PollPolicy = {
  intervalMs: 10_000,
  watchdog: { quietMs: 60_000 },
  backoff: { initialMs: 1_000, maxMs: 300_000 },
  rate: { limit: 10, windowMs: 1_000 },
  maxInFlight: 8,
};

/** The real Klangio API. */
export const KLANGIO_BASE_URL = 'https://api.klang.io';

/**
 * Options of {@link createKlangioAdapter}. URL inputs are downloaded by jobstream (Klangio only
 * takes uploads), so they go through the guard of {@link OutsideUrlOptions}: only public
 * addresses, unless `allowPrivateUrls`.
 */
export interface KlangioAdapterOptions extends AdapterOptions, OutsideUrlOptions {
  /** The Klangio API key, sent as `kl-api-key`. */
  apiKey: string;
  /** The API's base URL (a simulator's in tests). @default 'https://api.klang.io' */
  baseUrl?: string;
  /**
   * Create path of source-separation jobs. Klangio does not document it (providers.md 1.2); the
   * default is the path the jobstream simulator serves.
   * @default '/source-separation'
   */
  separationPath?: string;
  /**
   * The query parameter that carries a source separation's audio format (`wav` or `mp3`).
   * Undocumented by Klangio; clients in the wild send `output`.
   * @default 'output'
   */
  separationFormatParam?: 'output' | 'format';
  /**
   * Largest input accepted, in bytes, for URL inputs (downloaded first, since Klangio only takes
   * uploads) and for files. A larger input fails the submission with `INPUT_TOO_LARGE`.
   * @default 209715200 (200 MiB)
   */
  maxInputBytes?: number;
  /**
   * How long a create call (the upload) waits for Klangio's answer once the audio is sent; polls
   * keep the dispatcher's short timeout. A create that times out is not repeated: the job fails
   * with `SUBMIT_UNCERTAIN` (Klangio may have made it; adopt it with `track`).
   * @default 300000 (5 minutes, see `CREATE_TIMEOUT_MS`)
   */
  createTimeoutMs?: number;
}

/** Klangio's fixed part and the schemas of its own options (see {@link KlangioAdapterOptions}). */
const KLANGIO = {
  provider: 'klangio',
  title: 'Klangio',
  kinds: KLANGIO_KINDS,
  webhooks: true,
  baseUrl: KLANGIO_BASE_URL,
  pollPolicy: KLANGIO_POLL_POLICY,
  options: {
    separationPath: z.string().regex(/^\/[\w\-./]*$/, 'must be a path starting with "/"').default('/source-separation'),
    maxInputBytes: z.number().int().positive().default(200 * 1024 * 1024),
    separationFormatParam: z.enum(['output', 'format']).default('output'),
    createTimeoutMs: CreateTimeoutOption,
  },
} satisfies ProviderProfile<z.ZodRawShape>;

/**
 * Creates the Klangio adapter (api.klang.io): uploads the audio as multipart `file` (waiting
 * up to `createTimeoutMs` for the answer), polls `GET /job/{id}/status`, reads the thin
 * `{ job_id, status }` webhooks and serves the result files: for a transcription, the formats
 * the create answer's `gen_*` flags promised (kept as the job's `providerData`), which may
 * differ from the requested `outputs`. Klangio has no cancel endpoint, so the adapter has no `cancel`: cancelling a Klangio
 * job only stops tracking it (the job runs on, and may use quota).
 *
 * @throws TypeError when an option is invalid.
 * @example
 * const klangio = createKlangioAdapter({ apiKey: process.env.KLANGIO_KEY!, dispatcher: createDispatcher() });
 * const engine = await createEngine({ providers: [klangio], webhookUrl });
 * await engine.submit({ provider: 'klangio', kind: 'transcription', input: { type: 'file', path: 'song.wav' },
 *   options: { model: 'guitar', outputs: ['mxml', 'gp5'] } });
 */
export function createKlangioAdapter(options: KlangioAdapterOptions): ProviderAdapter {
  const { port, connection, settings, outside, serveFiles } = scaffoldAdapter(KLANGIO, options);
  const { baseUrl, separationPath, maxInputBytes, separationFormatParam, createTimeoutMs } = settings;
  const headers = { 'kl-api-key': connection.apiKey, accept: 'application/json' };
  const files = serveFiles(klangioFiles('midi_quant'));
  const fallbackFiles = serveFiles(klangioFiles('midi_unq'));

  const get = async (path: string, signal: AbortSignal, what: string): Promise<unknown> => {
    const answer = await callProvider('klangio', connection.dispatcher, { method: 'GET', url: joinUrl(baseUrl, path), headers, signal });
    return jsonOf('klangio', answer, what);
  };

  return {
    ...port,

    validate(request): RequestIssue[] {
      const issues: RequestIssue[] = [];
      if (request.input === undefined) issues.push({ field: 'input', reason: 'Klangio jobs need audio: give a file or a URL' });
      else if (request.input.type === 'url' && !/^https?:$/.test(new URL(request.input.url).protocol)) {
        issues.push({ field: 'input.url', reason: 'only http(s) URLs can be downloaded' });
      }
      const opts = parseKlangioOptions(request.kind, request.options);
      if (!opts.ok) issues.push(...opts.issues);
      return issues;
    },

    async create(request, context) {
      const opts = optionsOf(request.kind, request.options);
      if (request.input === undefined) throw new ProviderError('klangio', 'rejected', 'Klangio jobs need an input file or URL');
      const upload = await klangioUpload(request.input, { dispatcher: outside, maxInputBytes, signal: context.signal });
      const form = new FormData();
      form.append('file', upload.blob, upload.filename);
      if (opts.kind === 'transcription') for (const output of opts.outputs) form.append('outputs', output);
      const path = opts.kind === 'source-separation' ? separationPath : `/${opts.kind}`;
      const url = joinUrl(baseUrl, path, { ...queryOf(opts, separationFormatParam), webhook_url: request.webhookUrl });
      const answer = await callProvider('klangio', connection.dispatcher, {
        method: 'POST',
        url,
        headers,
        body: form,
        signal: context.signal,
        headersTimeoutMs: createTimeoutMs,
      });
      const created = expectShape('klangio', CreateAnswer, jsonOf('klangio', answer, `POST ${path}`), `POST ${path}`);
      const externalId = created.job_id ?? created.id;
      if (externalId === undefined) throw new ProviderError('klangio', 'invalid-response', `POST ${path}: the answer has no job_id`);
      // The flags say which files the job will have (they may differ from `outputs`): kept with it.
      const flags = opts.kind === 'transcription' ? genFlagsOf(created) : undefined;
      const result: CreateJobResult = flags === undefined ? { externalId } : { externalId, providerData: flags };
      if (created.status === undefined) return result;
      const state = klangioState({ status: created.status });
      // A create answer carries no result, so only a non-terminal status is worth reporting.
      return state.type === 'pending' ? { ...result, report: state.report } : result;
    },

    async poll(job, context) {
      const id = encodeURIComponent(job.externalId);
      const what = `GET /job/${job.externalId}/status`;
      const state = klangioState(expectShape('klangio', KlangioStatusAnswer, await get(`job/${id}/status`, context.signal, what), what));
      if (state.type !== 'completed') return state.report;
      let result: JsonValue;
      if (isJsonKind(job.kind)) {
        const jsonWhat = `GET /job/${job.externalId}/json`;
        result = expectShape('klangio', KLANGIO_JSON_ANSWERS[job.kind], await get(`job/${id}/json`, context.signal, jsonWhat), jsonWhat);
      } else {
        result = resultOf(optionsOf(job.kind, job.options), job.providerData);
      }
      return { status: 'succeeded', providerStatus: state.providerStatus, result };
    },

    parseWebhook: parseKlangioWebhook,

    resultFiles: files.resultFiles,
    async download(job, result, name, context) {
      try {
        return await files.download(job, result, name, context);
      } catch (error) {
        // Klangio's docs name the quantized MIDI both `midi_quant` and `midi_unq`: on a 404 for
        // the one, the other is tried.
        if (name !== QUANTIZED_MIDI_FILE || !(error instanceof ProviderError) || error.status !== 404) throw error;
        return fallbackFiles.download(job, result, name, context);
      }
    },
  };
}

/** Our name of the quantized MIDI file (see `QUANTIZED_MIDI_PATHS`). */
const QUANTIZED_MIDI_FILE = 'quantized.mid';

const JobId = z.union([z.string().trim().min(1), z.number().int().nonnegative().transform(String)]);

/** A create answer: `job_id` (also accepted: `id`), maybe a status, and the `gen_*` flags (read by `genFlagsOf`); dates are not needed. */
const CreateAnswer = z.looseObject({ job_id: JobId.optional(), id: JobId.optional(), status: z.string().optional() });

/** A job's options with defaults, or `rejected` (only reachable for jobs adopted with bad options). */
function optionsOf(kind: string, options: unknown): KlangioJobOptions {
  return jobOptionsOrReject('klangio', parseKlangioOptions(kind, options));
}

/** The query string of a create call (everything but `webhook_url`). */
function queryOf(opts: KlangioJobOptions, formatParam: 'output' | 'format'): Record<string, string | undefined> {
  switch (opts.kind) {
    case 'transcription':
      return { model: opts.model, title: opts.title, composer: opts.composer };
    case 'chord-recognition':
    case 'chord-recognition-extended':
      return { vocabulary: opts.vocabulary };
    case 'source-separation':
      return { model: opts.model, [formatParam]: opts.format };
    default:
      return {};
  }
}

/**
 * The result of a completed job whose outputs are files: what can be fetched. A transcription's
 * formats follow the create answer's `gen_*` flags where the job kept them (`providerData`).
 */
function resultOf(opts: KlangioJobOptions, providerData: JsonValue | undefined): JsonValue {
  switch (opts.kind) {
    case 'transcription':
      return { formats: transcriptionFormats(opts.outputs, providerData) };
    case 'source-separation':
      return { model: opts.model, format: opts.format, stems: KLANGIO_STEMS[opts.model] };
    default:
      throw new ProviderError('klangio', 'rejected', `job kind ${opts.kind} has no file result`);
  }
}
