import { z } from 'zod';

/**
 * Wire formats of the Music.AI API (`https://api.music.ai/v1`, providers.md section 2).
 *
 * Shared by the simulator (which validates what clients send and builds what it answers)
 * and the adapter (which validates what the provider answers). Answer schemas are tolerant
 * of the documented alternatives (legacy `workflow` object, `jobs` wrapper, scalar result
 * values, null timestamps); request schemas are as strict as the documentation.
 */

/** Job status enum; `SUCCEEDED` and `FAILED` are terminal. */
export const MusicaiJobStatus = z.enum(['QUEUED', 'STARTED', 'SUCCEEDED', 'FAILED']);
export type MusicaiJobStatus = z.infer<typeof MusicaiJobStatus>;

/** Documented `error.code` values of a failed job. */
export const MusicaiJobErrorCode = z.enum(['BAD_INPUT', 'TIMEOUT', 'INTERNAL_ERROR']);
export type MusicaiJobErrorCode = z.infer<typeof MusicaiJobErrorCode>;

/** `error` of a failed job. `code` is kept a free string on the wire: new codes may appear. */
export const MusicaiJobError = z.object({
  code: z.string(),
  title: z.string(),
  message: z.string(),
});
export type MusicaiJobError = z.infer<typeof MusicaiJobError>;

/** Metadata values may be strings, numbers or booleans (the SDK types say string). */
export const MusicaiMetadata = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));
export type MusicaiMetadata = z.infer<typeof MusicaiMetadata>;

/** Body of `POST /job`. */
export const MusicaiCreateJobRequest = z.object({
  /** Arbitrary job name. */
  name: z.string().min(1),
  /** Workflow slug. */
  workflow: z.string().min(1),
  /** Workflow parameters; must match the workflow's input schema (usually `{ inputUrl }`). */
  params: z.record(z.string(), z.unknown()),
  metadata: MusicaiMetadata.optional(),
  /** Output name → upload URL; such outputs then read `"[custom storage]"` in `result`. */
  copyResultsTo: z.record(z.string(), z.string()).optional(),
});
export type MusicaiCreateJobRequest = z.infer<typeof MusicaiCreateJobRequest>;

/** Answer of `POST /job` (HTTP 200, not 201). */
export const MusicaiCreateJobResponse = z.object({ id: z.string() });
export type MusicaiCreateJobResponse = z.infer<typeof MusicaiCreateJobResponse>;

/** Placeholder that replaces a result value routed through `copyResultsTo`. */
export const MUSICAI_CUSTOM_STORAGE = '[custom storage]';

/**
 * The job object of `GET /job/{id}` and of the list. `result` values are file URLs, scalars
 * rendered as strings (e.g. a BPM), or {@link MUSICAI_CUSTOM_STORAGE}.
 */
export const MusicaiJob = z.object({
  id: z.string(),
  app: z.string(),
  name: z.string(),
  batchName: z.string().nullable(),
  metadata: z.record(z.string(), z.unknown()),
  /** A slug today; legacy documentation shows an object `{ id, name }`. */
  workflow: z.union([z.string(), z.object({ id: z.string(), name: z.string() }).loose()]),
  workflowParams: z.record(z.string(), z.unknown()),
  status: MusicaiJobStatus,
  result: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).nullable(),
  error: MusicaiJobError.nullable(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  completedAt: z.string().nullable(),
});
export type MusicaiJob = z.infer<typeof MusicaiJob>;

/** Answer of `GET /job/{id}/status`. */
export const MusicaiJobStatusResponse = z.object({ id: z.string(), status: MusicaiJobStatus });
export type MusicaiJobStatusResponse = z.infer<typeof MusicaiJobStatusResponse>;

/**
 * Answer of `GET /job`: a bare array in the documentation's example (what the simulator
 * sends), or `{ jobs: [...] }` per its field table. Both parse to an array.
 */
export const MusicaiJobList = z.union([
  z.array(MusicaiJob),
  z.object({ jobs: z.array(MusicaiJob) }).transform((wrapped) => wrapped.jobs),
]);
export type MusicaiJobList = z.infer<typeof MusicaiJobList>;

/** Answer of `DELETE /job/{id}`. */
export const MusicaiDeleteJobResponse = z.object({ id: z.string() });
export type MusicaiDeleteJobResponse = z.infer<typeof MusicaiDeleteJobResponse>;

/** One workflow as listed by `GET /workflow`. */
export const MusicaiWorkflow = z.object({
  id: z.string(),
  name: z.string(),
  slug: z.string(),
  description: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type MusicaiWorkflow = z.infer<typeof MusicaiWorkflow>;

/** Answer of `GET /workflow`. */
export const MusicaiWorkflowList = z.object({ workflows: z.array(MusicaiWorkflow) });
export type MusicaiWorkflowList = z.infer<typeof MusicaiWorkflowList>;

/** Answer of `GET /upload`: temporary signed URLs. */
export const MusicaiUploadResponse = z.object({ uploadUrl: z.string(), downloadUrl: z.string() });
export type MusicaiUploadResponse = z.infer<typeof MusicaiUploadResponse>;

/** Answer of `GET /application`. */
export const MusicaiApplication = z.object({ id: z.string(), name: z.string() });
export type MusicaiApplication = z.infer<typeof MusicaiApplication>;

/**
 * Error body. The real shape is UNKNOWN; the SDK reads `message`, the simulator sends
 * `{ message, code }` (providers.md section 7). Tolerant: both fields optional.
 */
export const MusicaiErrorBody = z.object({ message: z.string().optional(), code: z.string().optional() }).loose();
export type MusicaiErrorBody = z.infer<typeof MusicaiErrorBody>;

/** Query of `GET /job`. `status` and `workflow` may repeat. */
export const MusicaiListJobsQuery = z.object({
  status: z.array(MusicaiJobStatus).default([]),
  workflow: z.array(z.string()).default([]),
  batchName: z.string().optional(),
  page: z.coerce.number().int().min(0).default(0),
  size: z.coerce.number().int().min(1).default(100),
});
export type MusicaiListJobsQuery = z.infer<typeof MusicaiListJobsQuery>;

/** Query of `GET /workflow`. */
export const MusicaiListWorkflowsQuery = z.object({
  page: z.coerce.number().int().min(0).default(0),
  size: z.coerce.number().int().min(1).default(100),
});
export type MusicaiListWorkflowsQuery = z.infer<typeof MusicaiListWorkflowsQuery>;
