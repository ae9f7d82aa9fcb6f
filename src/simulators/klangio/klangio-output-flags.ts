import { createRandom } from '../kit/seeded-random.js';
import type { KlangioOutput } from '../../providers/klangio/klangio-schemas.js';

/** The `gen_*` flags of a transcription's create answer (newer names only; `json` has none). */
export interface KlangioGenFlags {
  gen_xml: boolean;
  gen_midi: boolean;
  gen_midi_quant: boolean;
  gen_gp5: boolean;
  gen_pdf: boolean;
}

/** Outputs Klangio may decline, the first one asked for is dropped when the flags drift. */
const DECLINABLE: readonly KlangioOutput[] = ['gp5', 'pdf', 'midi_quant'];

/**
 * Whether a job's flags drift from its request: drawn from the job's own seed (not from the
 * simulator's shared stream, so every other seeded decision stays as it was), with probability
 * `rate`. The same seed always gives the same answer, also after a restart.
 *
 * @example driftsFor(job.resultSeed, 1) // true
 */
export function driftsFor(resultSeed: number, rate: number): boolean {
  if (rate <= 0) return false;
  if (rate >= 1) return true;
  return createRandom((resultSeed ^ 0x5bd1e995) >>> 0)() < rate;
}

/**
 * The outputs a transcription produces. Without drift, what was asked for. With drift, the way
 * Klangio's own example does it (asked midi, pdf and gp5; answered `gen_xml: true`,
 * `gen_gp5: false`): MusicXML is produced even when not asked for, and the first of gp5, pdf
 * and midi_quant that was asked for is not. A request of `mxml` and `midi` only is unchanged.
 *
 * @example producedOutputs(new Set(['midi', 'pdf', 'gp5']), true) // Set { 'midi', 'pdf', 'mxml' }
 */
export function producedOutputs(requested: ReadonlySet<KlangioOutput>, drift: boolean): Set<KlangioOutput> {
  const produced = new Set(requested);
  if (!drift) return produced;
  produced.add('mxml');
  const declined = DECLINABLE.find((output) => produced.has(output));
  if (declined !== undefined) produced.delete(declined);
  return produced;
}

/** The flags that announce `outputs` in a create answer. */
export function genFlags(outputs: ReadonlySet<KlangioOutput>): KlangioGenFlags {
  return {
    gen_xml: outputs.has('mxml'),
    gen_midi: outputs.has('midi'),
    gen_midi_quant: outputs.has('midi_quant'),
    gen_gp5: outputs.has('gp5'),
    gen_pdf: outputs.has('pdf'),
  };
}
