import { z } from 'zod';
import { StoreCorruptError } from '../streams/errors.js';
import { JobSnapshot } from '../streams/job-snapshot.js';
import { JobStatus } from '../streams/job-status.js';
import type { LoggedChange } from '../streams/shared-log.js';

/**
 * One job version as the Redis shared log keeps it, both as the job's latest record (hash
 * `jobs`) and as a change of the log (stream `log`, field `c`): the same JSON text in both.
 */
export const RedisLogRecord = z.object({
  seq: z.number().int().positive(),
  previousStatus: JobStatus.nullable(),
  secret: z.string().min(16),
  job: JobSnapshot,
});
export type RedisLogRecord = z.infer<typeof RedisLogRecord>;

/**
 * The record without its seq, as the commit script receives it: the JSON text of
 * `{"seq":<seq>,` + this. The script prefixes the seq it assigns, so the JSON of the job is
 * never re-encoded in Lua (whose cjson would round numbers to 14 digits).
 */
export function recordTail(change: { job: JobSnapshot; secret: string; previousStatus: JobStatus | null }): string {
  return JSON.stringify({ previousStatus: change.previousStatus, secret: change.secret, job: change.job }).slice(1);
}

/**
 * Reads a stored record; a damaged one is a {@link StoreCorruptError} that names where it was
 * (`where`: e.g. `Redis hash jobstream:jobs, field job_…`) and what is wrong with it.
 */
export function parseRecord(text: string, where: string): LoggedChange {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new StoreCorruptError(where, 'not JSON', { cause: error });
  }
  const parsed = RedisLogRecord.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const problem = issue === undefined ? 'invalid record' : `${issue.path.join('.') || 'record'}: ${issue.message}`;
    throw new StoreCorruptError(where, problem);
  }
  return parsed.data;
}
