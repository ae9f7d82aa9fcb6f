import { createLogUpdate } from 'log-update';
import { auditTime, filter, firstValueFrom } from 'rxjs';
import type { RemoteClient } from '../client/node.js';
import { isSettled } from '../streams/job-reducer.js';
import type { JobSnapshot } from '../streams/job-snapshot.js';
import { JobStatus } from '../streams/job-status.js';
import { jobLine, jobTable } from './job-view.js';
import { fitFrame, type TerminalSize } from './terminal-frame.js';

/** Where a live view draws: a terminal (`isTTY`, `rows`, `columns`, `resize` events) or anything else. */
type Output = NodeJS.WritableStream & { isTTY?: boolean; rows?: number; columns?: number };

/** Options of {@link liveView}. */
export interface LiveViewOptions {
  /** Which jobs to show. */
  filter: Parameters<RemoteClient['jobs$']>[0];
  /** Job ids to wait for: the view ends once all have settled. Empty: until `signal`. */
  until: readonly string[];
  /** Ctrl-C. */
  signal: AbortSignal;
  /** Connection notices when `out` is not a terminal. @default process.stderr */
  notices?: NodeJS.WritableStream;
}

/** "3 running, 170 queued, 7 succeeded": how many jobs are in each status, in lattice order. */
export function statusCounts(jobs: Iterable<JobSnapshot>): string {
  const counts = new Map<string, number>();
  for (const job of jobs) counts.set(job.status, (counts.get(job.status) ?? 0) + 1);
  return JobStatus.options
    .filter((status) => counts.has(status))
    .map((status) => `${counts.get(status)} ${status}`)
    .join(', ');
}

/**
 * The lines of one frame of the live view for a terminal of `size`: a title with the
 * connection state and the totals, the job table fitted to the width, newest first, and, when
 * the jobs do not all fit, a last line saying how many more there are and in which states.
 */
export function liveFrame(jobs: ReadonlyMap<string, JobSnapshot>, state: string, size: TerminalSize, options: { now: number; colour: boolean }): string[] {
  const newestFirst = [...jobs.values()].sort((a, b) => (a.id < b.id ? 1 : -1));
  const total = `${newestFirst.length} job${newestFirst.length === 1 ? '' : 's'}${newestFirst.length === 0 ? '' : `: ${statusCounts(newestFirst)}`}`;
  const title = `jobstream watch — ${state} — ${total}`;
  const table = jobTable(newestFirst, { ...options, width: size.columns - 1 });
  return fitFrame([title, ...table], size, {
    keep: 2,
    more: (hidden) => `…and ${hidden} more (${statusCounts(newestFirst.slice(newestFirst.length - hidden))})`,
  });
}

/**
 * Follows the matching jobs until every job in `until` has settled (resolves 0 when all
 * succeeded, else 1) or until Ctrl-C (130).
 *
 * On a terminal it keeps one frame in place with log-update, fitted to the terminal's rows and
 * columns (see {@link liveFrame}) and refitted when the terminal is resized, so the header is
 * never repeated and the scrollback never grows; the last frame stays on screen at the end.
 * Anywhere else (a pipe, a file, CI) it prints one line per job change instead.
 */
export async function liveView(client: RemoteClient, out: Output, options: LiveViewOptions): Promise<number> {
  const tty = out.isTTY === true;
  const notices = options.notices ?? process.stderr;
  const render = tty ? createLogUpdate(out) : undefined;
  let state = 'connecting';
  let latest: ReadonlyMap<string, JobSnapshot> = new Map();
  const printed = new Map<string, number>();
  const draw = (): void => {
    if (render !== undefined) {
      render(liveFrame(latest, state, { rows: out.rows ?? 24, columns: out.columns ?? 80 }, { now: Date.now(), colour: true }).join('\n'));
      return;
    }
    // One line per job version not printed yet, oldest change first.
    const fresh = [...latest.values()].filter((job) => printed.get(job.id) !== job.version).sort((a, b) => a.updatedAt - b.updatedAt);
    for (const job of fresh) {
      printed.set(job.id, job.version);
      out.write(`${jobLine(job)}\n`);
    }
  };
  let opened = false;
  const states = client.state$.subscribe((next) => {
    // Without a terminal only what happens after the first connection is news.
    if (!tty && opened && next !== state) notices.write(`jobstream: connection ${next}\n`);
    state = next;
    if (next === 'open') opened = true;
    if (tty) draw();
  });
  const ticker = tty ? setInterval(draw, 1000) : undefined;
  const onResize = (): void => draw();
  out.on('resize', onResize);
  try {
    const settled = client.jobs$(options.filter).pipe(
      auditTime(tty ? 50 : 0),
      filter((jobs) => {
        latest = jobs;
        draw();
        return options.until.length > 0 && options.until.every((id) => jobs.get(id) !== undefined && isSettled(jobs.get(id) as JobSnapshot));
      }),
    );
    const stopped = new Promise<'stopped'>((resolve) => {
      if (options.signal.aborted) resolve('stopped');
      options.signal.addEventListener('abort', () => resolve('stopped'), { once: true });
    });
    const outcome = await Promise.race([firstValueFrom(settled), stopped]);
    if (outcome === 'stopped') return 130;
    return options.until.every((id) => outcome.get(id)?.status === 'succeeded') ? 0 : 1;
  } finally {
    states.unsubscribe();
    clearInterval(ticker);
    out.off('resize', onResize);
    // Leaves the last frame on screen and shows the cursor again.
    render?.done();
  }
}
