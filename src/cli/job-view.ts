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
  /**
   * Keep the jobs in the order given rather than newest first.
   * @default false
   */
  keepOrder?: boolean;
}

/**
 * Jobs as an aligned table, newest first: id, provider/kind, name, status, progress, age, where
 * the last change came from and the error. Text from the server is made printable first.
 *
 * @example process.stdout.write(jobTable(jobs, { now: Date.now(), colour: true, width: 80 }).join('\n'));
 */
export function jobTable(jobs: Iterable<JobSnapshot>, options: JobTableOptions): string[] {
  const ordered = options.keepOrder === true ? [...jobs] : [...jobs].sort((a, b) => (a.id < b.id ? 1 : -1));
  const rows = ordered.map((job) =>
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

/**
 * A length of time for people: `850ms`, `12.3s`, `4m 05s`, `2h 03m`, `3d 04h`.
 *
 * @example duration(245_000) // '4m 05s'
 */
export function duration(ms: number): string {
  const value = Math.max(0, ms);
  if (value < 1000) return `${Math.round(value)}ms`;
  if (value < 60_000) return `${(value / 1000).toFixed(1)}s`;
  const pad = (n: number) => String(n).padStart(2, '0');
  const seconds = Math.floor(value / 1000);
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${pad(seconds % 60)}s`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h ${pad(Math.floor(seconds / 60) % 60)}m`;
  return `${Math.floor(seconds / 86_400)}d ${pad(Math.floor(seconds / 3600) % 24)}h`;
}

/** A byte count for people: `512 B`, `12.3 kB`, `4.0 MB` (powers of 1000). */
export function byteSize(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** An epoch-ms time as `2026-12-07 00:31:28 UTC`. */
export function clockTime(at: number): string {
  return `${new Date(at).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** Everything {@link jobDetails} shows beside the snapshot, gathered from other requests. */
export interface JobDetailsExtras {
  /** When the job reached its final status, for records without `finished` (from its history). */
  finishedAt?: number | undefined;
  /** Jobs that wait for this one (`after.jobId` is this id). */
  downstream?: readonly JobSnapshot[];
  /** Jobs that retry this one. */
  retries?: readonly JobSnapshot[];
  /** Its result files, with sizes where the server has local copies. */
  files?: readonly { name: string; contentType: string; bytes?: number | undefined }[];
  /** For the relative times. */
  now: number;
}

/**
 * One job as labelled lines, for `jobstream show`: what it is, its status and times (how long
 * it ran, or has been running), its error, input, pipeline and retry links, options, metadata,
 * a one-line summary of its result and its result files. Text from the server is printable.
 */
export function jobDetails(job: JobSnapshot, extras: JobDetailsExtras): string[] {
  const { now } = extras;
  const lines: [string, string][] = [];
  const add = (label: string, value: string): void => void lines.push([label, value]);
  add('provider', `${job.provider}/${job.kind}${job.externalId === null ? '' : `  (external id ${job.externalId})`}`);
  add('status', `${job.status}${job.providerStatus === null ? '' : `  (provider status ${job.providerStatus})`}, last change via ${job.source}`);
  if (job.progress !== null && job.status === 'running') add('progress', `${Math.round(job.progress * 100)}%`);
  add('created', `${clockTime(job.createdAt)}  (${age(job.createdAt, now)} ago)`);
  add('updated', `${clockTime(job.updatedAt)}  (${age(job.updatedAt, now)} ago)`);
  if (job.status === 'succeeded' || job.status === 'failed' || job.status === 'canceled') {
    const finished = job.finished?.at ?? extras.finishedAt;
    const via = job.finished === null ? '' : ` via ${job.finished.source}`;
    if (finished !== undefined) add('duration', `${duration(finished - job.createdAt)}  (${job.status} at ${clockTime(finished)}${via})`);
    else add('duration', `at most ${duration(job.updatedAt - job.createdAt)}  (the server no longer keeps when it finished)`);
  } else {
    add('elapsed', `${duration(now - job.createdAt)} since it was created`);
  }
  if (job.error !== null) add('error', `${job.error.code}: ${job.error.message}`);
  const input = job.input;
  if (input?.type === 'url') add('input', input.url);
  else if (input?.type === 'upload') add('input', `upload ${input.filename}  (${input.contentType}, ${byteSize(input.bytes)})`);
  if (job.retryOf !== null) add('retry of', job.retryOf);
  for (const retry of extras.retries ?? []) add('retried as', `${retry.id}  ${retry.status}`);
  if (job.after !== null) {
    const link = job.after;
    const how = [link.inputFrom === null ? '' : `input from its ${link.inputFrom}`, link.externalIdOption === null ? '' : `its external id as option ${link.externalIdOption}`]
      .filter(Boolean)
      .join(', ');
    add('waits for', `${link.jobId}${how === '' ? '' : `  (${how})`}${link.startedAt === null ? '  (not started yet)' : `  (started ${clockTime(link.startedAt)})`}`);
  }
  for (const next of extras.downstream ?? []) add('feeds', `${next.id}  ${next.provider}/${next.kind}  ${next.status}`);
  if (Object.keys(job.options).length > 0) add('options', JSON.stringify(job.options));
  if (Object.keys(job.metadata).length > 0) add('metadata', Object.entries(job.metadata).map(([key, value]) => `${key}=${String(value)}`).join('  '));
  if (job.result !== null) {
    const text = JSON.stringify(job.result);
    add('result', text.length <= 160 ? text : `${text.slice(0, 159)}…  (${byteSize(Buffer.byteLength(text))} of JSON: --json shows it all)`);
  }
  if (job.artifacts !== null) {
    add('copies', `${job.artifacts.state}${job.artifacts.error === null ? '' : `: ${job.artifacts.error}`}`);
  }
  const files = extras.files ?? [];
  if (files.length > 0) {
    const width = Math.min(40, Math.max(...files.map((file) => columnsOf(printable(file.name)))));
    add('result files', `${files.length} (jobstream results ${job.id} downloads them)`);
    for (const file of files) lines.push(['', `${padColumns(printable(file.name), width)}  ${file.contentType}${file.bytes === undefined ? '' : `  ${byteSize(file.bytes)}`}`]);
  }
  const title = `${job.id}${job.name === null ? '' : `  ${job.name}`}`;
  return [printable(title), ...lines.map(([label, value]) => printable(`  ${label.padEnd(13)}${value}`))];
}
