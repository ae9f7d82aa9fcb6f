import { z } from 'zod';
import { JobStatus } from './job-status.js';
import { MAX_JSON_DEPTH, tooDeepAt } from './json-depth.js';

/**
 * Any JSON value nested at most {@link MAX_JSON_DEPTH} levels deep: what a provider's result
 * and a job's options may be. The depth is checked first, without recursion, so a value nested
 * thousands of levels deep is an issue at its field (`options.a: nested deeper than 64 levels`)
 * rather than a stack overflow in the recursive check that follows.
 */
export const JsonValue = z
  .unknown()
  .superRefine((value, ctx) => {
    const at = tooDeepAt(value, MAX_JSON_DEPTH);
    if (at !== undefined) ctx.addIssue({ code: 'custom', message: `nested deeper than ${MAX_JSON_DEPTH} levels`, input: value });
  })
  .pipe(z.json());
export type JsonValue = z.infer<typeof JsonValue>;

/** Why a job failed, in the provider's words where it gave any. */
export const JobError = z.object({
  /** A stable, machine-readable code (the provider's own where it has one, e.g. `BAD_INPUT`). */
  code: z.string().min(1),
  /** A sentence for people. */
  message: z.string(),
});
export type JobError = z.infer<typeof JobError>;

/** Where an observation (and so a change) came from; `results` marks the result-copy step. */
export const ObservationSource = z.enum(['submit', 'poll', 'webhook', 'restore', 'cancel', 'results']);
export type ObservationSource = z.infer<typeof ObservationSource>;

/** User metadata kept with a job: flat string, number or boolean values. */
export const JobMetadata = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));
export type JobMetadata = z.infer<typeof JobMetadata>;

/**
 * The copies of a succeeded job's result files kept in the data directory
 * (`<data>/results/<jobId>/<name>`), so they outlive the provider's retention (14 days for
 * Klangio and sunoapi.org). `pending` while they are being fetched, then `complete` or `failed`.
 */
export const JobArtifacts = z.object({
  state: z.enum(['pending', 'complete', 'failed']),
  files: z.array(z.object({ name: z.string().min(1), contentType: z.string(), bytes: z.number().int().nonnegative() })),
  /** Why fetching gave up (`failed` only). */
  error: z.string().nullable(),
});
export type JobArtifacts = z.infer<typeof JobArtifacts>;

/**
 * A pipeline link: this job starts only when job `jobId` has succeeded (and fails with the
 * reason if it does not), taking its input from that job's result.
 */
export const JobLink = z.object({
  /** The job this one waits for. */
  jobId: z.string().min(1),
  /** A result file of that job to use as this job's input (e.g. `guitar.wav`). */
  inputFrom: z.string().min(1).nullable(),
  /** An option to set to that job's external id (sunoapi.org MIDI: `taskId`). */
  externalIdOption: z.string().min(1).nullable(),
  /** A URL input given with the request, kept until the job starts. */
  input: z.object({ type: z.literal('url'), url: z.url() }).nullable(),
  /** When the job was handed to its provider; `null` while it waits. */
  startedAt: z.number().nullable(),
});
export type JobLink = z.infer<typeof JobLink>;

/**
 * What a job was given to work on, as far as it can be shown and resent: a URL, or an upload
 * (its file name, type and size; the bytes are kept in the data directory, not here). Retrying a
 * job ({@link JobSnapshot.retryOf}) resends this.
 */
export const JobInputRecord = z.discriminatedUnion('type', [
  z.object({ type: z.literal('url'), url: z.string().min(1) }),
  z.object({ type: z.literal('upload'), filename: z.string().min(1), contentType: z.string(), bytes: z.number().int().nonnegative() }),
]);
export type JobInputRecord = z.infer<typeof JobInputRecord>;

/**
 * The state of one job at one version. Snapshots are immutable values: every accepted change
 * makes a new one with `version` one higher.
 *
 * Times are epoch milliseconds.
 */
export const JobSnapshot = z.object({
  /** jobstream's own id for the job (`job_…`). */
  id: z.string().min(1),
  /** Provider name, e.g. `klangio`. */
  provider: z.string().min(1),
  /** Job kind within the provider, e.g. `transcription`. */
  kind: z.string().min(1),
  /** The provider's id for the job; `null` until the provider has answered the submission. */
  externalId: z.string().min(1).nullable(),
  name: z.string().nullable(),
  metadata: JobMetadata,
  /** Provider-specific options the job was created with (e.g. `{ model: 'guitar' }`). */
  options: z.record(z.string(), JsonValue),
  status: JobStatus,
  /** The provider's own status string as last accepted, e.g. `IN_PROGRESS`. */
  providerStatus: z.string().nullable(),
  /** Progress from 0 to 1 where the provider reports it; never goes down. */
  progress: z.number().min(0).max(1).nullable(),
  result: JsonValue.nullable(),
  error: JobError.nullable(),
  /** 1 for the first snapshot; one more for every accepted change. */
  version: z.number().int().positive(),
  createdAt: z.number(),
  updatedAt: z.number(),
  /** Where the last accepted change came from. */
  source: ObservationSource,
  /** Local copies of the result files, where the engine keeps them; `null` otherwise. */
  artifacts: JobArtifacts.nullable().default(null),
  /** The job this one waits for, in a pipeline; `null` for a job started at once. */
  after: JobLink.nullable().default(null),
  /**
   * What the provider's adapter kept of the create answer (e.g. Klangio's `gen_*` flags: the
   * result files the provider promised); `null` when it kept nothing. Set once, with the
   * external id.
   */
  providerData: JsonValue.nullable().default(null),
  /**
   * The input the job was submitted with (see {@link JobInputRecord}); `null` for a job without
   * one, an adopted (tracked) job, and records older than the field.
   */
  input: JobInputRecord.nullable().default(null),
  /** The id of the job this one retries (`POST /v1/jobs/:id/retry`); `null` otherwise. */
  retryOf: z.string().min(1).nullable().default(null),
  /**
   * How the job finished, set with its terminal change: when (`at`, the observation's time) and
   * by which source. When a poll finished it and a webhook later reported the same status (or
   * the other way round), `confirmLagMs` is the gap: the detection lag of the slower channel.
   * `null` while the job is unfinished, and for records older than the field.
   */
  finished: z
    .object({ at: z.number(), source: ObservationSource, confirmLagMs: z.number().nonnegative().nullable() })
    .nullable()
    .default(null),
});
export type JobSnapshot = z.infer<typeof JobSnapshot>;

/**
 * What an adapter made of one poll answer or one webhook body, stamped by the engine with its
 * source and the time it was seen. Observations never touch state; the reducer decides.
 */
export const Observation = z.object({
  status: JobStatus,
  providerStatus: z.string().optional(),
  progress: z.number().min(0).max(1).optional(),
  result: JsonValue.optional(),
  error: JobError.optional(),
  externalId: z.string().min(1).optional(),
  /** The adapter's data from the create answer (see `JobSnapshot.providerData`); only with `externalId`. */
  providerData: JsonValue.optional(),
  source: ObservationSource,
  observedAt: z.number(),
});
export type Observation = z.infer<typeof Observation>;
