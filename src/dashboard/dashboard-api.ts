/// <reference lib="dom" />
import type { HistoryEntry, ServerStats } from '../client/rest-client.js';

/** The counters of `GET /v1/stats`. */
export type Stats = ServerStats;
export type { HistoryEntry };

/** Hands a Blob to the browser as a download named `name`. */
export function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // Revoking at once can cut the download short in some browsers.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
