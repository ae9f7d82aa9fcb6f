import { z } from 'zod';

/**
 * Where a job stands. The statuses form a lattice: `queued` (rank 0) → `running` (rank 1) →
 * `succeeded | failed | canceled` (rank 2, terminal). A job only ever moves up.
 */
export const JobStatus = z.enum(['queued', 'running', 'succeeded', 'failed', 'canceled']);
export type JobStatus = z.infer<typeof JobStatus>;

/** The three statuses a job never leaves. */
export const TERMINAL_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'canceled'];

/**
 * The rank of a status in the lattice: 0 for `queued`, 1 for `running`, 2 for every terminal one.
 *
 * @example rank('running') // 1
 */
export function rank(status: JobStatus): 0 | 1 | 2 {
  switch (status) {
    case 'queued':
      return 0;
    case 'running':
      return 1;
    case 'succeeded':
    case 'failed':
    case 'canceled':
      return 2;
  }
}

/**
 * Whether a job in this status is finished for good.
 *
 * @example isTerminal('failed') // true
 */
export function isTerminal(status: JobStatus): boolean {
  return rank(status) === 2;
}
