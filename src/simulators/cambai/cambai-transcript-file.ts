import type { CambaiTranscriptFormat, CambaiTranscriptSegment } from './cambai-schemas.js';

/** A rendered transcript file. */
export interface TranscriptFile {
  text: string;
  contentType: string;
}

/** `seconds` as `HH:MM:SS<separator>mmm`. */
function timestamp(seconds: number, separator: ',' | '.'): string {
  const ms = Math.round(seconds * 1000);
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  return `${pad(h)}:${pad(m)}:${pad(s)}${separator}${pad(ms % 1000, 3)}`;
}

/**
 * Renders a transcript as the file behind `data_type=file`: `txt` (one line per segment with
 * its time span and speaker label), `srt` (SubRip cues) or `vtt` (WebVTT cues with voice tags).
 *
 * @example
 * renderTranscript(segments, 'srt').text.startsWith('1\n00:00:00,'); // true
 */
export function renderTranscript(segments: readonly CambaiTranscriptSegment[], format: CambaiTranscriptFormat): TranscriptFile {
  switch (format) {
    case 'txt':
      return {
        text: segments.map((s) => `[${timestamp(s.start, '.')} - ${timestamp(s.end, '.')}] ${s.speaker}: ${s.text}\n`).join(''),
        contentType: 'text/plain; charset=utf-8',
      };
    case 'srt':
      return {
        text: segments
          .map((s, i) => `${i + 1}\n${timestamp(s.start, ',')} --> ${timestamp(s.end, ',')}\n${s.speaker}: ${s.text}\n`)
          .join('\n'),
        contentType: 'application/x-subrip; charset=utf-8',
      };
    case 'vtt':
      return {
        text: `WEBVTT\n\n${segments
          .map((s) => `${timestamp(s.start, '.')} --> ${timestamp(s.end, '.')}\n<v ${s.speaker}>${s.text}\n`)
          .join('\n')}`,
        contentType: 'text/vtt; charset=utf-8',
      };
  }
}
