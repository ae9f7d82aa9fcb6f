import { Blob } from 'node:buffer';
import { openAsBlob } from 'node:fs';
import { basename } from 'node:path';
import type { Dispatcher } from 'undici';
import { ProviderError } from '../../streams/errors.js';
import type { JobInput } from '../provider-adapter.js';
import { openProvider } from '../provider-http.js';

/** The audio to upload as multipart part `file`. */
export interface KlangioUpload {
  blob: Blob;
  filename: string;
}

/** What {@link klangioUpload} needs besides the input. */
export interface KlangioUploadContext {
  dispatcher: Dispatcher;
  /** Largest input accepted, in bytes. */
  maxInputBytes: number;
  signal: AbortSignal;
}

/**
 * Prepares a job's input for upload: Klangio only takes uploads, so a local file is opened as a
 * blob (read lazily while the request streams) and a URL is first downloaded through the shared
 * dispatcher, up to `maxInputBytes`.
 *
 * Every failure is a `rejected` {@link ProviderError} with a `providerCode` naming it:
 * `INPUT_TOO_LARGE`, `INPUT_UNREADABLE` (the file cannot be opened) or `INPUT_DOWNLOAD_FAILED`
 * (the URL answered with an error or broke off). The download is not Klangio's, so its failures
 * never count against the Klangio credential (no `rate-limited` / `unavailable` from here).
 */
export async function klangioUpload(input: JobInput, context: KlangioUploadContext): Promise<KlangioUpload> {
  return input.type === 'file' ? fromFile(input, context) : fromUrl(input, context);
}

async function fromFile(input: Extract<JobInput, { type: 'file' }>, context: KlangioUploadContext): Promise<KlangioUpload> {
  let blob: Blob;
  try {
    blob = await openAsBlob(input.path, input.contentType === undefined ? undefined : { type: input.contentType });
  } catch (error) {
    throw new ProviderError('klangio', 'rejected', `cannot read the input file ${input.path} (${(error as Error).message})`, {
      providerCode: 'INPUT_UNREADABLE',
      cause: error,
    });
  }
  if (blob.size > context.maxInputBytes) throw tooLarge(`the input file ${input.path} has ${blob.size} bytes`, context.maxInputBytes);
  return { blob, filename: input.filename ?? basename(input.path) };
}

async function fromUrl(input: Extract<JobInput, { type: 'url' }>, context: KlangioUploadContext): Promise<KlangioUpload> {
  let opened: Awaited<ReturnType<typeof openProvider>>;
  try {
    opened = await openProvider('klangio', context.dispatcher, { method: 'GET', url: input.url, signal: context.signal });
  } catch (error) {
    if (context.signal.aborted) throw error;
    throw downloadFailed(input.url, error);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of opened.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > context.maxInputBytes) {
        opened.body.destroy();
        throw tooLarge(`the input at ${input.url} is larger`, context.maxInputBytes);
      }
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof ProviderError || context.signal.aborted) throw error;
    throw downloadFailed(input.url, error);
  }
  return { blob: new Blob(chunks, { type: opened.contentType }), filename: filenameOf(input.url) };
}

function tooLarge(what: string, limit: number): ProviderError {
  return new ProviderError('klangio', 'rejected', `${what} than the limit of ${limit} bytes (maxInputBytes)`, { providerCode: 'INPUT_TOO_LARGE' });
}

function downloadFailed(url: string, error: unknown): ProviderError {
  const detail = error instanceof Error ? error.message : String(error);
  return new ProviderError('klangio', 'rejected', `cannot download the input ${url}: ${detail}`, {
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
