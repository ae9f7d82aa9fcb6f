import { z } from 'zod';
import { JobInput } from './provider-port.js';
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
  /**
   * Start only when this other job has succeeded (fail with its reason if it does not): a
   * pipeline step. `inputFrom` names one of its result files to use as input; `externalIdOption`
   * names an option to set to its external id.
   */
  after: z
    .object({ jobId: z.string().min(1), inputFrom: z.string().min(1).optional(), externalIdOption: z.string().min(1).optional() })
    .optional(),
});
export type SubmitRequest = z.infer<typeof SubmitRequest>;

const FILE_OVER_THE_NETWORK = 'file inputs are not accepted over the network; upload the audio as multipart or give a url';

/**
 * The input a network client may name: a URL only. A `file` input names a path on the server,
 * which would let any client make the server read (and hand to a provider) any file it can open,
 * or block on a FIFO; it is refused with an issue on `input.type`. Uploads reach the engine as
 * file inputs by another way (the multipart route stores them first).
 */
export const NetworkJobInput = z.discriminatedUnion('type', [
  z.object({ type: z.literal('url'), url: z.url() }),
  z.looseObject({ type: z.literal('file') }).transform((_input, ctx) => {
    ctx.addIssue({ code: 'custom', path: ['type'], message: FILE_OVER_THE_NETWORK });
    return z.NEVER;
  }),
]);
export type NetworkJobInput = z.infer<typeof NetworkJobInput>;

/**
 * A new job as a network client may ask for it (the JSON body of `POST /v1/jobs`): a
 * {@link SubmitRequest} whose input is a URL, never a server path ({@link NetworkJobInput}).
 * In-process callers use `engine.submit`, which keeps accepting local files.
 *
 * @example
 * const request = parseRequest(NetworkSubmitRequest, await readJson(c, maxBytes));
 * const job = await engine.submit(request);
 */
export const NetworkSubmitRequest = SubmitRequest.extend({ input: NetworkJobInput.optional() });
export type NetworkSubmitRequest = z.infer<typeof NetworkSubmitRequest>;

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
