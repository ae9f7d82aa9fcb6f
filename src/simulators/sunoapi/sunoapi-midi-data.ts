import type { Random } from '../kit/seeded-random.js';
import { pick } from '../kit/seeded-random.js';
import type { SunoInstrument, SunoMidiNote, SunoSeparationType } from '../../providers/sunoapi/sunoapi-schemas.js';

/** A note with numeric times, as the simulator stores it. */
export type MidiNote = {
  pitch: number;
  start: number;
  end: number;
  velocity: number;
};

/** An instrument with numeric note times. */
export type MidiInstrument = {
  name: string;
  notes: MidiNote[];
};

const round = (v: number, digits = 3): number => Math.round(v * 10 ** digits) / 10 ** digits;

/** GM-style instrument names and the pitch range each plays in. */
const VOICES: readonly { name: string; low: number; high: number; drums?: boolean }[] = [
  { name: 'Acoustic Grand Piano', low: 48, high: 84 },
  { name: 'Electric Bass (finger)', low: 28, high: 52 },
  { name: 'Drums', low: 35, high: 51, drums: true },
  { name: 'Electric Guitar (clean)', low: 40, high: 76 },
  { name: 'String Ensemble 1', low: 48, high: 79 },
  { name: 'Synth Voice', low: 55, high: 79 },
];
const DRUM_KIT = [36, 38, 42, 46, 49] as const;

function notes(random: Random, voice: (typeof VOICES)[number], seconds: number): MidiNote[] {
  const result: MidiNote[] = [];
  let t = random() * 0.5;
  while (t < seconds) {
    const length = voice.drums === true ? 0.1 : pick(random, [0.25, 0.5, 0.5, 1] as const);
    const pitch = voice.drums === true ? pick(random, DRUM_KIT) : voice.low + Math.floor(random() * (voice.high - voice.low + 1));
    result.push({ pitch, start: round(t), end: round(t + length * 0.9), velocity: round(0.4 + random() * 0.6, 2) });
    t += voice.drums === true ? 0.25 : length;
  }
  return result;
}

/**
 * How often a MIDI task finds no notes at all, by the type of its separation: the docs warn that
 * `split_stem` sources may give empty `midiData`, and `separate_vocal` sources give empty MIDI
 * too (providers.md, Round 2).
 */
export const EMPTY_MIDI_RATE: Readonly<Record<SunoSeparationType, number>> = { separate_vocal: 0.1, split_stem: 0.25 };

/**
 * Plausible MIDI data for a separation: two to four instruments, seconds of notes each. A share
 * of the runs detect nothing (empty `instruments`): `emptyRate`, by default
 * {@link EMPTY_MIDI_RATE} of the source's type. Any run may have an instrument with no notes.
 */
export function midiInstruments(random: Random, type: SunoSeparationType, emptyRate = EMPTY_MIDI_RATE[type], seconds = 8): MidiInstrument[] {
  if (random() < emptyRate) return [];
  const count = 2 + Math.floor(random() * 3);
  const start = Math.floor(random() * VOICES.length);
  return Array.from({ length: count }, (_, i) => {
    const voice = VOICES[(start + i) % VOICES.length] ?? VOICES[0]!;
    const silent = i === count - 1 && random() < 0.2;
    return { name: voice.name, notes: silent ? [] : notes(random, voice, seconds) };
  });
}

/**
 * The callback flavour of the instruments: some `start`/`end` values become numeric strings,
 * mixed within one payload like the provider's example.
 */
export function withStringTimes(random: Random, instruments: readonly MidiInstrument[]): SunoInstrument[] {
  return instruments.map((inst) => ({
    name: inst.name,
    notes: inst.notes.map(
      (n): SunoMidiNote => ({
        pitch: n.pitch,
        start: random() < 0.3 ? String(n.start) : n.start,
        end: random() < 0.3 ? String(n.end) : n.end,
        velocity: n.velocity,
      }),
    ),
  }));
}
