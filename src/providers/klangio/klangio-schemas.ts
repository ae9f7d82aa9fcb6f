import { z } from 'zod';

/**
 * Wire formats of the Klangio API (api.klang.io), per providers.md section 1. Shared by the
 * simulator (which emits exactly these) and the adapter (which must also accept the
 * tolerated alternatives noted on each schema).
 */

/** The Klangio job kinds, each named after its create path (source separation's is undocumented). */
export const KlangioJobKind = z.enum([
  'transcription',
  'chord-recognition',
  'chord-recognition-extended',
  'beat-tracking',
  'strum-recognition',
  'source-separation',
]);
export type KlangioJobKind = z.infer<typeof KlangioJobKind>;

/**
 * Transcription output names as sent on create (note `mxml`, fetched later under `xml`).
 * `json` (`GET /job/{id}/json`: MusicInfo, Parts, Measures, Voices, Notes) is seen in two
 * independent clients, not in the docs.
 */
export const KlangioOutput = z.enum(['mxml', 'gp5', 'midi', 'midi_quant', 'pdf', 'json']);
export type KlangioOutput = z.infer<typeof KlangioOutput>;

/** Transcription models: `universal` and `guitar` documented, the rest (`detect` too) seen only in integrator code. */
export const KlangioModel = z.enum([
  'universal',
  'detect',
  'guitar',
  'piano',
  'drums',
  'vocal',
  'bass',
  'lead',
  'multi',
  'wind',
  'string',
  'piano_arrangement',
]);
export type KlangioModel = z.infer<typeof KlangioModel>;

/** Chord vocabulary query value. */
export const KlangioVocabulary = z.enum(['major-minor', 'full']);
export type KlangioVocabulary = z.infer<typeof KlangioVocabulary>;

/** Source-separation models. */
export const KlangioSeparationModel = z.enum(['four-stems', 'six-stems']);
export type KlangioSeparationModel = z.infer<typeof KlangioSeparationModel>;

/** Stem names for `GET /job/{id}/audio?stem_type=` (`piano`, `guitar` only with six-stems). */
export const KlangioStem = z.enum(['vocals', 'bass', 'drums', 'other', 'piano', 'guitar']);
export type KlangioStem = z.infer<typeof KlangioStem>;

/** 200 answer of every create endpoint. Unknown `gen_*` keys (e.g. older `gen_midi_unq`) must be ignored. */
export const KlangioCreateResponse = z.looseObject({
  job_id: z.string().min(1),
  creation_date: z.string(),
  deletion_date: z.string(),
  status_endpoint_url: z.string(),
  gen_xml: z.boolean().optional(),
  gen_midi: z.boolean().optional(),
  gen_midi_quant: z.boolean().optional(),
  gen_gp5: z.boolean().optional(),
  gen_pdf: z.boolean().optional(),
});
export type KlangioCreateResponse = z.infer<typeof KlangioCreateResponse>;

/** A chord label: `N`, `X`, or a root with optional accidental and quality. */
export const KlangioChordLabel = z.string().regex(/^(N|X|[A-G][#b]?(:(maj|min|dim|aug|min6|maj6|min7|maj7|minmaj7|7|dim7|hdim7|sus2|sus4))?)$/);

/** `[start, end, chord]`, times in seconds. */
export const KlangioChordTriple = z.tuple([z.number(), z.number(), KlangioChordLabel]);
export type KlangioChordTriple = z.infer<typeof KlangioChordTriple>;

/** Chord-recognition result: a bare array. */
export const KlangioChordResult = z.array(KlangioChordTriple);
export type KlangioChordResult = z.infer<typeof KlangioChordResult>;

/** `[time, "U" | "D"]`. */
export const KlangioStrum = z.tuple([z.number(), z.enum(['U', 'D'])]);
export type KlangioStrum = z.infer<typeof KlangioStrum>;

/** Strum-recognition result. */
export const KlangioStrumResult = z.object({ strums: z.array(KlangioStrum) });
export type KlangioStrumResult = z.infer<typeof KlangioStrumResult>;

/** Chord-recognition-extended result. */
export const KlangioChordExtendedResult = z.object({
  key: z.string().regex(/^[A-G][#b]? (major|minor)$/),
  chords: z.array(KlangioChordTriple),
  strums: z.array(KlangioStrum),
});
export type KlangioChordExtendedResult = z.infer<typeof KlangioChordExtendedResult>;

/** Beat-tracking result: bare array of `[time, beat]`, beat 1.0 = downbeat. */
export const KlangioBeatResult = z.array(z.tuple([z.number(), z.number().min(1)]));
export type KlangioBeatResult = z.infer<typeof KlangioBeatResult>;
