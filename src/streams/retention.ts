import type { SchedulerAction, SchedulerLike, Subscription } from 'rxjs';
import { isSettled } from './job-reducer.js';
import type { JobSnapshot } from './job-snapshot.js';
import type { JobRemoval } from './job-store.js';

/** How often a sweep runs after the one at start. */
export const SWEEP_INTERVAL_MS = 60 * 60_000;

/** How many jobs one store write removes at most (one journal batch, one script call). */
const REMOVE_CHUNK = 500;

/**
 * Checks a retention period: `undefined` (keep forever) or a positive, finite number of ms.
 * @throws RangeError otherwise
 */
export function validRetainMs(retainMs: number | undefined): number | undefined {
  if (retainMs !== undefined && !(Number.isFinite(retainMs) && retainMs > 0)) {
    throw new RangeError(`retainMs must be a positive number of milliseconds, not ${retainMs}`);
  }
  return retainMs;
}

/** What `GET /v1/retention` answers: the policy and what the sweeps did. */
export interface RetentionStatus {
  /** The retention period in days; `null` when jobs are kept forever. */
  retainDays: number | null;
  /** When this process last finished a sweep (epoch ms); `null` before the first. */
  lastSweepAt: number | null;
  /** Jobs this process removed since it started. */
  removedTotal: number;
  /** When the oldest finished job still kept settled (epoch ms); `null` when none is kept. */
  oldestKeptFinishedAt: number | null;
}

/** What one sweep did. */
export interface RetentionSweep {
  /** When it ran (the scheduler's time). */
  at: number;
  /** The ids removed. */
  removed: string[];
}

/** Options of {@link Retention}. */
export interface RetentionOptions {
  /** Finished jobs settled longer ago than this many milliseconds are removed; `undefined`: none. */
  retainMs: number | undefined;
  /** Time and timers. */
  scheduler: SchedulerLike;
  /**
   * Time between sweeps after the one at start.
   * @default 1 hour
   */
  intervalMs?: number;
  /** Every job the engine holds (published versions). */
  jobs: () => Iterable<JobSnapshot>;
  /** Removes jobs from the store and the table (see `JobTable.remove`); resolves with the ids removed. */
  remove: (removals: readonly JobRemoval[]) => Promise<string[]>;
  /** Deletes what a job left on disk besides its record: result copies, the kept input. */
  removeFiles: (id: string) => Promise<void>;
  /** Hears each sweep that removed something. */
  onSwept?: (sweep: RetentionSweep) => void;
  /** Hears a sweep that failed (it runs again at the next interval). */
  onError: (error: unknown) => void;
}

/**
 * The retention policy: a sweep at start and then every hour removes the finished jobs that
 * settled (terminal, no result copy pending) more than `retainMs` ago: first the files they left
 * (result copies, kept upload inputs), then their records, from the store durably and from the
 * table (see `JobTable.remove`). Files first, so a crash in between leaves a job whose copies are
 * gone (its results are then fetched from the provider, as for any job without copies), never
 * files that no record names. Running, waiting and recently finished jobs stay, as does a job
 * whose settled time is in the future of this clock.
 *
 * The settled time is the `updatedAt` of the job's settled version: the time of its terminal
 * change, or of the result copy that settled it.
 *
 * @example
 * const retention = new Retention({ retainMs: 7 * 86_400_000, scheduler, jobs, remove, removeFiles, onError });
 * retention.start();
 */
export class Retention {
  readonly #options: RetentionOptions;
  readonly #intervalMs: number;
  #timer: Subscription | undefined;
  #sweeping: Promise<RetentionSweep> | undefined;
  #lastSweepAt: number | null = null;
  #removedTotal = 0;
  #closed = false;

  constructor(options: RetentionOptions) {
    validRetainMs(options.retainMs);
    this.#intervalMs = options.intervalMs ?? SWEEP_INTERVAL_MS;
    if (!(Number.isFinite(this.#intervalMs) && this.#intervalMs > 0)) throw new RangeError(`intervalMs must be positive, not ${this.#intervalMs}`);
    this.#options = options;
  }

  /** Sweeps now and then every interval, when a period is set. */
  start(): void {
    if (this.#options.retainMs === undefined || this.#timer !== undefined || this.#closed) return;
    const tick = (): void => {
      this.sweep().catch((error: unknown) => this.#options.onError(error));
    };
    const interval = this.#intervalMs;
    tick();
    this.#timer = this.#options.scheduler.schedule(function (this: SchedulerAction<unknown>) {
      tick();
      this.schedule(undefined, interval);
    }, interval);
  }

  /**
   * Removes the jobs due now (a sweep already running is joined). Without a period, removes
   * nothing.
   */
  sweep(): Promise<RetentionSweep> {
    this.#sweeping ??= this.#sweep().finally(() => {
      this.#sweeping = undefined;
    });
    return this.#sweeping;
  }

  /** The policy and what the sweeps did, as of now. */
  get status(): RetentionStatus {
    let oldest: number | null = null;
    for (const job of this.#options.jobs()) if (isSettled(job) && (oldest === null || job.updatedAt < oldest)) oldest = job.updatedAt;
    const { retainMs } = this.#options;
    return {
      retainDays: retainMs === undefined ? null : retainMs / 86_400_000,
      lastSweepAt: this.#lastSweepAt,
      removedTotal: this.#removedTotal,
      oldestKeptFinishedAt: oldest,
    };
  }

  /** Stops the timer and waits for a sweep under way. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#timer?.unsubscribe();
    this.#timer = undefined;
    await this.#sweeping?.catch(() => undefined);
  }

  async #sweep(): Promise<RetentionSweep> {
    const { retainMs, scheduler } = this.#options;
    const at = scheduler.now();
    const removed: string[] = [];
    if (retainMs === undefined || this.#closed) return { at, removed };
    const cutoff = at - retainMs;
    const due: JobRemoval[] = [];
    for (const job of this.#options.jobs()) if (isSettled(job) && job.updatedAt < cutoff) due.push({ id: job.id, version: job.version });
    for (let i = 0; i < due.length && !this.#closed; i += REMOVE_CHUNK) {
      const chunk = due.slice(i, i + REMOVE_CHUNK);
      for (const { id } of chunk) await this.#options.removeFiles(id);
      const gone = await this.#options.remove(chunk);
      this.#removedTotal += gone.length;
      removed.push(...gone);
    }
    this.#lastSweepAt = scheduler.now();
    if (removed.length > 0) this.#options.onSwept?.({ at, removed });
    return { at, removed };
  }
}
