import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { ProviderError } from '../../streams/errors.js';
import type { JsonValue } from '../../streams/job-snapshot.js';
import type { CallContext, ProviderJobRef, ResultDownload, ResultFile } from '../../streams/provider-port.js';
import { openOutside, openProvider } from '../provider-http.js';
import { SunoapiMidiResult, SunoapiSeparationResult } from './sunoapi-adapter-records.js';

interface FileSpec extends ResultFile {
  /** The stem's URL, or `undefined` for a file served from the stored result. */
  url: string | undefined;
}

const AUDIO_TYPES: Record<string, string> = {
  mp3: 'audio/mpeg',
  wav: 'audio/wav',
  flac: 'audio/flac',
  m4a: 'audio/mp4',
  ogg: 'audio/ogg',
  opus: 'audio/ogg',
};

/** The extension of a URL's file name (`wav` of `…/vocal.wav?sig=…`), or `mp3`, what sunoapi.org usually serves. */
export function extensionOf(url: string): string {
  try {
    const match = /\.([a-z0-9]{1,5})$/i.exec(new URL(url).pathname);
    return match?.[1]?.toLowerCase() ?? 'mp3';
  } catch {
    return 'mp3';
  }
}

function fileSpecs(job: ProviderJobRef, result: JsonValue): FileSpec[] {
  if (job.kind === 'vocal-separation') {
    const parsed = SunoapiSeparationResult.safeParse(result);
    if (!parsed.success) return [];
    // Only web links are fetched: a result never makes the server read local files or other schemes.
    return Object.entries(parsed.data.urls)
      .filter(([, url]) => /^https?:\/\//i.test(url))
      .map(([stem, url]) => {
        const extension = extensionOf(url);
        return { name: `${stem}.${extension}`, contentType: AUDIO_TYPES[extension] ?? 'application/octet-stream', url };
      });
  }
  if (job.kind === 'midi' && SunoapiMidiResult.safeParse(result).success) {
    return [{ name: 'notes.json', contentType: 'application/json', url: undefined }];
  }
  return [];
}

/**
 * The files a succeeded sunoapi.org job offers, from its stored result: one `<stem>.<ext>` per
 * separated stem (the extension taken from the stem's URL), or `notes.json` for a MIDI job.
 */
export function sunoapiResultFiles(job: ProviderJobRef, result: JsonValue): ResultFile[] {
  return fileSpecs(job, result).map(({ name, contentType }) => ({ name, contentType }));
}

/** The dispatchers a download may use, and which URLs are the configured API's own. */
export interface SunoapiFileAccess {
  /** The shared dispatcher, for URLs on the configured base URL's origin. */
  dispatcher: Dispatcher;
  /** The guarded dispatcher (`guardedDispatcher`), for every other URL. */
  outside: Dispatcher;
  /** Whether a URL is on the configured base URL's origin. */
  isProviderOrigin: (url: string) => boolean;
}

/**
 * Streams one result file: a stem from its URL (without the API key: the URLs are public file
 * links, often on another host), or `notes.json` from the stored result without calling the
 * provider. A URL on the configured base URL's origin (a simulator's files) goes through the
 * shared dispatcher; any other through the guarded one, so a result URL can never make the
 * server fetch from its own network, and its failures name only the host and status.
 *
 * @throws ProviderError `rejected` for a name the job does not offer; download failures as classified.
 */
export async function sunoapiDownload(
  access: SunoapiFileAccess,
  job: ProviderJobRef,
  result: JsonValue,
  name: string,
  context: CallContext,
): Promise<ResultDownload> {
  const spec = fileSpecs(job, result).find((file) => file.name === name);
  if (spec === undefined) throw new ProviderError('sunoapi', 'rejected', `task ${job.externalId} has no result file "${name}"`);
  if (spec.url === undefined) return { contentType: spec.contentType, body: Readable.from([Buffer.from(JSON.stringify(result))]) };
  const call = { method: 'GET', url: spec.url, signal: context.signal } as const;
  const opened = access.isProviderOrigin(spec.url) ? await openProvider('sunoapi', access.dispatcher, call) : await openOutside('sunoapi', access.outside, call);
  return { contentType: opened.contentType, body: opened.body };
}
