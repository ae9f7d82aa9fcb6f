import { z } from 'zod';
import type { JsonValue } from '../../streams/job-snapshot.js';
import type { KlangioJsonKind } from './klangio-adapter-options.js';
import { KlangioOutput, KlangioSeparationModel, KlangioStem } from './klangio-schemas.js';

/**
 * Adapter-side readers of Klangio results. They accept what the documentation shows (see
 * `klangio-schemas.ts`) plus the tolerated alternatives: times as numeric strings, strum
 * directions in lower case, and the bare arrays wrapped in an object (`{ chords: [...] }`,
 * `{ beats: [...] }`, `[...]` for strums). Each normalises to the documented shape.
 */

/** Seconds: a number or a numeric string, read as a number. */
const Seconds = z.union([z.number(), z.string().trim().regex(/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/).transform(Number)]).pipe(z.number().finite());

const ChordTriple = z.tuple([Seconds, Seconds, z.string()]);
const Strum = z.tuple([Seconds, z.string().transform((d) => d.toUpperCase()).pipe(z.enum(['U', 'D']))]);
const Beat = z.tuple([Seconds, Seconds]);

const ChordList = z.union([z.array(ChordTriple), z.looseObject({ chords: z.array(ChordTriple) }).transform((o) => o.chords)]);
const StrumList = z.array(Strum);

/** Chord recognition: `[[start, end, chord], ...]`. */
export const KlangioChordAnswer = ChordList;
/** Chord recognition extended: `{ key, chords, strums }` (`strums` may be missing). */
export const KlangioChordExtendedAnswer = z
  .looseObject({ key: z.string(), chords: z.array(ChordTriple), strums: StrumList.optional() })
  .transform((o) => ({ key: o.key, chords: o.chords, strums: o.strums ?? [] }));
/** Beat tracking: `[[time, beat], ...]`. */
export const KlangioBeatAnswer = z.union([z.array(Beat), z.looseObject({ beats: z.array(Beat) }).transform((o) => o.beats)]);
/** Strum recognition: `{ strums: [[time, 'U' | 'D'], ...] }`. */
export const KlangioStrumAnswer = z.union([
  z.looseObject({ strums: StrumList }).transform((o) => ({ strums: o.strums })),
  StrumList.transform((strums) => ({ strums })),
]);

/** The reader of each JSON kind's answer. */
export const KLANGIO_JSON_ANSWERS: Record<KlangioJsonKind, z.ZodType<JsonValue>> = {
  'chord-recognition': KlangioChordAnswer,
  'chord-recognition-extended': KlangioChordExtendedAnswer,
  'beat-tracking': KlangioBeatAnswer,
  'strum-recognition': KlangioStrumAnswer,
};

/** The result of a succeeded transcription: the output formats it produced. */
export const KlangioTranscriptionResult = z.object({ formats: z.array(KlangioOutput) });
export type KlangioTranscriptionResult = z.infer<typeof KlangioTranscriptionResult>;

/** The result of a succeeded source separation: model, audio format and the stems to fetch. */
export const KlangioSeparationResult = z.object({
  model: KlangioSeparationModel,
  format: z.enum(['wav', 'mp3']),
  stems: z.array(KlangioStem),
});
export type KlangioSeparationResult = z.infer<typeof KlangioSeparationResult>;

/** The stems each separation model produces. */
export const KLANGIO_STEMS: Record<KlangioSeparationModel, KlangioStem[]> = {
  'four-stems': ['vocals', 'bass', 'drums', 'other'],
  'six-stems': ['vocals', 'bass', 'drums', 'other', 'piano', 'guitar'],
};
