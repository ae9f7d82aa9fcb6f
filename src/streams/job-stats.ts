import { InvalidRequestError } from './errors.js';
import type { JobSnapshot } from './job-snapshot.js';
import type { JobStatus } from './job-status.js';
import { isTerminal } from './job-status.js';

/** The smallest bucket width {@link computeJobStats} accepts. */
export const MIN_STATS_BUCKET_MS = 1000;
/** The most buckets one {@link computeJobStats} answer may have. */
export const MAX_STATS_BUCKETS = 1000;
/** The window when none is asked for: the last hour. */
export const DEFAULT_STATS_WINDOW_MS = 3_600_000;
/** The number of buckets when no width is asked for. */
export const DEFAULT_STATS_BUCKETS = 60;

/** The window and bucket width of a stats answer, epoch milliseconds; `[from, to)`. */
export interface JobStatsQuery {
  from: number;
  to: number;
  bucketMs: number;
}

/** One time bucket: jobs created in it (by `createdAt`) and jobs that finished in it (by finish time). */
export interface StatsBucket {
  start: number;
  created: number;
  succeeded: number;
  failed: number;
  canceled: number;
}

/** Figures over the stored jobs, as `GET /v1/stats/jobs` answers them. */
export interface JobStats extends JobStatsQuery {
  buckets: StatsBucket[];
  /** Jobs by status now, over every kept job (whatever the window). */
  statusNow: Record<JobStatus, number>;
  /** Time from creation to finish of the jobs that finished in the window, per provider and kind. */
  durations: Array<{ provider: string; kind: string; count: number; p50Ms: number; p95Ms: number; maxMs: number }>;
  /** Of the jobs that finished in the window, per provider, how many failed (canceled ones count as finished, not failed). */
  failureRate: Array<{ provider: string; finished: number; failed: number; rate: number }>;
  /**
   * For the jobs that finished in the window and were reported finished by both channels: per
   * provider and the channel that saw it first (`source`), the time until the other one did.
   */
  detectionLag: Array<{ provider: string; source: 'webhook' | 'poll'; count: number; p50Ms: number; p95Ms: number }>;
}

/**
 * Fills in and checks a stats query: `to` defaults to `now`, `from` to an hour before `to`,
 * `bucketMs` to a 60th of the window (at least {@link MIN_STATS_BUCKET_MS}).
 *
 * @throws InvalidRequestError when `from >= to`, `bucketMs` is below the minimum, or the window
 *   would need more than {@link MAX_STATS_BUCKETS} buckets.
 * @example resolveStatsQuery({ bucketMs: 60_000 }, Date.now()) // the last hour by minute
 */
export function resolveStatsQuery(query: Partial<JobStatsQuery>, now: number): JobStatsQuery {
  const to = query.to ?? now;
  const from = query.from ?? to - DEFAULT_STATS_WINDOW_MS;
  const issues: Array<{ field: string; reason: string }> = [];
  for (const [field, value] of [['from', from], ['to', to], ['bucketMs', query.bucketMs]] as const) {
    if (value !== undefined && !Number.isFinite(value)) issues.push({ field, reason: 'not a finite number' });
  }
  if (issues.length > 0) throw new InvalidRequestError(issues);
  if (from >= to) throw new InvalidRequestError([{ field: 'from', reason: 'must be before to' }]);
  const bucketMs = query.bucketMs ?? Math.max(MIN_STATS_BUCKET_MS, Math.ceil((to - from) / DEFAULT_STATS_BUCKETS));
  if (!Number.isInteger(bucketMs) || bucketMs < MIN_STATS_BUCKET_MS) {
    throw new InvalidRequestError([{ field: 'bucketMs', reason: `must be a whole number of milliseconds, at least ${MIN_STATS_BUCKET_MS}` }]);
  }
  const buckets = Math.ceil((to - from) / bucketMs);
  if (buckets > MAX_STATS_BUCKETS) {
    throw new InvalidRequestError([{ field: 'bucketMs', reason: `the window would need ${buckets} buckets; at most ${MAX_STATS_BUCKETS}` }]);
  }
  return { from, to, bucketMs };
}

/**
 * When a job finished: its `finished.at`, or for a record older than that field its `updatedAt`
 * (close: the last change of a finished job is its terminal one or its result copies);
 * `undefined` while it is unfinished.
 */
export function finishedAt(job: JobSnapshot): number | undefined {
  if (!isTerminal(job.status)) return undefined;
  return job.finished?.at ?? job.updatedAt;
}

/**
 * Computes the stats of a window over these jobs (see {@link JobStats}). Pure and linear in the
 * number of jobs (plus sorting the durations): no clock, no I/O. The query must be resolved
 * ({@link resolveStatsQuery}).
 *
 * @example computeJobStats(engine.snapshot().jobs, resolveStatsQuery({}, Date.now()))
 */
export function computeJobStats(jobs: Iterable<JobSnapshot>, query: JobStatsQuery): JobStats {
  const { from, to, bucketMs } = query;
  const count = Math.ceil((to - from) / bucketMs);
  const created = new Uint32Array(count);
  const succeeded = new Uint32Array(count);
  const failed = new Uint32Array(count);
  const canceled = new Uint32Array(count);
  const statusNow: Record<JobStatus, number> = { queued: 0, running: 0, succeeded: 0, failed: 0, canceled: 0 };
  // Keyed by provider, then kind (or source): no key strings built per job.
  const durations = new Map<string, Map<string, number[]>>();
  const failures = new Map<string, { finished: number; failed: number }>();
  const lags = new Map<string, { webhook: number[]; poll: number[] }>();

  for (const job of jobs) {
    statusNow[job.status] += 1;
    if (job.createdAt >= from && job.createdAt < to) {
      const c = Math.floor((job.createdAt - from) / bucketMs);
      created[c] = (created[c] ?? 0) + 1;
    }
    const at = finishedAt(job);
    if (at === undefined || at < from || at >= to) continue;
    const i = Math.floor((at - from) / bucketMs);
    if (job.status === 'succeeded') succeeded[i] = (succeeded[i] ?? 0) + 1;
    else if (job.status === 'failed') failed[i] = (failed[i] ?? 0) + 1;
    else canceled[i] = (canceled[i] ?? 0) + 1;

    let byKind = durations.get(job.provider);
    if (byKind === undefined) durations.set(job.provider, (byKind = new Map<string, number[]>()));
    let duration = byKind.get(job.kind);
    if (duration === undefined) byKind.set(job.kind, (duration = []));
    duration.push(Math.max(0, at - job.createdAt));

    let failure = failures.get(job.provider);
    if (failure === undefined) failures.set(job.provider, (failure = { finished: 0, failed: 0 }));
    failure.finished += 1;
    if (job.status === 'failed') failure.failed += 1;

    const finished = job.finished ?? null;
    if (finished !== null && finished.confirmLagMs !== null && (finished.source === 'poll' || finished.source === 'webhook')) {
      let lag = lags.get(job.provider);
      if (lag === undefined) lags.set(job.provider, (lag = { webhook: [], poll: [] }));
      lag[finished.source].push(finished.confirmLagMs);
    }
  }

  const buckets: StatsBucket[] = [];
  for (let i = 0; i < count; i++) {
    buckets.push({ start: from + i * bucketMs, created: created[i] ?? 0, succeeded: succeeded[i] ?? 0, failed: failed[i] ?? 0, canceled: canceled[i] ?? 0 });
  }
  const byName = <T extends { provider: string; kind?: string; source?: string }>(a: T, b: T): number =>
    a.provider.localeCompare(b.provider) || (a.kind ?? a.source ?? '').localeCompare(b.kind ?? b.source ?? '');
  return {
    from,
    to,
    bucketMs,
    buckets,
    statusNow,
    durations: [...durations.entries()]
      .flatMap(([provider, byKind]) =>
        [...byKind.entries()].map(([kind, values]) => {
          const sorted = Float64Array.from(values).sort();
          return { provider, kind, count: sorted.length, p50Ms: percentile(sorted, 0.5), p95Ms: percentile(sorted, 0.95), maxMs: sorted[sorted.length - 1] ?? 0 };
        }),
      )
      .sort(byName),
    failureRate: [...failures.entries()]
      .map(([provider, { finished, failed: failedCount }]) => ({ provider, finished, failed: failedCount, rate: finished === 0 ? 0 : failedCount / finished }))
      .sort(byName),
    detectionLag: [...lags.entries()]
      .flatMap(([provider, bySource]) =>
        (['poll', 'webhook'] as const)
          .filter((source) => bySource[source].length > 0)
          .map((source) => {
            const sorted = Float64Array.from(bySource[source]).sort();
            return { provider, source, count: sorted.length, p50Ms: percentile(sorted, 0.5), p95Ms: percentile(sorted, 0.95) };
          }),
      )
      .sort(byName),
  };
}

/** The nearest-rank percentile of sorted values (0 for none). */
function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? 0;
}
