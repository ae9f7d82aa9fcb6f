import { z } from 'zod';
import { JobSnapshot } from './job-snapshot.js';
import { JobStatus } from './job-status.js';

/**
 * One entry of the engine's ordered change log: a job's new snapshot, published once it is
 * durable. `seq` rises by one per change within an `epoch` (one engine process lifetime), so
 * `{ epoch, seq }` is a resume point.
 */
export const JobChange = z.object({
  epoch: z.string().min(1),
  seq: z.number().int().positive(),
  job: JobSnapshot,
  /** The status before this change; `null` when the job is new. */
  previousStatus: JobStatus.nullable(),
});
export type JobChange = z.infer<typeof JobChange>;
