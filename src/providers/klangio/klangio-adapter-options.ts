import { z } from 'zod';
import type { RequestIssue } from '../../streams/errors.js';
import { requestIssuesOf } from '../adapter-scaffold.js';
import { KlangioJobKind, KlangioModel, KlangioOutput, KlangioSeparationModel, KlangioVocabulary } from './klangio-schemas.js';

/** The Klangio job kinds, each named after its create path (source separation: see `separationPath`). */
export const KLANGIO_KINDS = KlangioJobKind.options;
export type KlangioKind = (typeof KLANGIO_KINDS)[number];

/** Kinds whose result is the JSON document at `GET /job/{id}/json`. */
export const KLANGIO_JSON_KINDS = ['chord-recognition', 'chord-recognition-extended', 'beat-tracking', 'strum-recognition'] as const;
export type KlangioJsonKind = (typeof KLANGIO_JSON_KINDS)[number];

const label = z.string().trim().min(1).max(200);

/**
 * Options of a `transcription` job. `model` takes the documented values (`universal`, `guitar`)
 * and the ones seen only in integrators' code (see {@link KlangioModel}); `outputs` are the
 * formats to produce (repeats are dropped).
 *
 * @example { model: 'guitar', outputs: ['mxml', 'gp5'], title: 'Etude' }
 */
export const KlangioTranscriptionOptions = z.strictObject({
  /** @default 'universal' */
  model: KlangioModel.default('universal'),
  /** @default ['mxml', 'midi'] */
  outputs: z
    .array(KlangioOutput)
    .min(1, 'name at least one output format')
    .default(['mxml', 'midi'])
    .transform((outputs) => [...new Set(outputs)]),
  title: label.optional(),
  composer: label.optional(),
});
export type KlangioTranscriptionOptions = z.infer<typeof KlangioTranscriptionOptions>;

/** Options of `chord-recognition` and `chord-recognition-extended` jobs. */
export const KlangioChordOptions = z.strictObject({
  /** @default 'major-minor' */
  vocabulary: KlangioVocabulary.default('major-minor'),
});
export type KlangioChordOptions = z.infer<typeof KlangioChordOptions>;

/** Options of a `source-separation` job; the audio format is fixed at creation. */
export const KlangioSeparationOptions = z.strictObject({
  /** @default 'four-stems' */
  model: KlangioSeparationModel.default('four-stems'),
  /** @default 'wav' */
  format: z.enum(['wav', 'mp3']).default('wav'),
});
export type KlangioSeparationOptions = z.infer<typeof KlangioSeparationOptions>;

/** `beat-tracking` and `strum-recognition` take no options. */
export const KlangioNoOptions = z.strictObject({});

/** A job's options with defaults applied, tagged with its kind. */
export type KlangioJobOptions =
  | ({ kind: 'transcription' } & KlangioTranscriptionOptions)
  | ({ kind: 'chord-recognition' | 'chord-recognition-extended' } & KlangioChordOptions)
  | { kind: 'beat-tracking' | 'strum-recognition' }
  | ({ kind: 'source-separation' } & KlangioSeparationOptions);

/** The outcome of {@link parseKlangioOptions}. */
export type ParsedKlangioOptions = { ok: true; options: KlangioJobOptions } | { ok: false; issues: RequestIssue[] };

/**
 * Validates a job's options for its kind and applies the defaults. Unknown option names are
 * issues (a typo should not silently fall back to a default).
 *
 * @example parseKlangioOptions('chord-recognition', {}) // { ok: true, options: { kind, vocabulary: 'major-minor' } }
 */
export function parseKlangioOptions(kind: string, options: unknown): ParsedKlangioOptions {
  switch (kind) {
    case 'transcription':
      return tagged(kind, KlangioTranscriptionOptions.safeParse(options));
    case 'chord-recognition':
    case 'chord-recognition-extended':
      return tagged(kind, KlangioChordOptions.safeParse(options));
    case 'beat-tracking':
    case 'strum-recognition':
      return tagged(kind, KlangioNoOptions.safeParse(options));
    case 'source-separation':
      return tagged(kind, KlangioSeparationOptions.safeParse(options));
    default:
      return { ok: false, issues: [{ field: 'kind', reason: `klangio has no job kind "${kind}" (kinds: ${KLANGIO_KINDS.join(', ')})` }] };
  }
}

function tagged<K extends KlangioKind, T extends object>(kind: K, parsed: z.ZodSafeParseResult<T>): ParsedKlangioOptions {
  if (!parsed.success) return { ok: false, issues: requestIssuesOf(parsed.error) };
  return { ok: true, options: { kind, ...parsed.data } as KlangioJobOptions };
}

/** Whether a kind's result is a JSON document. */
export function isJsonKind(kind: string): kind is KlangioJsonKind {
  return (KLANGIO_JSON_KINDS as readonly string[]).includes(kind);
}
