import type { ResultFileTable } from '../adapter-scaffold.js';
import { SunoapiMidiResult, SunoapiSeparationResult } from './sunoapi-adapter-records.js';

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

/**
 * The files a succeeded sunoapi.org job offers, from its stored result: one `<stem>.<ext>` per
 * separated stem (the extension taken from the stem's URL), or `notes.json` for a MIDI job,
 * served from the stored result without calling the provider. A MIDI job that found no notes
 * (empty MIDI is a real outcome) still offers `notes.json`, holding `{"instruments":[]}`: the
 * file says what the provider said, and nothing is made up. The separation's `originData`
 * tracks are part of the result, not files. Stems are fetched without the API
 * key: the URLs are public file links, often on another host, and any URL off the base URL's
 * origin goes through the guard (see `FileSource`).
 */
export const SUNOAPI_FILES: ResultFileTable = {
  files(job, result) {
    if (job.kind === 'vocal-separation') {
      const parsed = SunoapiSeparationResult.safeParse(result);
      if (!parsed.success) return [];
      // Only web links are fetched: a result never makes the server read local files or other schemes.
      return Object.entries(parsed.data.urls)
        .filter(([, url]) => /^https?:\/\//i.test(url))
        .map(([stem, url]) => {
          const extension = extensionOf(url);
          return { name: `${stem}.${extension}`, contentType: AUDIO_TYPES[extension] ?? 'application/octet-stream', source: { from: 'url', url } };
        });
    }
    if (job.kind === 'midi' && SunoapiMidiResult.safeParse(result).success) {
      return [{ name: 'notes.json', contentType: 'application/json', source: { from: 'stored', render: () => JSON.stringify(result) } }];
    }
    return [];
  },
};
