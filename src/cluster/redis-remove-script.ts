import type { Redis } from 'ioredis';
import type { JobRemoval } from '../streams/job-store.js';
import type { RedisLogKeys } from './redis-commit-script.js';

/**
 * The removal of settled jobs (retention), one atomic step in Redis (a script runs alone):
 * 0. if the keyspace's epoch is not this log's, remove nothing and answer `{-1, epoch found}`;
 * 1. for each job: if its stored version is the given one or older, delete its record (`jobs`)
 *    and its version (`versions`); a job with no record is already gone (another member removed
 *    it): both count as removed. A newer stored version stays;
 * 2. when anything is gone, raise `removed-at` to the current seq: a member that loads later
 *    does not bring back a removed job's changes from the stream, and readers at or before it
 *    resume by state;
 * 3. answer `{1, seq, removed ids}`.
 *
 * The stream keeps the removed jobs' old changes until it is trimmed; nothing reads them back
 * (loads skip changes up to `removed-at`). Idempotent: two members sweeping at once, or a retry
 * after a lost answer, answer the same.
 *
 * KEYS: versions, jobs, seq, epoch, removed-at. ARGV: epoch, then id and version per job.
 */
export const REMOVE_LUA = `
local epoch = redis.call('GET', KEYS[4])
if epoch ~= ARGV[1] then
  if epoch then return {-1, epoch} end
  return {-1}
end
local seq = tonumber(redis.call('GET', KEYS[3]) or '0')
local removed = {}
for i = 2, #ARGV - 1, 2 do
  local id = ARGV[i]
  local stored = redis.call('HGET', KEYS[1], id)
  if not stored then
    table.insert(removed, id)
  elseif tonumber(stored) <= tonumber(ARGV[i + 1]) then
    redis.call('HDEL', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    table.insert(removed, id)
  end
end
if #removed > 0 and seq > tonumber(redis.call('GET', KEYS[5]) or '0') then
  redis.call('SET', KEYS[5], string.format('%d', seq))
end
return {1, seq, removed}
`;

/** What the removal script answered. */
export type RemoveReply = { type: 'removed'; seq: number; removed: string[] } | { type: 'epoch-changed'; found: string | null };

type RemoveCommand = (...args: (string | number)[]) => Promise<unknown>;

const COMMAND = 'jobstreamRemove';

/** Registers the removal script on a connection and returns the call (see {@link REMOVE_LUA}). */
export function defineRemove(redis: Redis, keys: RedisLogKeys, epoch: string): (removals: readonly JobRemoval[]) => Promise<RemoveReply> {
  redis.defineCommand(COMMAND, { numberOfKeys: 5, lua: REMOVE_LUA });
  const scripted = redis as unknown as Record<typeof COMMAND, RemoveCommand>;
  return async (removals) => {
    const args = removals.flatMap(({ id, version }) => [id, version]);
    const reply = await scripted[COMMAND](keys.versions, keys.jobs, keys.seq, keys.epoch, keys.removedAt, epoch, ...args);
    if (!Array.isArray(reply)) throw new TypeError('the removal script answered something other than an array');
    const [flag, value, ids] = reply as unknown[];
    if (flag === 1 && typeof value === 'number' && Array.isArray(ids) && ids.every((id) => typeof id === 'string')) {
      return { type: 'removed', seq: value, removed: ids };
    }
    if (flag === -1 && (value === undefined || typeof value === 'string')) return { type: 'epoch-changed', found: value ?? null };
    throw new TypeError('the removal script answered an unexpected shape');
  };
}
