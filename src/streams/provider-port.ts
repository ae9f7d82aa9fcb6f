import type { Readable } from 'node:stream';
import { z } from 'zod';
import type { RequestIssue } from './errors.js';
import type { JobError, JobMetadata, JsonValue } from './job-snapshot.js';
import type { JobStatus } from './job-status.js';
import type { PollPolicy } from './poll-scheduler.js';

/** Where a job's audio comes from. */
export const JobInput = z.discriminatedUnion('type', [
  /** A URL the provider can fetch (or, for providers that only take uploads, that we fetch). */
  z.object({ type: z.literal('url'), url: z.url() }),
  /** A local file, uploaded to the provider. */
  z.object({
    type: z.literal('file'),
    path: z.string().min(1),
    filename: z.string().min(1).optional(),
    contentType: z.string().min(1).optional(),
  }),
]);
export type JobInput = z.infer<typeof JobInput>;

/**
 * What an adapter made of one provider answer: the normalised status plus whatever it said.
 * The engine stamps it with its source and time and hands it to the reducer.
 */
export interface ProviderReport {
  status: JobStatus;
  /** The provider's own status string, verbatim. */
  providerStatus: string;
  progress?: number;
  result?: JsonValue;
  error?: JobError;
}

/** A job as the provider knows it. */
export interface ProviderJobRef {
  externalId: string;
  kind: string;
  options: Record<string, JsonValue>;
  /**
   * What the adapter kept of the provider's create answer ({@link CreateJobResult.providerData}),
   * as stored with the job, so also after a restart. Absent for an adopted job (`track`) and for
   * one recorded before the adapter kept anything: an adapter must cope without it.
   */
  providerData?: JsonValue | undefined;
}

/** Everything an adapter needs to create a job. */
export interface CreateJobRequest {
  kind: string;
  /** Absent for jobs that work on an earlier provider task; `validate` says when it is required. */
  input: JobInput | undefined;
  name: string | null;
  metadata: JobMetadata;
  options: Record<string, JsonValue>;
  /** Where the provider should call back; absent when webhooks are not in use. */
  webhookUrl?: string | undefined;
}

/** The provider's answer to a create call. */
export interface CreateJobResult {
  externalId: string;
  /** The state the provider reported on creation, if any (defaults to queued). */
  report?: ProviderReport | undefined;
  /**
   * Facts of the create answer the adapter needs later and cannot ask for again (Klangio: the
   * `gen_*` flags that say which result files the job will have). The engine stores them with
   * the job (`JobSnapshot.providerData`) and hands them back in every {@link ProviderJobRef};
   * adapters hold no state. Small JSON only.
   */
  providerData?: JsonValue | undefined;
}

/** One webhook delivery as received. */
export interface WebhookDelivery {
  /** The parsed JSON body (the server parses; adapters never see raw bytes). */
  body: unknown;
  headers: Readonly<Record<string, string | undefined>>;
  /**
   * When the engine received it (epoch ms, the engine's clock), for adapters that check a
   * signed timestamp's age; `parseWebhook` stays pure. Set by the engine; may be absent when a
   * delivery is built by hand.
   */
  receivedAt?: number | undefined;
}

/** What an adapter made of a webhook body. */
export interface ParsedWebhook {
  /** The provider's job id as found in the body, checked against the job the token belongs to. */
  externalId?: string | undefined;
  /** The state the body reports; absent when the body is only a hint. */
  report?: ProviderReport | undefined;
  /** Ask for a poll soon, e.g. because the body is too thin to trust or lacks the result. */
  confirm?: boolean | undefined;
  /**
   * The body is of a shape the adapter does not fully recognise (an unknown field layout or
   * code), so it reports nothing and asks for `confirm`; for a metric of such deliveries.
   */
  unrecognised?: boolean | undefined;
}

/** A file a succeeded job offers for download. */
export interface ResultFile {
  /** A safe file name, unique within the job: `score.musicxml`, `vocals.wav`, `chords.json`. */
  name: string;
  contentType: string;
}

/** A result file being downloaded. */
export interface ResultDownload {
  contentType: string;
  /** The bytes, streamed; the caller consumes or destroys it. */
  body: Readable;
}

/** Per-call context. */
export interface CallContext {
  /** Aborted when the engine closes. */
  signal: AbortSignal;
}

/**
 * What a provider adapter does, and does not, promise. Adapters translate; they hold no state.
 *
 * - `create`, `poll` and `cancel` talk to the provider and throw `ProviderError` with the
 *   right `failure` (rate-limited with `retryAfterMs`, unavailable, unauthorized, rejected,
 *   invalid-response). Anything else thrown counts as a failed poll of that job.
 * - A report with a terminal status is final: it must carry the result (or the error). When a
 *   provider signals completion without the data, report the provider status at `running` rank
 *   and set `confirm` so the engine polls for the rest.
 * - `parseWebhook` is pure: no I/O. It throws `InvalidWebhookError` naming the problem, or
 *   `WebhookSignatureError` for a delivery that fails the provider's signature check.
 */
export interface ProviderAdapter {
  /** The provider's name, as used in URLs and configuration: `klangio`, `musicai`, … */
  readonly provider: string;
  /** Job kinds this provider runs. */
  readonly kinds: readonly string[];
  /** Whether the provider calls back (then polling is only a watchdog). */
  readonly webhooks: boolean;
  /**
   * Identifies the credential (e.g. a hash of the API key), so jobs of one key share one rate
   * budget. Never the key itself.
   */
  readonly credentialId: string;
  /** How jobs of this provider are polled. */
  readonly pollPolicy: PollPolicy;
  /** Checks provider-specific options before anything is recorded; returns the problems found. */
  validate?(request: Omit<CreateJobRequest, 'webhookUrl'>): RequestIssue[];
  create(request: CreateJobRequest, context: CallContext): Promise<CreateJobResult>;
  poll(job: ProviderJobRef, context: CallContext): Promise<ProviderReport>;
  parseWebhook?(delivery: WebhookDelivery): ParsedWebhook;
  /**
   * Cancels (or deletes) the job at the provider, where its API can. Without it a cancel only
   * stops tracking: the job is `canceled` here with provider status `tracking-stopped`, and may
   * still run (and be billed) at the provider. See {@link CancelMode}.
   */
  cancel?(job: ProviderJobRef, context: CallContext): Promise<void>;
  /** The files a succeeded job's result offers. Pure: derived from the job and its result. */
  resultFiles?(job: ProviderJobRef, result: JsonValue): ResultFile[];
  /** Downloads one of {@link resultFiles}; rejects with `ProviderError` (`rejected` for an unknown name). */
  download?(job: ProviderJobRef, result: JsonValue, name: string, context: CallContext): Promise<ResultDownload>;
}

/**
 * What cancelling a job of a provider does: `provider`, the provider's API cancels or deletes
 * the job (Music.AI); `tracking-only`, the provider has no cancel (Klangio, Camb.ai,
 * sunoapi.org), so jobstream only stops following the job, which may still run and be billed.
 */
export type CancelMode = 'provider' | 'tracking-only';

/** The {@link CancelMode} of an adapter: `provider` when it has `cancel`. */
export function cancelModeOf(adapter: Pick<ProviderAdapter, 'cancel'>): CancelMode {
  return adapter.cancel === undefined ? 'tracking-only' : 'provider';
}

/** The provider status of a job canceled where its provider cannot cancel (see {@link CancelMode}). */
export const TRACKING_STOPPED = 'tracking-stopped';
