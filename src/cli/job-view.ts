import type { JobSnapshot } from '../streams/job-snapshot.js';

const COLOURS: Record<JobSnapshot['status'], string> = {
  queued: '\x1b[90m',
  running: '\x1b[36m',
  succeeded: '\x1b[32m',
  failed: '\x1b[31m',
  canceled: '\x1b[33m',
};
const RESET = '\x1b[0m';

/** "12s", "3m", "2h": how long ago `since` was. */
export function age(since: number, now: number): string {
  const seconds = Math.max(0, Math.round((now - since) / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86_400)}d`;
}

/** A ten-cell progress bar, or the status word for jobs with no progress to show. */
export function progressBar(job: JobSnapshot): string {
  if (job.progress === null) return job.status === 'succeeded' ? '[##########] 100%' : '';
  const cells = Math.round(job.progress * 10);
  return `[${'#'.repeat(cells)}${'-'.repeat(10 - cells)}] ${String(Math.round(job.progress * 100)).padStart(3)}%`;
}

/**
 * Jobs as an aligned table, newest first: id, provider/kind, name, status, progress, age and
 * where the last change came from. `colour` adds ANSI colours to the status.
 */
export function jobTable(jobs: Iterable<JobSnapshot>, options: { now: number; colour: boolean }): string[] {
  const rows = [...jobs]
    .sort((a, b) => (a.id < b.id ? 1 : -1))
    .map((job) => [
      job.id,
      `${job.provider}/${job.kind}`,
      job.name ?? '',
      job.status,
      progressBar(job),
      age(job.createdAt, options.now),
      job.source,
      job.error === null ? '' : `${job.error.code}: ${job.error.message}`,
    ]);
  const header = ['ID', 'PROVIDER/KIND', 'NAME', 'STATUS', 'PROGRESS', 'AGE', 'VIA', 'ERROR'];
  const widths = header.map((title, i) => Math.min(48, Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length))));
  const line = (cells: string[], statusColour?: string) =>
    cells
      .map((cell, i) => {
        const text = cell.length > (widths[i] ?? 0) ? `${cell.slice(0, (widths[i] ?? 1) - 1)}…` : cell.padEnd(widths[i] ?? 0);
        return i === 3 && statusColour !== undefined ? `${statusColour}${text}${RESET}` : text;
      })
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map((row) => line(row, options.colour ? COLOURS[row[3] as JobSnapshot['status']] : undefined))];
}
