import type { MediaNote } from '../kit/media-note.js';
import type { Random } from '../kit/seeded-random.js';
import { pick } from '../kit/seeded-random.js';
import type {
  KlangioBeatResult,
  KlangioChordExtendedResult,
  KlangioChordResult,
  KlangioStrum,
  KlangioStrumResult,
  KlangioVocabulary,
} from '../../providers/klangio/klangio-schemas.js';

/**
 * Plausible, deterministic Klangio results. Every generator takes its own random source so a
 * job's results are identical on every fetch. The "audio" is never analysed (the real API also
 * returns a demo transcription for test accounts): results depend only on the job's seed.
 */

const round = (v: number): number => Math.round(v * 1000) / 1000;
const ROOTS = ['C', 'C#', 'D', 'D#', 'E', 'F', 'F#', 'G', 'G#', 'A', 'A#', 'B'] as const;
const FULL_QUALITIES = ['maj', 'min', '7', 'maj7', 'min7', 'sus4', 'sus2', 'dim', 'aug', 'min6', 'maj6', 'hdim7'] as const;
const MAJOR_SCALE = [0, 2, 4, 5, 7, 9, 11] as const;
/** Length of the pretend audio in seconds. */
export const RESULT_SECONDS = 16;

/** A short diatonic melody, one voice, for MIDI/MusicXML/PDF. */
export function melody(random: Random, seconds = 8): MediaNote[] {
  const tonic = 55 + Math.floor(random() * 10);
  const notes: MediaNote[] = [];
  let t = 0;
  while (t < seconds) {
    const length = pick(random, [0.25, 0.5, 0.5, 0.75, 1] as const);
    const degree = Math.floor(random() * 10);
    const pitch = tonic + (MAJOR_SCALE[degree % 7] ?? 0) + 12 * Math.floor(degree / 7);
    if (random() > 0.1) notes.push({ pitch, startSec: round(t), endSec: round(t + length * 0.95), velocity: 60 + Math.floor(random() * 50) });
    t += length;
  }
  return notes;
}

/** Snaps note times to a sixteenth-note grid at 120 bpm (the `midi_quant` flavour). */
export function quantize(notes: readonly MediaNote[], gridSec = 0.125): MediaNote[] {
  return notes.map((n) => {
    const startSec = Math.round(n.startSec / gridSec) * gridSec;
    const endSec = Math.max(startSec + gridSec, Math.round(n.endSec / gridSec) * gridSec);
    return { ...n, startSec, endSec };
  });
}

function chordLabel(random: Random, vocabulary: KlangioVocabulary): string {
  const root = pick(random, ROOTS);
  if (vocabulary === 'major-minor') return `${root}:${random() < 0.6 ? 'maj' : 'min'}`;
  return `${root}:${pick(random, FULL_QUALITIES)}`;
}

/** `[start, end, chord]` triples covering the audio; starts and ends with `N` (silence). */
export function chords(random: Random, vocabulary: KlangioVocabulary): KlangioChordResult {
  const lead = round(0.2 + random() * 0.4);
  const result: KlangioChordResult = [[0, lead, 'N']];
  let t = lead;
  while (t < RESULT_SECONDS - 1) {
    const length = pick(random, [1, 2, 2, 4] as const) * 0.5 + random() * 0.2;
    const end = Math.min(RESULT_SECONDS - 0.5, t + length);
    result.push([round(t), round(end), chordLabel(random, vocabulary)]);
    t = end;
  }
  result.push([round(t), RESULT_SECONDS, 'N']);
  return result;
}

/** `[time, "U" | "D"]` strums on an eighth-note grid, mostly alternating. */
export function strums(random: Random): KlangioStrum[] {
  const result: KlangioStrum[] = [];
  let down = true;
  for (let t = 0.5; t < RESULT_SECONDS - 0.5; t += 0.25) {
    if (random() < 0.7) result.push([round(t + (random() - 0.5) * 0.02), down ? 'D' : 'U']);
    down = !down;
  }
  return result;
}

/** The extended chord result: key, chords and strums. */
export function chordsExtended(random: Random, vocabulary: KlangioVocabulary): KlangioChordExtendedResult {
  const key = `${pick(random, ['C', 'D', 'Eb', 'E', 'F', 'F#', 'G', 'Ab', 'A', 'Bb', 'B'] as const)} ${random() < 0.5 ? 'major' : 'minor'}`;
  return { key, chords: chords(random, vocabulary), strums: strums(random) };
}

/** The strum-recognition result. */
export function strumResult(random: Random): KlangioStrumResult {
  return { strums: strums(random) };
}

/** `[time, beat]` pairs at a steady tempo in 3/4 or 4/4; beat 1 is the downbeat. */
export function beats(random: Random): KlangioBeatResult {
  const bpm = 80 + Math.floor(random() * 70);
  const perBar = random() < 0.25 ? 3 : 4;
  const period = 60 / bpm;
  const result: KlangioBeatResult = [];
  let beat = 1;
  for (let t = 0.1 + random() * 0.3; t < RESULT_SECONDS; t += period) {
    result.push([round(t), beat]);
    beat = beat === perBar ? 1 : beat + 1;
  }
  return result;
}

/** Sine frequency used for each stem's WAV, so stems differ audibly. */
export const STEM_FREQUENCY: Record<string, number> = {
  vocals: 440,
  bass: 82.41,
  drums: 120,
  other: 330,
  piano: 261.63,
  guitar: 196,
};
