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
}

/** One webhook delivery as received. */
export interface WebhookDelivery {
  /** The parsed JSON body (the server parses; adapters never see raw bytes). */
  body: unknown;
  headers: Readonly<Record<string, string | undefined>>;
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
 * - `parseWebhook` is pure: no I/O. It throws `InvalidWebhookError` naming the problem.
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
  /** Cancels at the provider, where it can; without it, a cancel only stops tracking. */
  cancel?(job: ProviderJobRef, context: CallContext): Promise<void>;
  /** The files a succeeded job's result offers. Pure: derived from the job and its result. */
  resultFiles?(job: ProviderJobRef, result: JsonValue): ResultFile[];
  /** Downloads one of {@link resultFiles}; rejects with `ProviderError` (`rejected` for an unknown name). */
  download?(job: ProviderJobRef, result: JsonValue, name: string, context: CallContext): Promise<ResultDownload>;
}
