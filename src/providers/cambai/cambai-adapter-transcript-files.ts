import type { ResultFile } from '../../streams/provider-port.js';
import type { CambaiSegment } from './cambai-adapter-schemas.js';

/** The files every succeeded Camb.ai transcription offers, rendered from its stored segments. */
export const CAMBAI_TRANSCRIPT_FILES: readonly ResultFile[] = [
  { name: 'transcript.json', contentType: 'application/json' },
  { name: 'transcript.txt', contentType: 'text/plain; charset=utf-8' },
  { name: 'transcript.srt', contentType: 'application/x-subrip' },
];

/**
 * Renders one of {@link CAMBAI_TRANSCRIPT_FILES}, or returns `undefined` for another name.
 * `transcript.json` is the segments; `transcript.txt` one `speaker: text` line per segment;
 * `transcript.srt` SubRip cues with `HH:MM:SS,mmm` times, the speaker before the text.
 *
 * @example
 * renderCambaiTranscript('transcript.srt', [{ start: 1.25, end: 3, text: 'Hi', speaker: 'A' }]);
 * // '1\n00:00:01,250 --> 00:00:03,000\nA: Hi\n'
 */
export function renderCambaiTranscript(name: string, segments: readonly CambaiSegment[]): string | undefined {
  switch (name) {
    case 'transcript.json':
      return `${JSON.stringify(segments, null, 2)}\n`;
    case 'transcript.txt':
      return segments.map((segment) => `${line(segment)}\n`).join('');
    case 'transcript.srt':
      return segments
        .map((segment, index) => {
          const start = Math.max(0, segment.start);
          const end = Math.max(start, segment.end);
          return `${index + 1}\n${srtTime(start)} --> ${srtTime(end)}\n${line(segment)}\n`;
        })
        .join('\n');
    default:
      return undefined;
  }
}

/** `speaker: text` on one line (just the text when there is no speaker). */
function line(segment: CambaiSegment): string {
  const text = oneLine(segment.text);
  const speaker = oneLine(segment.speaker);
  return speaker === '' ? text : `${speaker}: ${text}`;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** Seconds as SubRip time, `00:00:01,250`; hours grow past two digits when they must. */
export function srtTime(seconds: number): string {
  const total = Math.round(Math.max(0, seconds) * 1000);
  const ms = total % 1000;
  const s = Math.floor(total / 1000) % 60;
  const m = Math.floor(total / 60_000) % 60;
  const h = Math.floor(total / 3_600_000);
  return `${pad(h, 2)}:${pad(m, 2)}:${pad(s, 2)},${pad(ms, 3)}`;
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}
