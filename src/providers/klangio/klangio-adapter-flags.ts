import { z } from 'zod';
import type { JsonValue } from '../../streams/job-snapshot.js';
import { KlangioOutput } from './klangio-schemas.js';

/**
 * The `gen_*` flags of a Klangio create answer, as the adapter keeps them with the job (its
 * `providerData`): Klangio's own word on which result files the job will have, e.g.
 * `{ gen_xml: true, gen_midi: true, gen_gp5: false }`. They can differ from the requested
 * `outputs` (the docs' own example asks for midi, pdf and gp5 and answers `gen_xml: true`,
 * `gen_gp5: false`), so they, not the request, decide the result files.
 */
export const KlangioGenFlags = z.record(z.string().regex(/^gen_\w+$/), z.boolean());
export type KlangioGenFlags = z.infer<typeof KlangioGenFlags>;

/**
 * The flag(s) of each output, in order of preference. The quantized MIDI's flag was
 * `gen_midi_unq` in an older version of the docs (whose MIDI page also fetches the quantized
 * file from `midi_unq`); `gen_midi_quant` wins when both are there. `json` has no documented
 * flag: without one it follows the request.
 */
const FLAGS_OF: Record<KlangioOutput, readonly string[]> = {
  mxml: ['gen_xml'],
  midi: ['gen_midi'],
  midi_quant: ['gen_midi_quant', 'gen_midi_unq'],
  gp5: ['gen_gp5'],
  pdf: ['gen_pdf'],
  json: ['gen_json'],
};

/**
 * The boolean `gen_*` fields of a create answer, or `undefined` when it has none (other job
 * kinds, or an answer without flags). Other values under a `gen_` name are left out.
 *
 * @example genFlagsOf({ job_id: 'a', gen_xml: true, gen_pdf: 'yes' }) // { gen_xml: true }
 */
export function genFlagsOf(answer: Readonly<Record<string, unknown>>): KlangioGenFlags | undefined {
  const flags = Object.entries(answer).filter((entry): entry is [string, boolean] => /^gen_\w+$/.test(entry[0]) && typeof entry[1] === 'boolean');
  return flags.length === 0 ? undefined : Object.fromEntries(flags);
}

/**
 * The formats a completed transcription offers: the requested outputs whose flag is not
 * `false` (an output without a flag in the answer follows the request), in the order asked,
 * then the outputs flagged `true` that were not asked for, in Klangio's order. Without flags
 * (an adopted job, or one recorded before flags were kept: `providerData` absent or of another
 * shape) the request decides.
 *
 * @example transcriptionFormats(['midi', 'pdf', 'gp5'], { gen_xml: true, gen_midi: true, gen_pdf: true, gen_gp5: false }) // ['midi', 'pdf', 'mxml']
 */
export function transcriptionFormats(requested: readonly KlangioOutput[], providerData: JsonValue | undefined): KlangioOutput[] {
  const parsed = KlangioGenFlags.safeParse(providerData);
  if (!parsed.success) return [...requested];
  const flags = parsed.data;
  const flagOf = (output: KlangioOutput): boolean | undefined => FLAGS_OF[output].map((name) => flags[name]).find((flag) => flag !== undefined);
  const kept = requested.filter((output) => flagOf(output) !== false);
  const added = KlangioOutput.options.filter((output) => !requested.includes(output) && flagOf(output) === true);
  return [...kept, ...added];
}
