import { Blob } from 'node:buffer';
import type { Dispatcher } from 'undici';
import { ProviderError } from '../../streams/errors.js';
import { openLocalInput, type LocalJobInput } from '../local-input.js';
import type { JobInput } from '../../streams/provider-port.js';
import { openOutside } from '../provider-http.js';

/** The audio to upload as multipart part `file`. */
export interface KlangioUpload {
  blob: Blob;
  filename: string;
}

/** What {@link klangioUpload} needs besides the input. */
export interface KlangioUploadContext {
  /** The dispatcher for URLs from outside: a `guardedDispatcher` (it refuses private addresses). */
  dispatcher: Dispatcher;
  /** Largest input accepted, in bytes. */
  maxInputBytes: number;
  signal: AbortSignal;
}

/**
 * Prepares a job's input for upload: Klangio only takes uploads, so a local file is opened as a
 * blob (read lazily while the request streams) and a URL is first downloaded through the guarded
 * dispatcher for outside URLs, up to `maxInputBytes`.
 *
 * Every failure is a `rejected` {@link ProviderError} with a `providerCode` naming it:
 * `INPUT_TOO_LARGE`, `INPUT_UNREADABLE` (the file cannot be opened or is not a regular file; the message names it by
 * its filename, never its path), `URL_REFUSED` (the URL's
 * host is not a public address, see `guardedDispatcher`) or `INPUT_DOWNLOAD_FAILED` (the URL
 * answered with an error or broke off; the message names its host and status, never the body
 * or the URL's credentials). The download is not Klangio's, so its failures
 * never count against the Klangio credential (no `rate-limited` / `unavailable` from here).
 */
export async function klangioUpload(input: JobInput, context: KlangioUploadContext): Promise<KlangioUpload> {
  return input.type === 'file' ? fromFile(input, context) : fromUrl(input, context);
}

async function fromFile(input: LocalJobInput, context: KlangioUploadContext): Promise<KlangioUpload> {
  // Checked first: a FIFO or a device would block the process when the blob is read.
  let opened: Awaited<ReturnType<typeof openLocalInput>>;
  try {
    opened = await openLocalInput(input);
  } catch (error) {
    throw new ProviderError('klangio', 'rejected', (error as Error).message, { providerCode: 'INPUT_UNREADABLE', cause: error });
  }
  if (opened.blob.size > context.maxInputBytes) {
    throw tooLarge(`the input file "${opened.name}" has ${opened.blob.size} bytes, more`, context.maxInputBytes);
  }
  return { blob: opened.blob, filename: opened.name };
}

async function fromUrl(input: Extract<JobInput, { type: 'url' }>, context: KlangioUploadContext): Promise<KlangioUpload> {
  let opened: Awaited<ReturnType<typeof openOutside>>;
  try {
    opened = await openOutside('klangio', context.dispatcher, { method: 'GET', url: input.url, signal: context.signal });
  } catch (error) {
    if (context.signal.aborted) throw error;
    throw downloadFailed(error);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of opened.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > context.maxInputBytes) {
        opened.body.destroy();
        throw tooLarge(`the input at ${new URL(input.url).host} is larger`, context.maxInputBytes);
      }
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof ProviderError || context.signal.aborted) throw error;
    throw downloadFailed(error);
  }
  return { blob: new Blob(chunks, { type: opened.contentType }), filename: filenameOf(input.url) };
}

function tooLarge(what: string, limit: number): ProviderError {
  return new ProviderError('klangio', 'rejected', `${what} than the limit of ${limit} bytes (maxInputBytes)`, { providerCode: 'INPUT_TOO_LARGE' });
}

/**
 * A failed input download. The message names the host and the status at most (from
 * `openOutside`): never the URL's credentials, path or query, nor what the host answered.
 */
function downloadFailed(error: unknown): ProviderError {
  if (error instanceof ProviderError) {
    const detail = error.message.replace(/^klangio: /, '');
    const refused = error.providerCode === 'URL_REFUSED';
    return new ProviderError('klangio', 'rejected', `cannot download the input: ${detail}`, {
      providerCode: refused ? 'URL_REFUSED' : 'INPUT_DOWNLOAD_FAILED',
      cause: error,
    });
  }
  // The body broke off: undici's error names the failure (terminated, socket closed), not the URL.
  const detail = error instanceof Error ? ((error as NodeJS.ErrnoException).code ?? error.message) : String(error);
  return new ProviderError('klangio', 'rejected', `cannot download the input: the download broke off (${detail})`, {
    providerCode: 'INPUT_DOWNLOAD_FAILED',
    cause: error,
  });
}

/** The last path segment of a URL, or `audio` when it has none. */
function filenameOf(url: string): string {
  const segment = new URL(url).pathname.split('/').filter((s) => s !== '').at(-1);
  if (segment === undefined) return 'audio';
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
