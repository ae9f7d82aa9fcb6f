import type { Redis } from 'ioredis';

/** The keys one commit touches, all under the log's prefix. */
export interface RedisLogKeys {
  epoch: string;
  /** The last seq given out (a string of digits; absent: 0). */
  seq: string;
  /** Hash: job id → the JSON record of its latest version. */
  jobs: string;
  /** Hash: job id → its latest version, for the cheap check. */
  versions: string;
  /** Stream of changes; entry `<seq>-0`, field `c`: the JSON record. */
  log: string;
  /** The seq at the last removal of jobs (retention; absent: none). */
  removedAt: string;
}

/** The keys of a log whose keys start with `prefix`. */
export function redisLogKeys(prefix: string): RedisLogKeys {
  return {
    epoch: `${prefix}epoch`,
    seq: `${prefix}seq`,
    jobs: `${prefix}jobs`,
    versions: `${prefix}versions`,
    log: `${prefix}log`,
    removedAt: `${prefix}removed-at`,
  };
}

/**
 * The commit, one atomic step in Redis (a script runs alone):
 * 0. if the keyspace's epoch is not this log's (Redis lost or replaced its data), write nothing
 *    and answer `{-1, epoch found}`;
 * 1. read the job's stored version (absent: 0);
 * 2. if it is the expected one: append the change to the stream as `<seq>-0` (trimmed to about
 *    `maxlen`), then store seq, record and version; answer `{1, seq}`;
 * 3. else, if the stored version is the new one and the stored record is this very change (an
 *    earlier try of this commit went through), answer `{1, its seq}`;
 * 4. else answer `{0, stored record}` (`{0}` when there is none): a conflict.
 *
 * The stream append comes first because it is the one write that can fail (an id not above
 * the stream's last one would mean a damaged keyspace), and Redis does not undo the writes of a
 * script that fails halfway: failing first leaves nothing half-done.
 *
 * KEYS: versions, jobs, seq, log, epoch. ARGV: id, expected version, new version, record tail
 * (the record's JSON after `{"seq":<seq>,`), maxlen, epoch.
 */
export const COMMIT_LUA = `
local epoch = redis.call('GET', KEYS[5])
if epoch ~= ARGV[6] then
  if epoch then return {-1, epoch} end
  return {-1}
end
local stored = redis.call('HGET', KEYS[1], ARGV[1])
local version = 0
if stored then version = tonumber(stored) end
if version == tonumber(ARGV[2]) then
  local seq = string.format('%d', tonumber(redis.call('GET', KEYS[3]) or '0') + 1)
  local record = '{"seq":' .. seq .. ',' .. ARGV[4]
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[5], seq .. '-0', 'c', record)
  redis.call('SET', KEYS[3], seq)
  redis.call('HSET', KEYS[2], ARGV[1], record)
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  return {1, tonumber(seq)}
end
local record = redis.call('HGET', KEYS[2], ARGV[1])
if record and version == tonumber(ARGV[3]) then
  local seq, tail = string.match(record, '^{"seq":(%d+),(.*)$')
  if tail == ARGV[4] then return {1, tonumber(seq)} end
end
if record then return {0, record} end
return {0}
`;

/** What the script answered: committed with a seq, a conflict with the stored record's JSON, or another epoch. */
export type CommitReply =
  | { type: 'committed'; seq: number }
  | { type: 'conflict'; stored: string | undefined }
  | { type: 'epoch-changed'; found: string | null };

type CommitCommand = (
  ...args: [versions: string, jobs: string, seq: string, log: string, epochKey: string, id: string, expected: number, version: number, tail: string, maxlen: number, epoch: string]
) => Promise<unknown>;

const COMMAND = 'jobstreamCommit';

/**
 * Registers the commit script on a connection (ioredis sends it by SHA, and the text again
 * after Redis lost its script cache, e.g. on a restart) and returns the call.
 */
export function defineCommit(
  redis: Redis,
  keys: RedisLogKeys,
  epoch: string,
  maxlen: number,
): (id: string, expectedVersion: number, version: number, tail: string) => Promise<CommitReply> {
  redis.defineCommand(COMMAND, { numberOfKeys: 5, lua: COMMIT_LUA });
  const scripted = redis as unknown as Record<typeof COMMAND, CommitCommand>;
  return async (id, expectedVersion, version, tail) => {
    const reply = await scripted[COMMAND](keys.versions, keys.jobs, keys.seq, keys.log, keys.epoch, id, expectedVersion, version, tail, maxlen, epoch);
    if (!Array.isArray(reply)) throw new TypeError('the commit script answered something other than an array');
    const [flag, value] = reply as unknown[];
    if (flag === 1 && typeof value === 'number') return { type: 'committed', seq: value };
    if (flag === 0 && (value === undefined || typeof value === 'string')) return { type: 'conflict', stored: value };
    if (flag === -1 && (value === undefined || typeof value === 'string')) return { type: 'epoch-changed', found: value ?? null };
    throw new TypeError('the commit script answered an unexpected shape');
  };
}
