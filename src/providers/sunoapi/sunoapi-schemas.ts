import { z } from 'zod';

/**
 * Wire formats of the sunoapi.org Suno API (vocal removal and MIDI generation), per
 * providers.md section 3 and the vocal-separation pages of docs.sunoapi.org. Shared by the
 * simulator and the adapter; the schemas accept the documented alternatives.
 */

/** Every answer: `{ code, msg, data }`, the business code in the body. */
export const SunoEnvelope = z.looseObject({ code: z.number().int(), msg: z.string().optional(), data: z.unknown() });
export type SunoEnvelope = z.infer<typeof SunoEnvelope>;

/** Separation type. */
export const SunoSeparationType = z.enum(['separate_vocal', 'split_stem']);
export type SunoSeparationType = z.infer<typeof SunoSeparationType>;

/** `POST /api/v1/vocal-removal/generate` body. */
export const SunoVocalRemovalRequest = z.object({
  taskId: z.string().min(1),
  audioId: z.string().min(1),
  type: SunoSeparationType.default('separate_vocal'),
  callBackUrl: z.string().min(1),
});
export type SunoVocalRemovalRequest = z.infer<typeof SunoVocalRemovalRequest>;

/** `POST /api/v1/midi/generate` body. */
export const SunoMidiRequest = z.object({
  taskId: z.string().min(1),
  callBackUrl: z.string().min(1),
  audioId: z.string().min(1).optional(),
});
export type SunoMidiRequest = z.infer<typeof SunoMidiRequest>;

/** Create answer data: the new task id (adapters also accept `task_id`). */
export const SunoCreateData = z.union([z.object({ taskId: z.string() }), z.object({ task_id: z.string() })]);
export type SunoCreateData = z.infer<typeof SunoCreateData>;

/** Separation record status (`successFlag` of the vocal-removal record, a string). */
export const SunoSeparationStatus = z.enum(['PENDING', 'SUCCESS', 'CREATE_TASK_FAILED', 'GENERATE_AUDIO_FAILED', 'CALLBACK_EXCEPTION']);
export type SunoSeparationStatus = z.infer<typeof SunoSeparationStatus>;

const url = z.string().nullable();

/** The URL fields of a separation record (`separate_vocal` fills origin/instrumental/vocal, `split_stem` the stems). */
export const SunoSeparationUrls = z.looseObject({
  originUrl: url,
  instrumentalUrl: url,
  vocalUrl: url,
  backingVocalsUrl: url,
  drumsUrl: url,
  bassUrl: url,
  guitarUrl: url,
  keyboardUrl: url,
  percussionUrl: url,
  stringsUrl: url,
  synthUrl: url,
  fxUrl: url,
  brassUrl: url,
  woodwindsUrl: url,
  originData: z
    .array(z.looseObject({ id: z.string(), audio_url: z.string(), stem_type_group_name: z.string(), duration: z.number() }))
    .optional(),
});
export type SunoSeparationUrls = z.infer<typeof SunoSeparationUrls>;

/** `GET /api/v1/vocal-removal/record-info` data. */
export const SunoSeparationRecord = z.looseObject({
  taskId: z.string(),
  musicId: z.string().optional(),
  musicIndex: z.number().optional(),
  audioId: z.string().optional(),
  callbackUrl: z.string().nullable().optional(),
  createTime: z.number(),
  completeTime: z.number().nullable(),
  response: SunoSeparationUrls.nullable(),
  successFlag: SunoSeparationStatus,
  errorCode: z.union([z.number(), z.string()]).nullable(),
  errorMessage: z.string().nullable(),
});
export type SunoSeparationRecord = z.infer<typeof SunoSeparationRecord>;

/** Separation callback body; `vocal_removal_info` holds snake_case URLs (null on failure). */
export const SunoSeparationCallback = z.looseObject({
  code: z.number().int(),
  msg: z.string(),
  data: z.looseObject({
    task_id: z.string(),
    vocal_removal_info: z.record(z.string(), z.string().nullable()).nullable().optional(),
  }),
});
export type SunoSeparationCallback = z.infer<typeof SunoSeparationCallback>;

/** A time that may arrive as a number or a numeric string. */
export const SunoTime = z.union([z.number(), z.string().regex(/^-?\d+(\.\d+)?$/)]);

/** One MIDI note: pitch 0..127, start/end seconds (number or numeric string), velocity 0..1. */
export const SunoMidiNote = z.looseObject({
  pitch: z.number().int().min(0).max(127),
  start: SunoTime,
  end: SunoTime,
  velocity: z.number().min(0).max(1),
});
export type SunoMidiNote = z.infer<typeof SunoMidiNote>;

/** One detected instrument; `notes` may be empty. */
export const SunoInstrument = z.looseObject({ name: z.string(), notes: z.array(SunoMidiNote).default([]) });
export type SunoInstrument = z.infer<typeof SunoInstrument>;

/** MIDI result; `instruments` may be missing or empty. */
export const SunoMidiData = z.looseObject({ state: z.string().optional(), instruments: z.array(SunoInstrument).optional() });
export type SunoMidiData = z.infer<typeof SunoMidiData>;

/** MIDI `successFlag`: 0 pending, 1 success, 2 task creation failed, 3 generation failed. */
export const SunoMidiSuccessFlag = z.union([z.literal(0), z.literal(1), z.literal(2), z.literal(3)]);
export type SunoMidiSuccessFlag = z.infer<typeof SunoMidiSuccessFlag>;

/** `GET /api/v1/midi/record-info` data (note `callbackUrl`, lowercase b). */
export const SunoMidiRecord = z.looseObject({
  taskId: z.string(),
  recordTaskId: z.number().optional(),
  audioId: z.string().nullable().optional(),
  callbackUrl: z.string().nullable().optional(),
  createTime: z.number(),
  completeTime: z.number().nullable(),
  midiData: SunoMidiData.nullable(),
  successFlag: SunoMidiSuccessFlag,
  errorCode: z.union([z.number(), z.string()]).nullable(),
  errorMessage: z.string().nullable(),
});
export type SunoMidiRecord = z.infer<typeof SunoMidiRecord>;

/**
 * MIDI callback body. Success: `{ code: 200, msg, task_id, data: { state: 'complete', instruments } }`;
 * failure: `{ code: 500, msg, task_id, data: { task_id, state: 'failed' } }`. Adapters look for
 * the task id in `task_id`, `data.task_id`, `data.taskId`, `taskId`.
 */
export const SunoMidiCallback = z.looseObject({
  code: z.number().int(),
  msg: z.string().optional(),
  task_id: z.string().optional(),
  taskId: z.string().optional(),
  data: z
    .looseObject({
      task_id: z.string().optional(),
      taskId: z.string().optional(),
      state: z.string().optional(),
      instruments: z.array(SunoInstrument).optional(),
    })
    .nullable()
    .optional(),
});
export type SunoMidiCallback = z.infer<typeof SunoMidiCallback>;
