import { z } from 'zod';
import { ProviderError, type RequestIssue } from '../../streams/errors.js';
import type { PollPolicy } from '../../streams/poll-scheduler.js';
import type { ProviderAdapter } from '../../streams/provider-port.js';
import { jobOptionsOrReject, scaffoldAdapter, type AdapterOptions, type ProviderProfile } from '../adapter-scaffold.js';
import { expectShape } from '../provider-http.js';
import { callSunoapi } from './sunoapi-adapter-envelope.js';
import { SUNOAPI_FILES } from './sunoapi-adapter-files.js';
import { parseSunoapiOptions, SUNOAPI_KINDS, type SunoapiJobOptions } from './sunoapi-adapter-options.js';
import { midiReport, separationReport } from './sunoapi-adapter-records.js';
import { parseSunoapiWebhook } from './sunoapi-adapter-webhook.js';
import type { OutsideUrlOptions } from '../url-guard.js';

export { SUNOAPI_KINDS } from './sunoapi-adapter-options.js';
export { SUNOAPI_WEBHOOK_TOLERANCE_MS } from './sunoapi-webhook-signature.js';

/**
 * How sunoapi.org tasks are polled by default. The docs advise polling every 10–30 s; callbacks
 * carry the whole outcome, so polls are a watchdog (60 s quiet). The budget of 20 requests per
 * 10 s per key is the documented limit as a third-party summary gives it (code 430 beyond it;
 * the official page was not retrieved).
 */
export const SUNOAPI_POLL_POLICY: PollPolicy = {
  intervalMs: 15_000,
  watchdog: { quietMs: 60_000 },
  backoff: { initialMs: 1_000, maxMs: 300_000 },
  rate: { limit: 20, windowMs: 10_000 },
  maxInFlight: 4,
};

/** The real sunoapi.org API (resellers such as api.kie.ai serve the same API under their own base URL). */
export const SUNOAPI_BASE_URL = 'https://api.sunoapi.org';

/**
 * Options of {@link createSunoapiAdapter}. Result URLs (from records) not on the base URL's
 * origin are downloaded through the guard of {@link OutsideUrlOptions}: only public addresses,
 * unless `allowPrivateUrls`.
 */
export interface SunoapiAdapterOptions extends AdapterOptions, OutsideUrlOptions {
  /** The sunoapi.org API key, sent as `Authorization: Bearer`. */
  apiKey: string;
  /** The API's base URL (a reseller's, or a simulator's in tests). @default 'https://api.sunoapi.org' */
  baseUrl?: string;
  /**
   * kie.ai's webhook HMAC key (its settings page's `webhookHmacKey`; env `SUNOAPI_WEBHOOK_KEY`).
   * When set, every callback must carry `X-Webhook-Timestamp` (Unix seconds, within
   * {@link SUNOAPI_WEBHOOK_TOLERANCE_MS} of its arrival) and `X-Webhook-Signature` =
   * base64(HMAC-SHA256(taskId + "." + timestamp, key)); one that does not is refused with
   * `WEBHOOK_SIGNATURE_INVALID` (HTTP 401) and changes nothing. Leave it unset for sunoapi.org,
   * which documents no signature.
   * @default none (unsigned callbacks are accepted)
   */
  webhookKey?: string;
}

/** sunoapi.org's fixed part (see {@link SunoapiAdapterOptions}). */
const SUNOAPI = {
  provider: 'sunoapi',
  title: 'sunoapi.org',
  kinds: SUNOAPI_KINDS,
  webhooks: true,
  baseUrl: SUNOAPI_BASE_URL,
  pollPolicy: SUNOAPI_POLL_POLICY,
  options: {
    webhookKey: z
      .string({ error: 'must be a string' })
      .refine((key) => key.trim() !== '', 'must be a non-empty string (leave it out to accept unsigned callbacks)')
      .optional(),
  },
} satisfies ProviderProfile<{ webhookKey: z.ZodOptional<z.ZodString> }>;

/** Create answer `data`: the new task id in `taskId` (also accepted: `task_id`). */
const CreateData = z
  .looseObject({ taskId: z.string().min(1).optional(), task_id: z.string().min(1).optional() })
  .transform((d) => d.taskId ?? d.task_id)
  .pipe(z.string({ error: 'data has no taskId' }));

const PATHS = {
  'vocal-separation': { create: '/api/v1/vocal-removal/generate', record: '/api/v1/vocal-removal/record-info' },
  midi: { create: '/api/v1/midi/generate', record: '/api/v1/midi/record-info' },
} as const;

/**
 * Creates the sunoapi.org adapter: vocal separation of a Suno track, then MIDI from the
 * separation. Jobs take no audio input, only earlier task ids in `options`. sunoapi.org requires
 * a `callBackUrl` on every task, so the engine must be configured with `webhookUrl`; without
 * one, the submitted job fails with `CALLBACK_URL_REQUIRED` without a call to sunoapi.org. sunoapi.org has
 * no cancel endpoint, so the adapter has no `cancel`.
 *
 * @throws TypeError when an option is invalid.
 * @example
 * const suno = createSunoapiAdapter({ apiKey: process.env.SUNOAPI_KEY!, dispatcher: createDispatcher() });
 * const engine = await createEngine({ providers: [suno], webhookUrl });
 * const split = await engine.submit({ provider: 'sunoapi', kind: 'vocal-separation', options: { taskId, audioId } });
 * const done = await engine.waitFor(split.id);
 * await engine.submit({ provider: 'sunoapi', kind: 'midi', options: { taskId: done.externalId! } });
 */
export function createSunoapiAdapter(options: SunoapiAdapterOptions): ProviderAdapter {
  const { port, connection, serveFiles, settings } = scaffoldAdapter(SUNOAPI, options);
  const webhookOptions = { webhookKey: settings.webhookKey };

  return {
    ...port,

    validate(request): RequestIssue[] {
      const issues: RequestIssue[] = [];
      if (request.input !== undefined) {
        issues.push({ field: 'input', reason: 'sunoapi.org jobs take no audio input: name the earlier Suno task in options.taskId' });
      }
      const opts = parseSunoapiOptions(request.kind, request.options);
      if (!opts.ok) issues.push(...opts.issues);
      return issues;
    },

    async create(request, context) {
      const opts = optionsOf(request.kind, request.options);
      if (request.webhookUrl === undefined) {
        throw new ProviderError(
          'sunoapi',
          'rejected',
          'sunoapi.org requires a callBackUrl on every task: configure the engine with webhookUrl (and a webhook intake it can reach)',
          { providerCode: 'CALLBACK_URL_REQUIRED' },
        );
      }
      const path = PATHS[opts.kind].create;
      const json =
        opts.kind === 'vocal-separation'
          ? { taskId: opts.taskId, audioId: opts.audioId, type: opts.type, callBackUrl: request.webhookUrl }
          : { taskId: opts.taskId, callBackUrl: request.webhookUrl, ...(opts.audioId === undefined ? {} : { audioId: opts.audioId }) };
      const data = await callSunoapi(connection, { method: 'POST', path, json, signal: context.signal });
      return { externalId: expectShape('sunoapi', CreateData, data, `POST ${path}`) };
    },

    async poll(job, context) {
      const kind = kindOf(job.kind);
      const path = PATHS[kind].record;
      const data = await callSunoapi(connection, { method: 'GET', path, query: { taskId: job.externalId }, signal: context.signal });
      const what = `GET ${path}?taskId=${job.externalId}`;
      return kind === 'vocal-separation' ? separationReport(data, what) : midiReport(data, what);
    },

    parseWebhook: (delivery) => parseSunoapiWebhook(delivery, webhookOptions),

    ...serveFiles(SUNOAPI_FILES),
  };
}

function optionsOf(kind: string, options: unknown): SunoapiJobOptions {
  return jobOptionsOrReject('sunoapi', parseSunoapiOptions(kind, options));
}

function kindOf(kind: string): keyof typeof PATHS {
  if (kind === 'vocal-separation' || kind === 'midi') return kind;
  throw new ProviderError('sunoapi', 'rejected', `sunoapi has no job kind "${kind}"`);
}
