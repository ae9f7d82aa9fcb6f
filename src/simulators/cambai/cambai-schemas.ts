import { z } from 'zod';

/**
 * Wire formats of Camb.ai transcription (`https://client.camb.ai/apis`, providers.md
 * section 4, seed 003, `@camb-ai/sdk` 1.0.1 types).
 *
 * Shared by the simulator and the adapter. Answer schemas are tolerant of the documented
 * alternatives: statuses beyond the SDK enum, `message` as string or object, results as
 * `{ transcript }` or a bare array.
 */

/**
 * Known task statuses. The SDK enum lists only PENDING/SUCCESS/ERROR; the "tasks and runs"
 * guide adds TIMEOUT and PAYMENT_REQUIRED. Everything but PENDING is terminal.
 */
export const CambaiTaskStatus = z.enum(['PENDING', 'SUCCESS', 'ERROR', 'TIMEOUT', 'PAYMENT_REQUIRED']);
export type CambaiTaskStatus = z.infer<typeof CambaiTaskStatus>;

/** `exception_reason` values listed by the SDK; the field may also hold any other string. */
export const CambaiExceptionReason = z.enum([
  'HARMFUL_CONTENT_DETECTED',
  'VOICE_CONVERSION_ERROR',
  'PROCESSING_ERROR',
  'SOURCE_TOO_LONG',
  'SOURCE_TOO_LARGE',
  'SOURCE_TYPE_NOT_SUPPORTED',
  'ERROR_DOWNLOADING_SOURCE',
  'TOO_MANY_GDRIVE_REQUESTS',
  'SOURCE_BLOCKED_IN_REGION',
  'SOURCE_IS_AGE_RESTRICTED',
  'SOURCE_NOT_FOUND',
  'MISMATCHED_SOURCE_CODEC',
  'CONTENT_DOES_NOT_MATCH_EXTENSION',
  'INVALID_SOURCE_DATA',
  'VIDEO_DOES_NOT_HAVE_AUDIO_STREAMS',
  'MASTERING_OUT_OF_RANGE',
  'INVALID_AUDIO_TRACKS_SELECTION',
  'PAYMENT_REQUIRED',
  'FORBIDDEN',
  'INTERNAL_ERROR',
  'NONE',
]);
export type CambaiExceptionReason = z.infer<typeof CambaiExceptionReason>;

/** Answer of `POST /transcribe`. */
export const CambaiCreateTranscriptionResponse = z.object({ task_id: z.string().nullable() });
export type CambaiCreateTranscriptionResponse = z.infer<typeof CambaiCreateTranscriptionResponse>;

/**
 * Answer of `GET /transcribe/{task_id}`. `status` stays a free string so an unknown status
 * parses (the adapter treats it as a failure); `run_id` is an integer once SUCCESS.
 */
export const CambaiTaskStatusResponse = z.object({
  status: z.string(),
  run_id: z.number().int().nullable().optional(),
  exception_reason: z.string().nullable().optional(),
  message: z.union([z.string(), z.record(z.string(), z.unknown())]).nullable().optional(),
});
export type CambaiTaskStatusResponse = z.infer<typeof CambaiTaskStatusResponse>;

/** One transcript segment; times in seconds. */
export const CambaiTranscriptSegment = z.object({
  start: z.number(),
  end: z.number(),
  text: z.string(),
  speaker: z.string(),
});
export type CambaiTranscriptSegment = z.infer<typeof CambaiTranscriptSegment>;

/**
 * Answer of `GET /transcription-result/{run_id}` with raw data: `{ transcript: [...] }` per the
 * SDK (what the simulator sends), or a bare array per the documentation example. Both parse
 * to `{ transcript }`.
 */
export const CambaiTranscriptionResult = z.union([
  z.object({ transcript: z.array(CambaiTranscriptSegment) }),
  z.array(CambaiTranscriptSegment).transform((transcript) => ({ transcript })),
]);
export type CambaiTranscriptionResult = z.infer<typeof CambaiTranscriptionResult>;

/** Answer of `GET /transcription-result/{run_id}?data_type=file`: a temporary download URL. */
export const CambaiTranscriptFile = z.object({ file_url: z.string(), expiry: z.string() });
export type CambaiTranscriptFile = z.infer<typeof CambaiTranscriptFile>;

/** `data_type` query values: `raw_data` (SDK enum) and `json` (documentation page) mean the same. */
export const CambaiTranscriptDataType = z.enum(['raw_data', 'json', 'file']);
export type CambaiTranscriptDataType = z.infer<typeof CambaiTranscriptDataType>;

/** `format_type` query values (for `data_type=file`). */
export const CambaiTranscriptFormat = z.enum(['txt', 'srt', 'vtt']);
export type CambaiTranscriptFormat = z.infer<typeof CambaiTranscriptFormat>;

/** Body of `POST /transcription-results`. */
export const CambaiRunIdsRequest = z.object({ run_ids: z.array(z.number().int()) });
export type CambaiRunIdsRequest = z.infer<typeof CambaiRunIdsRequest>;

/** Answer of `POST /transcription-results`: results keyed by run id as a **string**. */
export const CambaiTranscriptionResults = z.record(z.string(), CambaiTranscriptionResult);
export type CambaiTranscriptionResults = z.infer<typeof CambaiTranscriptionResults>;

/** One entry of `GET /source-languages`. */
export const CambaiSourceLanguage = z.object({ id: z.number().int(), language: z.string(), short_name: z.string() });
export type CambaiSourceLanguage = z.infer<typeof CambaiSourceLanguage>;

/** Answer of `GET /source-languages`. */
export const CambaiSourceLanguages = z.array(CambaiSourceLanguage);
export type CambaiSourceLanguages = z.infer<typeof CambaiSourceLanguages>;

/** One FastAPI validation issue. */
export const CambaiValidationIssue = z.object({
  loc: z.array(z.union([z.string(), z.number()])),
  msg: z.string(),
  type: z.string(),
  input: z.unknown().optional(),
  ctx: z.record(z.string(), z.unknown()).optional(),
});
export type CambaiValidationIssue = z.infer<typeof CambaiValidationIssue>;

/** 422 body (FastAPI `HTTPValidationError`). */
export const CambaiValidationError = z.object({ detail: z.array(CambaiValidationIssue) });
export type CambaiValidationError = z.infer<typeof CambaiValidationError>;

/** Other error bodies (FastAPI `HTTPException`): `{ detail: "..." }`. */
export const CambaiErrorDetail = z.object({ detail: z.string() });
export type CambaiErrorDetail = z.infer<typeof CambaiErrorDetail>;
