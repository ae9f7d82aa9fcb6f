import { request } from 'undici';
import { isLoopbackUrl } from '../kit/loopback.js';
import { wavFile } from '../kit/media.js';
import type { MusicaiOutputSpec } from './musicai-workflows.js';

/** Length of every simulated stem, in seconds. Short on purpose: tests download them. */
const STEM_SECONDS = 1;
/** Sample rate of simulated stems: small files, still valid 16-bit PCM. */
const STEM_SAMPLE_RATE = 22050;
/** How long a `copyResultsTo` target may take to accept a PUT. */
const COPY_TIMEOUT_MS = 10_000;

/** A result file as served by the simulator or copied to custom storage. */
export interface ResultFile {
  bytes: Buffer;
  contentType: string;
  extension: string;
}

/**
 * The file behind a file-kind output (`undefined` for scalars). WAV outputs are a short
 * stereo sine tone at the output's own frequency; the beat map is JSON
 * `{ bpm, beats: [{ time, beat }] }` with 4/4 beats over the stem length.
 *
 * @example
 * resultFile({ name: 'vocals', kind: 'wav', frequencyHz: 440 }, 120)?.contentType; // 'audio/wav'
 */
export function resultFile(output: MusicaiOutputSpec, bpm: number): ResultFile | undefined {
  switch (output.kind) {
    case 'wav':
      return {
        bytes: wavFile({ seconds: STEM_SECONDS, sampleRate: STEM_SAMPLE_RATE, channels: 2, frequencyHz: output.frequencyHz }),
        contentType: 'audio/wav',
        extension: 'wav',
      };
    case 'json': {
      const period = 60 / bpm;
      const beats = Array.from({ length: Math.floor(8 / period) }, (_, i) => ({
        time: Math.round(i * period * 1000) / 1000,
        beat: (i % 4) + 1,
      }));
      return { bytes: Buffer.from(JSON.stringify({ bpm, beats })), contentType: 'application/json', extension: 'json' };
    }
    case 'scalar':
      return undefined;
  }
}

/**
 * The result value of a scalar output, rendered as a string like the real service does.
 *
 * @example
 * scalarValue({ name: 'bpm', kind: 'scalar' }, 118); // '118'
 */
export function scalarValue(output: MusicaiOutputSpec, bpm: number): string {
  return output.name === 'bpm' ? String(bpm) : '';
}

/**
 * PUTs one output to a `copyResultsTo` URL. Resolves to `null` on a 2xx answer, else to a
 * human-readable reason. Only loopback URLs are contacted; the simulator refuses other
 * targets when the job is created, and this function refuses them again.
 *
 * @example
 * await copyToCustomStorage(uploadUrl, file); // null
 */
export async function copyToCustomStorage(url: string, file: ResultFile): Promise<string | null> {
  if (!isLoopbackUrl(url)) return `refusing to write to non-loopback URL ${url}`;
  try {
    const answer = await request(url, {
      method: 'PUT',
      headers: { 'content-type': file.contentType },
      body: file.bytes,
      headersTimeout: COPY_TIMEOUT_MS,
      bodyTimeout: COPY_TIMEOUT_MS,
    });
    await answer.body.dump();
    if (answer.statusCode >= 200 && answer.statusCode < 300) return null;
    return `HTTP ${answer.statusCode}`;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
