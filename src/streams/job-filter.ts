import { z } from 'zod';
import { JobStatus } from './job-status.js';
import type { JobSnapshot } from './job-snapshot.js';

/**
 * Which jobs a subscriber wants. Every given field narrows the selection (AND); within a field,
 * any listed value matches (OR). An empty filter matches every job.
 */
export const JobFilter = z.object({
  ids: z.array(z.string().min(1)).max(10_000).optional(),
  providers: z.array(z.string().min(1)).max(100).optional(),
  kinds: z.array(z.string().min(1)).max(100).optional(),
  statuses: z.array(JobStatus).max(5).optional(),
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
  const ids = filter.ids && new Set(filter.ids);
  const providers = filter.providers && new Set(filter.providers);
  const kinds = filter.kinds && new Set(filter.kinds);
  const statuses = filter.statuses && new Set(filter.statuses);
  return (job, previousStatus) =>
    (ids === undefined || ids.has(job.id)) &&
    (providers === undefined || providers.has(job.provider)) &&
    (kinds === undefined || kinds.has(job.kind)) &&
    (statuses === undefined ||
      statuses.has(job.status) ||
      (previousStatus !== undefined && previousStatus !== null && statuses.has(previousStatus)));
}
