import { request } from 'undici';
import { isLoopbackUrl } from '../kit/loopback.js';
import type { MusicaiJobError, MusicaiJobErrorCode } from './musicai-schemas.js';
import type { UploadSlots } from './musicai-upload-slots.js';

const titles: Record<MusicaiJobErrorCode, string> = {
  BAD_INPUT: 'Invalid input',
  TIMEOUT: 'Timeout',
  INTERNAL_ERROR: 'Internal error',
};

/**
 * Builds a job `error` object with the documented title of its code.
 *
 * @example
 * jobError('BAD_INPUT', 'File not found.'); // { code: 'BAD_INPUT', title: 'Invalid input', message: 'File not found.' }
 */
export function jobError(code: MusicaiJobErrorCode, message: string): MusicaiJobError {
  return { code, title: titles[code], message };
}

/** Whether a job's input can be read: `null` when it can, else the error the job fails with. */
export type InputVerdict = MusicaiJobError | null;

/** How long a loopback input may take to answer before the job fails with `TIMEOUT`. */
const PROBE_TIMEOUT_MS = 5000;

/**
 * Decides, without any network call when possible, whether the job's `inputUrl` is readable,
 * the way the real service finds out when it downloads the input:
 * - an upload slot of this simulator is inspected in memory (a slot that was never PUT, or
 *   got an empty body, fails with `BAD_INPUT`);
 * - another loopback URL needs {@link probeInput};
 * - any other URL is never fetched and is assumed readable.
 *
 * @example
 * checkInputLocally('https://example.com/song.mp3', slots); // null (readable)
 */
export function checkInputLocally(inputUrl: string, slots: UploadSlots): InputVerdict | 'needs-probe' {
  const inspection = slots.inspect(inputUrl);
  if (inspection.kind === 'unreadable') return jobError('BAD_INPUT', inspection.reason);
  if (inspection.kind === 'readable' || !isLoopbackUrl(inputUrl)) return null;
  return 'needs-probe';
}

/**
 * Fetches a loopback input once: a non-2xx answer gives `BAD_INPUT`, no answer within 5 s or
 * a refused connection gives `TIMEOUT`. A non-loopback URL is never fetched (verdict `null`).
 *
 * @example
 * await probeInput('http://127.0.0.1:9/missing.wav'); // { code: 'TIMEOUT', ... }
 */
export async function probeInput(inputUrl: string): Promise<InputVerdict> {
  if (!isLoopbackUrl(inputUrl)) return null;
  try {
    const answer = await request(inputUrl, {
      method: 'GET',
      headersTimeout: PROBE_TIMEOUT_MS,
      bodyTimeout: PROBE_TIMEOUT_MS,
    });
    await answer.body.dump();
    if (answer.statusCode >= 200 && answer.statusCode < 300) return null;
    return jobError('BAD_INPUT', `Could not download the input file: HTTP ${answer.statusCode}.`);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return jobError(
      'TIMEOUT',
      `Timeout reading the input file (${reason}). Check that the server is reachable and the file is still available.`,
    );
  }
}
