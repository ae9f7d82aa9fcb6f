import type { JobSnapshot } from '../streams/job-snapshot.js';
import { columnsOf, fitColumns, padColumns, printable } from './terminal-text.js';

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

const HEADER = ['ID', 'PROVIDER/KIND', 'NAME', 'STATUS', 'PROGRESS', 'AGE', 'VIA', 'ERROR'];
const [ID, KIND, NAME, STATUS, AGE, VIA, ERROR] = [0, 1, 2, 3, 5, 6, 7] as const;

/**
 * How the table gives way in a narrow terminal, step by step until it fits: the columns a
 * person needs least go first; the error, last of all, takes whatever width is left.
 */
const NARROWING: ({ drop: number } | { shrink: number; min: number })[] = [
  { drop: VIA },
  { drop: AGE },
  { shrink: NAME, min: 12 },
  { drop: KIND },
  { shrink: ID, min: 12 },
  { shrink: NAME, min: 6 },
];

/** Options of {@link jobTable}. */
export interface JobTableOptions {
  /** For the AGE column. */
  now: number;
  /** ANSI colours on the status. */
  colour: boolean;
  /**
   * The terminal's width: columns are dropped or narrowed (see the order above) and every
   * line is cut to it, so nothing wraps.
   * @default unlimited
   */
  width?: number;
}

/**
 * Jobs as an aligned table, newest first: id, provider/kind, name, status, progress, age, where
 * the last change came from and the error. Text from the server is made printable first.
 *
 * @example process.stdout.write(jobTable(jobs, { now: Date.now(), colour: true, width: 80 }).join('\n'));
 */
export function jobTable(jobs: Iterable<JobSnapshot>, options: JobTableOptions): string[] {
  const rows = [...jobs]
    .sort((a, b) => (a.id < b.id ? 1 : -1))
    .map((job) =>
      [
        job.id,
        `${job.provider}/${job.kind}`,
        job.name ?? '',
        job.status,
        progressBar(job),
        age(job.createdAt, options.now),
        job.source,
        job.error === null ? '' : `${job.error.code}: ${job.error.message}`,
      ].map(printable),
    );
  const widths = HEADER.map((title, i) => Math.min(48, Math.max(columnsOf(title), ...rows.map((row) => columnsOf(row[i] ?? '')))));
  const shown = new Set(HEADER.keys());
  if (rows.every((row) => row[ERROR] === '')) shown.delete(ERROR);
  if (options.width !== undefined) {
    const width = options.width;
    // The error column is last and is cut at the terminal's edge; everything before it must fit.
    const used = () => [...shown].filter((i) => i !== ERROR).reduce((sum, i) => sum + (widths[i] ?? 0) + 2, 0);
    for (const step of NARROWING) {
      if (used() <= width) break;
      if ('drop' in step) shown.delete(step.drop);
      else {
        const current = widths[step.shrink] ?? 0;
        widths[step.shrink] = Math.min(current, Math.max(step.min, current - (used() - width)));
      }
    }
    // A sliver of an error says nothing: the column goes when under ten columns are left for it.
    if (width - used() < 10) shown.delete(ERROR);
  }
  const line = (cells: string[], statusColour?: string): string => {
    const text = cells
      .map((cell, i) => {
        if (!shown.has(i)) return undefined;
        const padded = padColumns(cell, widths[i] ?? 0);
        return i === STATUS && statusColour !== undefined ? `${statusColour}${padded}${RESET}` : padded;
      })
      .filter((cell) => cell !== undefined)
      .join('  ')
      .trimEnd();
    return options.width === undefined ? text : fitColumns(text, options.width);
  };
  return [line(HEADER), ...rows.map((row) => line(row, options.colour ? COLOURS[row[STATUS] as JobSnapshot['status']] : undefined))];
}

/**
 * One job as one line, for output that is not a terminal (a pipe, a log file, CI): the time
 * of its last change, id, provider/kind, name, status, progress, source and error.
 *
 * @example 12:04:31  job_01jd…  klangio/transcription  riff  running  40%  via poll
 */
export function jobLine(job: JobSnapshot): string {
  const time = new Date(job.updatedAt).toISOString().slice(11, 19);
  const progress = job.progress !== null && job.status === 'running' ? `  ${Math.round(job.progress * 100)}%` : '';
  const error = job.error === null ? '' : `  ${job.error.code}: ${job.error.message}`;
  return printable(`${time}  ${job.id}  ${job.provider}/${job.kind}  ${job.name ?? '-'}  ${job.status}${progress}  via ${job.source}${error}`);
}
