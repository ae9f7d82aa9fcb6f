import { Readable } from 'node:stream';
import { ProviderError } from '../../streams/errors.js';
import type { JsonValue } from '../../streams/job-snapshot.js';
import type { CallContext, ProviderJobRef, ResultDownload, ResultFile } from '../../streams/provider-port.js';
import { joinUrl, openProvider, type ProviderConnection } from '../provider-http.js';
import { isJsonKind } from './klangio-adapter-options.js';
import { KlangioSeparationResult, KlangioTranscriptionResult } from './klangio-adapter-results.js';
import type { KlangioOutput } from './klangio-schemas.js';

/** A result file and where it comes from. */
type Source =
  | { from: 'path'; path: string; query?: Record<string, string> }
  | { from: 'result' };

interface FileSpec extends ResultFile {
  source: Source;
}

/** Transcription outputs: our file name, its type and the fetch path (note `mxml` → `xml`). */
const TRANSCRIPTION_FILES: Record<KlangioOutput, { name: string; contentType: string; path: string }> = {
  mxml: { name: 'score.musicxml', contentType: 'application/vnd.recordare.musicxml+xml', path: 'xml' },
  gp5: { name: 'score.gp5', contentType: 'application/octet-stream', path: 'gp5' },
  midi: { name: 'performance.mid', contentType: 'audio/midi', path: 'midi' },
  midi_quant: { name: 'quantized.mid', contentType: 'audio/midi', path: 'midi_quant' },
  pdf: { name: 'score.pdf', contentType: 'application/pdf', path: 'pdf' },
};

const AUDIO_TYPE = { wav: 'audio/wav', mp3: 'audio/mpeg' } as const;

/**
 * The files a succeeded Klangio job offers, derived from its stored result only: the
 * transcription formats it produced, one `<kind>.json` for the JSON kinds, one `<stem>.<format>`
 * per separated stem. A result of the wrong shape offers nothing.
 */
function fileSpecs(job: ProviderJobRef, result: JsonValue): FileSpec[] {
  if (job.kind === 'transcription') {
    const parsed = KlangioTranscriptionResult.safeParse(result);
    if (!parsed.success) return [];
    return parsed.data.formats.map((format) => {
      const file = TRANSCRIPTION_FILES[format];
      return { name: file.name, contentType: file.contentType, source: { from: 'path', path: file.path } };
    });
  }
  if (job.kind === 'source-separation') {
    const parsed = KlangioSeparationResult.safeParse(result);
    if (!parsed.success) return [];
    const { format, stems } = parsed.data;
    return stems.map((stem) => ({
      name: `${stem}.${format}`,
      contentType: AUDIO_TYPE[format],
      source: { from: 'path', path: 'audio', query: { stem_type: stem } },
    }));
  }
  if (isJsonKind(job.kind) && result !== null) return [{ name: `${job.kind}.json`, contentType: 'application/json', source: { from: 'result' } }];
  return [];
}

/** The files of a succeeded job (see {@link fileSpecs}). */
export function klangioResultFiles(job: ProviderJobRef, result: JsonValue): ResultFile[] {
  return fileSpecs(job, result).map(({ name, contentType }) => ({ name, contentType }));
}

/**
 * Streams one result file: from `GET /job/{id}/{format}` (stems from `/job/{id}/audio?stem_type=`),
 * or, for the JSON kinds, from the stored result without calling Klangio.
 *
 * @throws ProviderError `rejected` for a name the job does not offer; the provider's failures as classified.
 */
export async function klangioDownload(
  connection: ProviderConnection,
  job: ProviderJobRef,
  result: JsonValue,
  name: string,
  context: CallContext,
): Promise<ResultDownload> {
  const spec = fileSpecs(job, result).find((file) => file.name === name);
  if (spec === undefined) throw new ProviderError('klangio', 'rejected', `job ${job.externalId} has no result file "${name}"`);
  if (spec.source.from === 'result') {
    return { contentType: spec.contentType, body: Readable.from([Buffer.from(JSON.stringify(result))]) };
  }
  const url = joinUrl(connection.baseUrl, `job/${encodeURIComponent(job.externalId)}/${spec.source.path}`, spec.source.query);
  const opened = await openProvider('klangio', connection.dispatcher, {
    method: 'GET',
    url,
    headers: { 'kl-api-key': connection.apiKey },
    signal: context.signal,
  });
  return { contentType: opened.contentType, body: opened.body };
}
