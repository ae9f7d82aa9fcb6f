import type { FileSource, ResultFileTable } from '../adapter-scaffold.js';
import { joinUrl } from '../provider-http.js';
import { isJsonKind } from './klangio-adapter-options.js';
import { KlangioSeparationResult, KlangioTranscriptionResult } from './klangio-adapter-results.js';
import type { KlangioOutput } from './klangio-schemas.js';

/**
 * Fetch paths of the quantized MIDI: Klangio's basic-workflow page names `midi_quant`, its MIDI
 * format page `midi_unq`. A download tries the first and falls back to the second on a 404.
 */
export const QUANTIZED_MIDI_PATHS = ['midi_quant', 'midi_unq'] as const;

/** Transcription outputs: our file name, its type and the fetch path (note `mxml` → `xml`). */
const TRANSCRIPTION_FILES: Record<KlangioOutput, { name: string; contentType: string; path: string }> = {
  mxml: { name: 'score.musicxml', contentType: 'application/vnd.recordare.musicxml+xml', path: 'xml' },
  gp5: { name: 'score.gp5', contentType: 'application/octet-stream', path: 'gp5' },
  midi: { name: 'performance.mid', contentType: 'audio/midi', path: 'midi' },
  midi_quant: { name: 'quantized.mid', contentType: 'audio/midi', path: 'midi_quant' },
  pdf: { name: 'score.pdf', contentType: 'application/pdf', path: 'pdf' },
  json: { name: 'transcription.json', contentType: 'application/json', path: 'json' },
};

const AUDIO_TYPE = { wav: 'audio/wav', mp3: 'audio/mpeg' } as const;

/**
 * The files a succeeded Klangio job offers, derived from its stored result only: the
 * transcription formats it produced (from `GET /job/{id}/{format}`), one `<kind>.json` for the
 * JSON kinds (served from the stored result, without calling Klangio), one `<stem>.<format>` per
 * separated stem (from `GET /job/{id}/audio?stem_type=`). A result of the wrong shape offers nothing.
 */
export const KLANGIO_FILES: ResultFileTable = klangioFiles('midi_quant');

/** {@link KLANGIO_FILES} with the quantized MIDI fetched from `quantizedPath`. */
export function klangioFiles(quantizedPath: (typeof QUANTIZED_MIDI_PATHS)[number]): ResultFileTable {
  return {
    files(job, result, connection) {
      const fetched = (path: string, query?: Record<string, string>): FileSource => ({
        from: 'url',
        url: joinUrl(connection.baseUrl, `job/${encodeURIComponent(job.externalId)}/${path}`, query),
        headers: { 'kl-api-key': connection.apiKey },
      });
      if (job.kind === 'transcription') {
        const parsed = KlangioTranscriptionResult.safeParse(result);
        if (!parsed.success) return [];
        return parsed.data.formats.map((format) => {
          const file = TRANSCRIPTION_FILES[format];
          return { name: file.name, contentType: file.contentType, source: fetched(format === 'midi_quant' ? quantizedPath : file.path) };
        });
      }
      if (job.kind === 'source-separation') {
        const parsed = KlangioSeparationResult.safeParse(result);
        if (!parsed.success) return [];
        const { format, stems } = parsed.data;
        return stems.map((stem) => ({ name: `${stem}.${format}`, contentType: AUDIO_TYPE[format], source: fetched('audio', { stem_type: stem }) }));
      }
      if (isJsonKind(job.kind) && result !== null) {
        return [{ name: `${job.kind}.json`, contentType: 'application/json', source: { from: 'stored', render: () => JSON.stringify(result) } }];
      }
      return [];
    },
  };
}
