import { z } from 'zod';
import { JobInput } from '../providers/provider-adapter.js';
import { InvalidRequestError } from './errors.js';
import { JobMetadata, JsonValue } from './job-snapshot.js';

/** A new job for `engine.submit`. */
export const SubmitRequest = z.object({
  provider: z.string().min(1),
  kind: z.string().min(1),
  /** The audio to work on. Optional because some jobs work on an earlier provider task instead (sunoapi). */
  input: JobInput.optional(),
  name: z.string().max(200).optional(),
  metadata: JobMetadata.optional(),
  /** Provider-specific options, e.g. `{ model: 'guitar', outputs: ['mxml'] }` for Klangio. */
  options: z.record(z.string(), JsonValue).optional(),
});
export type SubmitRequest = z.infer<typeof SubmitRequest>;

/** A job submitted elsewhere, for `engine.track` to adopt. */
export const TrackRequest = z.object({
  provider: z.string().min(1),
  kind: z.string().min(1),
  externalId: z.string().min(1).max(200),
  name: z.string().max(200).optional(),
  metadata: JobMetadata.optional(),
  options: z.record(z.string(), JsonValue).optional(),
});
export type TrackRequest = z.infer<typeof TrackRequest>;

/** Validates untrusted input, turning zod issues into an {@link InvalidRequestError}. */
export function parseRequest<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new InvalidRequestError(
    parsed.error.issues.map((issue) => ({ field: issue.path.map(String).join('.'), reason: issue.message })),
  );
}
