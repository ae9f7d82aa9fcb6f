import { describe, expect, it } from 'vitest';
import { genFlagsOf, transcriptionFormats } from '../../../src/providers/klangio/klangio-adapter-flags.js';
import type { JsonValue } from '../../../src/streams/job-snapshot.js';
import type { KlangioOutput } from '../../../src/providers/klangio/klangio-schemas.js';

describe('transcriptionFormats', () => {
  const table: [string, KlangioOutput[], JsonValue | undefined, KlangioOutput[]][] = [
    ['follows the request without flags (an adopted job)', ['midi', 'pdf'], undefined, ['midi', 'pdf']],
    ['follows the request when providerData is not flags', ['midi', 'pdf'], { something: 'else' }, ['midi', 'pdf']],
    ['drops what is flagged false and adds what is flagged true', ['midi', 'pdf', 'gp5'], { gen_xml: true, gen_midi: true, gen_gp5: false, gen_pdf: true }, ['midi', 'pdf', 'mxml']],
    ['keeps an output whose flag the answer lacks (json has none)', ['json', 'midi'], { gen_midi: true, gen_xml: false }, ['json', 'midi']],
    ['reads the older gen_midi_unq as the quantized MIDI flag', ['midi_quant'], { gen_midi_unq: false, gen_xml: true }, ['mxml']],
    ['prefers gen_midi_quant over gen_midi_unq', ['midi_quant'], { gen_midi_quant: true, gen_midi_unq: false }, ['midi_quant']],
    ['may end with nothing when every flag is false', ['pdf'], { gen_pdf: false }, []],
  ];
  it.each(table)('%s', (_name, requested, flags, formats) => {
    expect(transcriptionFormats(requested, flags)).toEqual(formats);
  });
});

describe('genFlagsOf', () => {
  it('keeps the boolean gen_* fields only, or nothing', () => {
    expect(genFlagsOf({ job_id: 'a', gen_xml: true, gen_pdf: 'yes', general: true, gen_gp5: false })).toEqual({ gen_xml: true, gen_gp5: false });
    expect(genFlagsOf({ job_id: 'a' })).toBeUndefined();
  });
});
