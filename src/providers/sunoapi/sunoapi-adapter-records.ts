import { z } from 'zod';
import { ProviderError } from '../../streams/errors.js';
import type { JobError } from '../../streams/job-snapshot.js';
import type { ProviderReport } from '../../streams/provider-port.js';
import { expectShape } from '../provider-http.js';

/**
 * Adapter-side readers of sunoapi.org task records and their results. Times and numbers may
 * come as numeric strings (the MIDI callback mixes both in one payload); every reader
 * normalises to numbers.
 */

const Num = z.union([z.number(), z.string().trim().regex(/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/).transform(Number)]).pipe(z.number().finite());

/** One MIDI note: pitch 0..127, start/end in seconds, velocity 0..1 (kept on that scale). */
export const SunoapiNote = z
  .looseObject({ pitch: Num.pipe(z.number().int().min(0).max(127)), start: Num, end: Num, velocity: Num.pipe(z.number().min(0).max(1)) })
  .transform(({ pitch, start, end, velocity }) => ({ pitch, start, end, velocity }));

/** One instrument; missing `notes` reads as none. */
export const SunoapiInstrument = z
  .looseObject({ name: z.string(), notes: z.array(SunoapiNote).nullish() })
  .transform((i) => ({ name: i.name, notes: i.notes ?? [] }));

/** The instruments of a MIDI result; missing reads as none (a valid, empty result). */
export const SunoapiInstruments = z
  .array(SunoapiInstrument)
  .nullish()
  .transform((list) => list ?? []);

/** A succeeded `midi` job's result. */
export const SunoapiMidiResult = z.object({
  instruments: z.array(
    z.object({
      name: z.string(),
      notes: z.array(z.object({ pitch: z.number(), start: z.number(), end: z.number(), velocity: z.number() })),
    }),
  ),
});
export type SunoapiMidiResult = z.infer<typeof SunoapiMidiResult>;

/**
 * One separated track as the record's `originData` lists it, with the provider's field names:
 * `id` is what a `midi` job takes as `audioId`; `audio_url`, `stem_type_group_name` (`Vocals`,
 * `Instrumental`, `Drums`, …) and `duration` (seconds) where the record gives them.
 */
export const SunoapiTrack = z.object({
  id: z.string(),
  audio_url: z.string().exactOptional(),
  stem_type_group_name: z.string().exactOptional(),
  duration: z.number().exactOptional(),
});
export type SunoapiTrack = z.infer<typeof SunoapiTrack>;

/**
 * A succeeded `vocal-separation` job's result: the separation type, one URL per stem and, when
 * the record lists them (kie.ai does; docs.sunoapi.org does not document them), the separated
 * tracks of `originData` (see {@link SunoapiTrack}).
 */
export const SunoapiSeparationResult = z.object({
  type: z.enum(['separate_vocal', 'split_stem']),
  urls: z.record(z.string(), z.string()),
  originData: z.array(SunoapiTrack).exactOptional(),
});
export type SunoapiSeparationResult = z.infer<typeof SunoapiSeparationResult>;

/**
 * One `originData` entry of a record, read tolerantly: the id may be a number, `duration` a
 * numeric string; fields of another type, and fields the docs do not list, are left out.
 */
const OriginDataEntry = z
  .looseObject({
    id: z.union([z.string().trim().min(1), z.number().int().transform(String)]),
    audio_url: z.unknown().optional(),
    stem_type_group_name: z.unknown().optional(),
    duration: z.unknown().optional(),
  })
  .transform((entry): SunoapiTrack => {
    const track: SunoapiTrack = { id: entry.id };
    if (typeof entry.audio_url === 'string' && entry.audio_url !== '') track.audio_url = entry.audio_url;
    if (typeof entry.stem_type_group_name === 'string' && entry.stem_type_group_name !== '') track.stem_type_group_name = entry.stem_type_group_name;
    const duration = Num.safeParse(entry.duration);
    if (duration.success && duration.data >= 0) track.duration = duration.data;
    return track;
  });

/**
 * The tracks of a record's `originData`: entries without an id are skipped (they name nothing a
 * MIDI job could take); `undefined` when the record has no `originData` list.
 */
export function originDataOf(response: Record<string, unknown>): SunoapiTrack[] | undefined {
  const list = response['originData'];
  if (!Array.isArray(list)) return undefined;
  return list.flatMap((entry) => {
    const parsed = OriginDataEntry.safeParse(entry);
    return parsed.success ? [parsed.data] : [];
  });
}

/**
 * The stem URLs of a separation record (`vocalUrl`, `backingVocalsUrl`, …) or callback
 * (`vocal_url`, `backing_vocals_url`, …), keyed by stem in camel case (`vocal`,
 * `backingVocals`, `origin`); null and empty values are left out.
 */
export function stemUrls(fields: Record<string, unknown>): Record<string, string> {
  const urls: Record<string, string> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (typeof value !== 'string' || value.trim() === '') continue;
    const match = /^(.+?)(?:Url|_url)$/.exec(key);
    if (match?.[1] === undefined) continue;
    urls[match[1].replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())] = value;
  }
  return urls;
}

const SEPARATE_VOCAL_STEMS = new Set(['origin', 'instrumental', 'vocal']);

/**
 * The separation result from its URLs. The type is read from the stems themselves (a callback
 * does not say which type was asked for): anything beyond origin, instrumental and vocal means
 * `split_stem`.
 */
export function separationResult(urls: Record<string, string>, originData?: SunoapiTrack[]): SunoapiSeparationResult {
  const split = Object.keys(urls).some((stem) => !SEPARATE_VOCAL_STEMS.has(stem));
  return { type: split ? 'split_stem' : 'separate_vocal', urls, ...(originData === undefined ? {} : { originData }) };
}

/** `data` of `GET /api/v1/vocal-removal/record-info`, read tolerantly. */
const SeparationRecordAnswer = z.looseObject({
  successFlag: z.union([z.string(), z.number()]).transform(String),
  response: z.record(z.string(), z.unknown()).nullish(),
  errorCode: z.union([z.number(), z.string()]).nullish(),
  errorMessage: z.string().nullish(),
});

const SEPARATION_FAILURES: Record<string, string> = {
  CREATE_TASK_FAILED: 'sunoapi.org could not create the separation task',
  GENERATE_AUDIO_FAILED: 'sunoapi.org could not separate the audio',
  CALLBACK_EXCEPTION: 'sunoapi.org reported a callback exception and no audio',
};

/**
 * Maps a vocal-separation record: PENDING → running; SUCCESS → succeeded with the stem URLs and
 * the record's `originData` tracks (see {@link SunoapiSeparationResult});
 * CREATE_TASK_FAILED, GENERATE_AUDIO_FAILED → failed with that code and the `errorMessage`;
 * CALLBACK_EXCEPTION (every callback attempt failed) → succeeded when the record has the
 * audio, else failed with that code; anything else → queued with the raw status.
 *
 * @throws ProviderError `invalid-response` for a record of another shape, or a SUCCESS without URLs.
 */
export function separationReport(data: unknown, what: string): ProviderReport {
  const record = expectShape('sunoapi', SeparationRecordAnswer, data, what);
  const providerStatus = record.successFlag;
  const flag = providerStatus.trim().toUpperCase();
  const urls = stemUrls(record.response ?? {});
  const hasAudio = Object.keys(urls).length > 0;
  const result = (): SunoapiSeparationResult => separationResult(urls, originDataOf(record.response ?? {}));
  switch (flag) {
    case 'PENDING':
      return { status: 'running', providerStatus };
    case 'SUCCESS':
      if (!hasAudio) throw new ProviderError('sunoapi', 'invalid-response', `${what}: status SUCCESS but no audio URL in the record`);
      return { status: 'succeeded', providerStatus, result: result() };
    case 'CALLBACK_EXCEPTION':
      if (hasAudio) return { status: 'succeeded', providerStatus, result: result() };
      return { status: 'failed', providerStatus, error: failure(flag, record.errorMessage, record.errorCode, SEPARATION_FAILURES[flag]) };
    case 'CREATE_TASK_FAILED':
    case 'GENERATE_AUDIO_FAILED':
      return { status: 'failed', providerStatus, error: failure(flag, record.errorMessage, record.errorCode, SEPARATION_FAILURES[flag]) };
    default:
      return { status: 'queued', providerStatus };
  }
}

/** `data` of `GET /api/v1/midi/record-info`, read tolerantly. */
const MidiRecordAnswer = z.looseObject({
  successFlag: z.union([z.number().int(), z.string().trim().regex(/^\d+$/).transform(Number)]),
  // "midiData may be empty" (docs): null, {}, "" or [] all mean no instruments.
  midiData: z.preprocess(
    (value) => (value === '' || (Array.isArray(value) && value.length === 0) ? null : value),
    z.looseObject({ instruments: SunoapiInstruments }).nullish(),
  ),
  errorCode: z.union([z.number(), z.string()]).nullish(),
  errorMessage: z.string().nullish(),
});

const MIDI_FAILURES: Record<number, { code: string; text: string }> = {
  2: { code: 'TASK_CREATE_FAILED', text: 'sunoapi.org could not create the MIDI task' },
  3: { code: 'MIDI_GENERATION_FAILED', text: 'sunoapi.org could not generate the MIDI' },
};

/**
 * Maps a MIDI record: `successFlag` 0 → running; 1 → succeeded with the instruments (none is
 * a valid result with no notes: empty MIDI is documented for `split_stem` sources and happens
 * for `separate_vocal` ones; an empty `midiData` reads the same); 2 → failed `TASK_CREATE_FAILED`; 3 → failed `MIDI_GENERATION_FAILED` (the
 * provider's `errorCode` goes into the message); anything else → queued with the raw flag.
 *
 * @throws ProviderError `invalid-response` for a record of another shape.
 */
export function midiReport(data: unknown, what: string): ProviderReport {
  const record = expectShape('sunoapi', MidiRecordAnswer, data, what);
  const providerStatus = String(record.successFlag);
  if (record.successFlag === 0) return { status: 'running', providerStatus };
  if (record.successFlag === 1) return { status: 'succeeded', providerStatus, result: { instruments: record.midiData?.instruments ?? [] } };
  const known = MIDI_FAILURES[record.successFlag];
  if (known === undefined) return { status: 'queued', providerStatus };
  return { status: 'failed', providerStatus, error: failure(known.code, record.errorMessage, record.errorCode, known.text) };
}

function failure(code: string, message: string | null | undefined, providerCode: string | number | null | undefined, fallback = 'the task failed'): JobError {
  const text = message === undefined || message === null || message.trim() === '' ? fallback : message;
  return { code, message: providerCode === undefined || providerCode === null ? text : `${text} (error code ${providerCode})` };
}
