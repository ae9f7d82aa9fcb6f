import { z } from 'zod';

/**
 * What the Music.AI adapter accepts from the API: tolerant readings of the answers in
 * providers.md section 2. The simulator's schemas in `musicai-schemas.ts` describe what the
 * documentation promises; these accept the documented alternatives as well (ids as numbers,
 * missing or null fields, a legacy `workflow` object, `GET /job` as a bare array or wrapped in
 * `jobs`, result values of any JSON type), so that drift on the wire becomes a translation,
 * not an `invalid-response`. Unknown fields are kept.
 */

/** An id the API may send as a string or a number; always read as a string. */
const MusicaiId = z.union([z.string().min(1), z.number()]).transform(String);

/** Answer of `POST /job`. */
export const MusicaiCreatedAnswer = z.object({ id: MusicaiId });
export type MusicaiCreatedAnswer = z.infer<typeof MusicaiCreatedAnswer>;

/** Answer of `GET /upload`: two temporary signed http(s) URLs. */
export const MusicaiUploadAnswer = z.object({
  uploadUrl: z.url({ protocol: /^https?$/ }),
  downloadUrl: z.url({ protocol: /^https?$/ }),
});
export type MusicaiUploadAnswer = z.infer<typeof MusicaiUploadAnswer>;

const Text = z.union([z.string(), z.number()]).transform(String);

/** `error` of a job: `{ code, title, message }`, any part missing; a bare string is read as the message. */
export const MusicaiJobErrorAnswer = z.union([
  z.object({ code: Text.nullish(), title: Text.nullish(), message: Text.nullish() }).loose(),
  z.string().transform((message) => ({ code: undefined, title: undefined, message })),
]);
export type MusicaiJobErrorAnswer = z.infer<typeof MusicaiJobErrorAnswer>;

/**
 * A job as `GET /job/{id}` (and the list) return it. Only `status` is required; `result` maps
 * output names to any JSON value (file URLs, scalars such as a BPM string, `"[custom storage]"`).
 */
export const MusicaiJobAnswer = z
  .object({
    id: MusicaiId.optional(),
    name: z.string().nullish(),
    /** A slug today; legacy documentation shows `{ id, name }`. */
    workflow: z.union([z.string(), z.object({}).loose()]).nullish(),
    status: z.string(),
    result: z.record(z.string(), z.json()).nullish(),
    error: MusicaiJobErrorAnswer.nullish(),
    createdAt: z.string().nullish(),
    startedAt: z.string().nullish(),
    completedAt: z.string().nullish(),
  })
  .loose();
export type MusicaiJobAnswer = z.infer<typeof MusicaiJobAnswer>;

/** Answer of `GET /job`: a bare array (documentation example) or `{ jobs: [...] }` (its field table). */
export const MusicaiJobListAnswer = z.union([
  z.array(MusicaiJobAnswer),
  z.object({ jobs: z.array(MusicaiJobAnswer) }).transform((wrapped) => wrapped.jobs),
]);
export type MusicaiJobListAnswer = z.infer<typeof MusicaiJobListAnswer>;

/** One workflow of `GET /workflow`; only the slug (what `POST /job` takes) is required. */
export const MusicaiWorkflowAnswer = z
  .object({
    id: MusicaiId.optional(),
    slug: z.string().min(1),
    name: z.string().nullish(),
    description: z.string().nullish(),
    createdAt: z.string().nullish(),
    updatedAt: z.string().nullish(),
  })
  .loose();
export type MusicaiWorkflowAnswer = z.infer<typeof MusicaiWorkflowAnswer>;

/** Answer of `GET /workflow`: `{ workflows: [...] }`, or a bare array. */
export const MusicaiWorkflowListAnswer = z.union([
  z.object({ workflows: z.array(MusicaiWorkflowAnswer) }).transform((wrapped) => wrapped.workflows),
  z.array(MusicaiWorkflowAnswer),
]);
export type MusicaiWorkflowListAnswer = z.infer<typeof MusicaiWorkflowListAnswer>;
