import { z } from 'zod';

/**
 * What the Camb.ai adapter accepts from the API and keeps as a job's result: tolerant readings
 * of providers.md section 4. The simulator's schemas in `cambai-schemas.ts` describe what the
 * SDK types promise; these also take the documented alternatives (results as a bare array,
 * `message` as an object, nullable ids) and harmless drift (numbers sent as numeric strings,
 * a missing speaker label).
 */

/** A number, or a numeric string as some JSON encoders send it. */
const Seconds = z.union([z.number(), z.string().trim().regex(/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i).transform(Number)]).pipe(z.number().finite());

/** A run id: an integer, or its decimal string. */
export const CambaiRunId = z.union([z.number().int().nonnegative(), z.string().trim().regex(/^\d+$/).transform(Number)]);

/** Answer of `POST /transcribe`; `task_id` is typed nullable by the SDK. */
export const CambaiCreatedAnswer = z.object({
  task_id: z.union([z.string(), z.number().transform(String)]).nullish(),
});
export type CambaiCreatedAnswer = z.infer<typeof CambaiCreatedAnswer>;

/**
 * Answer of `GET /transcribe/{task_id}`. `status` stays a free string: the SDK enum lacks
 * statuses the guides document, and more may come.
 */
export const CambaiStatusAnswer = z
  .object({
    status: z.string(),
    run_id: CambaiRunId.nullish(),
    exception_reason: z.string().nullish(),
    message: z.unknown().optional(),
  })
  .loose();
export type CambaiStatusAnswer = z.infer<typeof CambaiStatusAnswer>;

/** One transcript segment as the adapter keeps it; times in seconds. */
export const CambaiSegment = z.object({
  start: Seconds,
  end: Seconds,
  text: z.string(),
  speaker: z
    .union([z.string(), z.number().transform(String)])
    .nullish()
    .transform((speaker) => speaker ?? ''),
});
export type CambaiSegment = z.infer<typeof CambaiSegment>;

/** Answer of `GET /transcription-result/{run_id}`: `{ transcript: [...] }` (SDK) or a bare array (docs). */
export const CambaiTranscriptAnswer = z.union([
  z.object({ transcript: z.array(CambaiSegment) }).transform((wrapped) => wrapped.transcript),
  z.array(CambaiSegment),
]);
export type CambaiTranscriptAnswer = z.infer<typeof CambaiTranscriptAnswer>;

/** The result a succeeded transcription job keeps: the run and its segments. */
export const CambaiTranscriptionResult = z.object({
  runId: z.number().int(),
  transcript: z.array(CambaiSegment),
});
export type CambaiTranscriptionResult = z.infer<typeof CambaiTranscriptionResult>;
