import { posix } from 'node:path';
import type { JsonValue } from '../../streams/job-snapshot.js';
import type { ResultFile } from '../../streams/provider-port.js';

/** The file that gathers a job's outputs that are not file URLs. */
export const MUSICAI_SCALARS_FILE = 'result.json';

/** One downloadable file of a Music.AI result, and where its bytes come from. */
export type MusicaiResultEntry = ResultFile &
  (
    | { source: 'url'; output: string; url: string }
    /** The non-URL outputs as a JSON object, served from the stored result. */
    | { source: 'scalars'; values: Record<string, JsonValue> }
  );

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.wav': 'audio/wav',
  '.mp3': 'audio/mpeg',
  '.flac': 'audio/flac',
  '.ogg': 'audio/ogg',
  '.opus': 'audio/opus',
  '.m4a': 'audio/mp4',
  '.aac': 'audio/aac',
  '.aif': 'audio/aiff',
  '.aiff': 'audio/aiff',
  '.mid': 'audio/midi',
  '.midi': 'audio/midi',
  '.mp4': 'video/mp4',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.csv': 'text/csv',
  '.xml': 'application/xml',
  '.musicxml': 'application/vnd.recordare.musicxml+xml',
  '.pdf': 'application/pdf',
  '.zip': 'application/zip',
};

/**
 * The files a succeeded job's stored result offers. Each output whose value is an http(s)
 * URL becomes `<output>.<extension of the URL path>` (`.bin` when the path has none); every
 * other output (a BPM string, `"[custom storage]"`, a number) is gathered in `result.json`.
 * Names are made safe for file systems and unique (ignoring case) in result order. Pure: the
 * same result always gives the same list, so a download finds its file again by name.
 *
 * @example
 * musicaiResultEntries({ vocals: 'https://cdn.music.ai/a/vocals.wav?sig=1', bpm: '120' })
 *   .map((f) => f.name); // ['vocals.wav', 'result.json']
 */
export function musicaiResultEntries(result: JsonValue): MusicaiResultEntry[] {
  if (typeof result !== 'object' || result === null || Array.isArray(result)) return [];
  const links: { output: string; value: string; url: URL }[] = [];
  const scalarEntries: [string, JsonValue][] = [];
  for (const [output, value] of Object.entries(result)) {
    const url = typeof value === 'string' ? httpUrl(value) : undefined;
    if (url === undefined || typeof value !== 'string') scalarEntries.push([output, value]);
    else links.push({ output, value, url });
  }
  const hasScalars = scalarEntries.length > 0;
  const taken = new Set<string>(hasScalars ? [MUSICAI_SCALARS_FILE] : []);
  const files: MusicaiResultEntry[] = links.map(({ output, value, url }) => {
    const base = safeBaseName(output);
    const extension = extensionOf(url);
    let name = `${base}${extension}`;
    for (let n = 2; taken.has(name.toLowerCase()); n++) name = `${base}-${n}${extension}`;
    taken.add(name.toLowerCase());
    return { source: 'url', output, url: value, name, contentType: contentTypeOf(extension) };
  });
  // fromEntries defines own properties, so even an output named `__proto__` stays data.
  if (hasScalars) {
    const values: Record<string, JsonValue> = Object.fromEntries(scalarEntries);
    files.push({ source: 'scalars', values, name: MUSICAI_SCALARS_FILE, contentType: 'application/json' });
  }
  return files;
}

/** The MIME type for a file extension (with its dot); `application/octet-stream` when unknown. */
export function contentTypeOf(extension: string): string {
  return CONTENT_TYPES[extension.toLowerCase()] ?? 'application/octet-stream';
}

function httpUrl(text: string): URL | undefined {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined;
  } catch {
    return undefined;
  }
}

/** `.wav` for `…/vocals.WAV?x=1`; `.bin` when the last path segment has no short alphanumeric extension. */
function extensionOf(url: URL): string {
  const extension = posix.extname(decodeSafely(url.pathname)).toLowerCase();
  return /^\.[a-z0-9]{1,10}$/.test(extension) ? extension : '.bin';
}

/** An output name as a file name: no separators or odd characters, no leading dot, not empty. */
function safeBaseName(output: string): string {
  const cleaned = output
    .normalize('NFKC')
    .replace(/[^\p{L}\p{N}_-]+/gu, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, 100);
  return cleaned === '' ? 'output' : cleaned;
}

function decodeSafely(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
