import { z } from 'zod';
import { isTerminal, JobStatus } from './job-status.js';
import type { JobSnapshot } from './job-snapshot.js';

/**
 * Which jobs a subscriber wants. Every given field narrows the selection (AND); within a field,
 * any listed value matches (OR). An empty filter matches every job. `metadata` matches jobs whose
 * metadata has every listed key with exactly that value (`"42"` does not match `42`).
 */
export const JobFilter = z.object({
  ids: z.array(z.string().min(1)).max(10_000).optional(),
  providers: z.array(z.string().min(1)).max(100).optional(),
  kinds: z.array(z.string().min(1)).max(100).optional(),
  statuses: z.array(JobStatus).max(5).optional(),
  metadata: z
    .record(z.string().min(1).max(256), z.union([z.string(), z.number(), z.boolean()]))
    .refine((metadata) => Object.keys(metadata).length <= 20, { message: 'at most 20 metadata keys' })
    .optional(),
});
export type JobFilter = z.infer<typeof JobFilter>;

/** A compiled {@link JobFilter}: set lookups instead of array scans. */
export type JobPredicate = (job: JobSnapshot, previousStatus?: JobStatus | null) => boolean;

/**
 * Compiles a filter. With `statuses`, a change also matches when the job *leaves* one of the
 * statuses (its previous status matched), so a subscriber to `running` sees jobs finish.
 *
 * @example
 * const running = compileFilter({ statuses: ['running'] });
 * running(job, 'running') // true even when job.status is now 'succeeded'
 */
export function compileFilter(filter: JobFilter = {}): JobPredicate {
  // The common "everything" filter shares one predicate (a subscriber holds no closure of its own).
  if (filter.ids === undefined && filter.providers === undefined && filter.kinds === undefined && filter.statuses === undefined && filter.metadata === undefined) {
    return matchesEverything;
  }
  const ids = filter.ids && new Set(filter.ids);
  const providers = filter.providers && new Set(filter.providers);
  const kinds = filter.kinds && new Set(filter.kinds);
  const statuses = filter.statuses && new Set(filter.statuses);
  const metadata = filter.metadata && Object.entries(filter.metadata);
  return (job, previousStatus) =>
    (ids === undefined || ids.has(job.id)) &&
    (metadata === undefined || metadata.every(([key, value]) => Object.hasOwn(job.metadata, key) && job.metadata[key] === value)) &&
    (providers === undefined || providers.has(job.provider)) &&
    (kinds === undefined || kinds.has(job.kind)) &&
    (statuses === undefined ||
      statuses.has(job.status) ||
      (previousStatus !== undefined && previousStatus !== null && statuses.has(previousStatus)));
}

function matchesEverything(): boolean {
  return true;
}

/**
 * Whether a change is the moment its job *entered* one of `statuses`: the job is in one now and
 * was not before. A job enters a status at most once (statuses only move forward), so acting on
 * these changes acts once per job, unlike a `statuses` filter, which also matches the later
 * changes of a job that stays there (the result copies of a succeeded job, say) and the change
 * that leaves it.
 *
 * @example entered({ job, previousStatus }, new Set(['succeeded'])) // true once per job
 */
export function entered(change: { job: JobSnapshot; previousStatus: JobStatus | null }, statuses: ReadonlySet<JobStatus>): boolean {
  return statuses.has(change.job.status) && (change.previousStatus === null || !statuses.has(change.previousStatus));
}

/**
 * Whether a change is the moment its job settled: terminal, and its result files copied (when
 * they are). Once per job: the terminal change of a job without copies, or the change that
 * recorded its copies (`source: 'results'`).
 */
export function settledBy(change: { job: JobSnapshot; previousStatus: JobStatus | null }): boolean {
  const { job, previousStatus } = change;
  if (!isTerminal(job.status) || job.artifacts?.state === 'pending') return false;
  return previousStatus === null || !isTerminal(previousStatus) || job.source === 'results';
}
