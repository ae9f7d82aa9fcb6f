import type { Random } from '../kit/seeded-random.js';
import { between } from '../kit/seeded-random.js';
import type { CambaiTranscriptSegment } from './cambai-schemas.js';

/** Speaker labels of simulated transcripts (the real label format is not documented). */
export const CAMBAI_SPEAKERS = ['Speaker 1', 'Speaker 2'] as const;

/** A short two-person interview; a transcript is a contiguous stretch of it. */
const SCRIPT: readonly [speaker: 0 | 1, text: string][] = [
  [0, 'Thanks for joining us today.'],
  [1, 'Happy to be here, thanks for having me.'],
  [0, "Let's start with the new album. How did the recording sessions go?"],
  [1, 'We tracked most of it live in the studio over two weeks.'],
  [1, 'The drums and bass went down first, then we layered the vocals on top.'],
  [0, 'That sounds like a lot of work for such a short time.'],
  [1, 'It was, but the energy of playing together really comes through.'],
  [0, 'Which song are you most proud of?'],
  [1, 'Probably the closing track. It started as a voice memo on my phone.'],
  [0, "We'll play it right after the break."],
];

const round = (seconds: number): number => Math.round(seconds * 1000) / 1000;

/**
 * Draws a plausible transcript: four to seven consecutive lines of a two-speaker interview,
 * with speaking rates, pauses and a short lead-in drawn from `random`.
 *
 * @example
 * generateTranscript(createRandom(1))[0]; // { start: 0.6, end: 2.1, text: 'Thanks for…', speaker: 'Speaker 1' }
 */
export function generateTranscript(random: Random): CambaiTranscriptSegment[] {
  const count = 4 + Math.floor(random() * 4);
  const first = Math.floor(random() * (SCRIPT.length - count + 1));
  let at = between(random, 0.2, 1.0);
  return SCRIPT.slice(first, first + count).map(([speaker, text]) => {
    const words = text.split(/\s+/).length;
    const start = round(at);
    const end = round(at + words * between(random, 0.28, 0.42));
    at = end + between(random, 0.15, 0.8);
    return { start, end, text, speaker: CAMBAI_SPEAKERS[speaker] };
  });
}

/**
 * Splits segments into one segment per word (the simulator's reading of
 * `word_level_timestamps=true`, which keeps the documented segment shape). Each word gets a
 * share of its segment's time proportional to its length; the words of a segment tile it
 * exactly.
 *
 * @example
 * wordLevel([{ start: 0, end: 1, text: 'Hi there', speaker: 'Speaker 1' }]);
 * // [{ start: 0, end: 0.375, text: 'Hi', … }, { start: 0.375, end: 1, text: 'there', … }]
 */
export function wordLevel(segments: readonly CambaiTranscriptSegment[]): CambaiTranscriptSegment[] {
  return segments.flatMap((segment) => {
    const words = segment.text.split(/\s+/).filter((w) => w !== '');
    const total = words.reduce((sum, w) => sum + w.length, 0);
    const span = segment.end - segment.start;
    let consumed = 0;
    return words.map((word, index) => {
      const start = round(segment.start + (span * consumed) / total);
      consumed += word.length;
      const end = index === words.length - 1 ? segment.end : round(segment.start + (span * consumed) / total);
      return { start, end, text: word, speaker: segment.speaker };
    });
  });
}
