/// <reference lib="dom" />
/** How times, durations and sizes read on the dashboard. */

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/**
 * A compact age: `42s`, `3m 07s`, `2h 05m`, `3d 4h`.
 *
 * @example formatAge(187_000) // '3m 07s'
 */
export function formatAge(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${pad(seconds % 60)}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h ${pad(minutes % 60)}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

/**
 * A time offset with tenths below a minute: `+0.0s`, `+12.4s`, `+3m 07s`.
 *
 * @example formatOffset(1520) // '+1.5s'
 */
export function formatOffset(ms: number): string {
  return ms < 60_000 ? `+${(Math.max(0, ms) / 1000).toFixed(1)}s` : `+${formatAge(ms)}`;
}

/**
 * Local wall-clock time with milliseconds: webhooks and polls can land within the same second.
 *
 * @example formatClock(Date.now()) // '14:03:12.345'
 */
export function formatClock(epochMs: number): string {
  const date = new Date(epochMs);
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

/** Local date and time, for the job details: `2025-11-24 14:03:12`. */
export function formatDateTime(epochMs: number): string {
  const date = new Date(epochMs);
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${formatClock(epochMs).slice(0, 8)}`;
}

/**
 * A file size: `812 B`, `14.2 kB`, `3.1 MB`.
 *
 * @example formatBytes(14_540) // '14.2 kB'
 */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1_000_000) return `${(bytes / 1000).toFixed(1)} kB`;
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}

/** Progress as a whole percentage, or `undefined` when the provider gives none. */
export function percent(progress: number | null): number | undefined {
  return progress === null ? undefined : Math.round(progress * 100);
}

/**
 * What a job is called on the page: its name, else a short id (`job_01jd5x…2t5y`).
 *
 * @example displayName({ id: 'job_01jd5x3k2a7m9q0c4w8e6r2t5y', name: null }) // 'job_01jd5x…2t5y'
 */
export function displayName(job: { id: string; name: string | null }): string {
  if (job.name !== null && job.name.trim() !== '') return job.name;
  return job.id.length > 16 ? `${job.id.slice(0, 10)}…${job.id.slice(-4)}` : job.id;
}

/**
 * A duration in milliseconds, short: `850 ms`, `12.4 s`, `3m 07s`.
 *
 * @example formatMs(12_400) // '12.4 s'
 */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return formatAge(ms);
}
