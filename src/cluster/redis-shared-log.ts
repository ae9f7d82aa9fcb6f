import type { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { StoreCorruptError } from '../streams/errors.js';
import { mintEpoch } from '../streams/job-id.js';
import type { JobSnapshot } from '../streams/job-snapshot.js';
import type { JobStatus } from '../streams/job-status.js';
import type { JobRemoval, StoredJob } from '../streams/job-store.js';
import type { CommitOutcome, LoggedChange, SharedLog } from '../streams/shared-log.js';
import { defineCommit, redisLogKeys, type CommitReply, type RedisLogKeys } from './redis-commit-script.js';
import { asStoreError, connectRedis, createRedisConnection, duplicateForBlocking, isRedisConnectionError } from './redis-connection.js';
import { LogClosedError, LogEpochChangedError } from './redis-log-errors.js';
import { defineRemove, type RemoveReply } from './redis-remove-script.js';
import { followRedisLog, type FollowHandlers } from './redis-log-follower.js';
import { parseRecord, recordTail } from './redis-log-record.js';

/** Options of {@link RedisSharedLog.open}. */
export interface RedisSharedLogOptions {
  /** `redis://[user:password@]host[:port][/db]` (or `rediss://` for TLS). */
  url: string;
  /**
   * What every key of this log starts with; instances with the same Redis and prefix form one
   * cluster. On a Redis Cluster (sharded) the commit script needs all keys in one slot: use a
   * hash tag, e.g. `{jobstream}:`.
   * @default 'jobstream:'
   */
  prefix?: string;
  /**
   * About how many changes the stream keeps (`XADD MAXLEN ~`: Redis trims whole blocks of
   * entries, so a few more may stay). Clients and followers further behind get a snapshot.
   * @default 10_000
   */
  changeLogSize?: number;
  /**
   * How long one Redis command may take; a commit while Redis is stuck rejects after this (a
   * closed connection rejects at once).
   * @default 1000
   */
  commandTimeoutMs?: number;
  /** Hears every change of {@link RedisSharedLog.available} (for logs; `/healthz` reads the flag). */
  onAvailabilityChange?: (available: boolean) => void;
}

/** {@link RedisSharedLogOptions}, validated and defaulted. */
interface NormalizedOptions {
  url: string;
  prefix: string;
  changeLogSize: number;
  commandTimeoutMs: number;
  onAvailabilityChange: ((available: boolean) => void) | undefined;
}

/** How long a follower's `XREAD` blocks; a stop disconnects it, so this only bounds idle reads. */
const FOLLOW_BLOCK_MS = 2000;
/** How many changes a follower reads at once. */
const FOLLOW_COUNT = 500;
/** The longest pause between a follower's tries while Redis is away. */
const FOLLOW_MAX_BACKOFF_MS = 500;
/** Entries or fields per `XRANGE` / `HSCAN` call. */
const PAGE = 1000;
/** How often a log that timed out on a connected Redis asks it again whether it is back. */
const PROBE_MS = 250;

/**
 * The {@link SharedLog} of a cluster, on Redis 7 (via ioredis). Keys, all under the prefix
 * (default `jobstream:`):
 * - `epoch`: the log's name, minted once (`SET NX`) by the first instance to open the keyspace;
 * - `seq`: the last seq given out;
 * - `jobs`: hash of job id → JSON `{seq, previousStatus, secret, job}` of the latest version;
 * - `versions`: hash of job id → latest version (the commit's cheap check);
 * - `log`: stream of changes, entry id `<seq>-0`, field `c` = the same JSON, trimmed to about
 *   `changeLogSize` entries;
 * - `removed-at`: the seq at the last removal of jobs (retention, see {@link remove}).
 *
 * A commit is one Lua script (epoch check, version check, append, store: see
 * `redis-commit-script.ts`). While Redis is unreachable every request rejects at once with a
 * `StoreUnavailableError` (a stuck Redis: after `commandTimeoutMs`), {@link available} is
 * false, and the connections come back by themselves.
 *
 * Durability is what Redis's persistence gives an acknowledged commit (Redis answers after
 * the script's writes reached its append-only file as configured):
 * - `appendonly yes` + `appendfsync always`: fsynced before the answer; survives a crash of
 *   Redis and of its machine (power loss). The setting to use when a 2xx to a webhook must mean
 *   "kept".
 * - `appendonly yes` + `appendfsync everysec` (Redis's default with AOF): survives a crash of
 *   the Redis process, but a crash of the machine can lose the last second or so (up to about
 *   two) of acknowledged commits.
 * - `appendfsync no` or RDB snapshots only: everything since the last flush or snapshot can be
 *   lost. A Redis that comes back empty has no epoch: instances refuse to write
 *   (`LOG_EPOCH_CHANGED`) until restarted, rather than reuse seqs under the old epoch.
 * - Replicas are asynchronous: a failover can lose acknowledged commits unless replication is
 *   made to wait (`WAIT`), which this log does not do.
 *
 * @example
 * const log = await RedisSharedLog.open({ url: 'redis://127.0.0.1:6379' });
 * const { jobs, seq } = await log.load();
 * const follower = log.follow(seq, { onChange: publish, onError: (e) => logger.warn(e) });
 * await log.commit({ job, secret, previousStatus: null }, 0); // { type: 'committed', seq: … }
 */
export class RedisSharedLog implements SharedLog {
  readonly #redis: Redis;
  readonly #keys: RedisLogKeys;
  readonly #options: NormalizedOptions;
  readonly #epoch: string;
  readonly #commit: (id: string, expectedVersion: number, version: number, tail: string) => Promise<CommitReply>;
  readonly #remove: (removals: readonly JobRemoval[]) => Promise<RemoveReply>;
  readonly #followers = new Set<{ stop(): Promise<void> }>();
  #available = true;
  #probing = false;
  #closing: Promise<void> | undefined;

  private constructor(redis: Redis, options: NormalizedOptions, epoch: string) {
    this.#redis = redis;
    this.#options = options;
    this.#keys = redisLogKeys(options.prefix);
    this.#epoch = epoch;
    this.#commit = defineCommit(redis, this.#keys, epoch, options.changeLogSize);
    this.#remove = defineRemove(redis, this.#keys, epoch);
    redis.on('close', () => {
      if (this.#closing === undefined) this.#setAvailable(false);
    });
    redis.on('ready', () => this.#setAvailable(true));
  }

  /**
   * Connects to Redis and reads the keyspace's epoch, minting it when this is the first
   * instance ever to open it.
   *
   * @throws {RangeError} for invalid options; `RedisUrlError` (`INVALID_REDIS_URL`) for a bad
   *   URL; `StoreUnavailableError` when Redis cannot be reached.
   */
  static async open(options: RedisSharedLogOptions): Promise<RedisSharedLog> {
    const normalized = normalizeOptions(options);
    const redis = await connectRedis(createRedisConnection({ url: normalized.url, commandTimeoutMs: normalized.commandTimeoutMs }));
    try {
      const keys = redisLogKeys(normalized.prefix);
      await redis.set(keys.epoch, mintEpoch(), 'NX');
      const epoch = await redis.get(keys.epoch);
      if (epoch === null) throw new LogEpochChangedError('(a new epoch)', null);
      return new RedisSharedLog(redis, normalized, epoch);
    } catch (error) {
      redis.disconnect();
      throw asStoreError(error);
    }
  }

  /** The log's name, the same for every instance on this keyspace and for its whole life. */
  get epoch(): string {
    return this.#epoch;
  }

  /** False after a request failed for want of Redis, until Redis answers again. */
  get available(): boolean {
    return this.#available;
  }

  /**
   * Every job's latest version, and the seq read before them (so the set is at least as new as
   * it). Reads the hash in pages (`HSCAN`), never all at once.
   *
   * @throws {StoreCorruptError} naming the key and field of a damaged record
   * @throws {LogEpochChangedError} when the keyspace holds another log
   */
  async load(): Promise<{ jobs: StoredJob[]; seq: number; removedAt?: number }> {
    return this.#request(async () => {
      // The seq first: every change up to it is in the hash already, newer ones may be too.
      const [epoch, seqText, removedAtText] = await this.#redis.mget(this.#keys.epoch, this.#keys.seq, this.#keys.removedAt);
      this.#checkEpoch(epoch ?? null);
      const seq = this.#parseSeq(seqText ?? null);
      const removedAt = this.#parseSeq(removedAtText ?? null, this.#keys.removedAt);
      const jobs = new Map<string, LoggedChange>();
      let cursor = '0';
      do {
        const [next, flat] = await this.#redis.hscan(this.#keys.jobs, cursor, 'COUNT', PAGE);
        for (let i = 0; i + 1 < flat.length; i += 2) {
          const id = flat[i] as string;
          const where = `Redis hash ${this.#keys.jobs}, field ${JSON.stringify(id.slice(0, 100))}`;
          const record = parseRecord(flat[i + 1] as string, where);
          if (record.job.id !== id) throw new StoreCorruptError(where, `it holds job ${JSON.stringify(record.job.id.slice(0, 100))}`);
          // HSCAN may return a field twice; the later answer is at least as new.
          const known = jobs.get(id);
          if (known === undefined || known.job.version <= record.job.version) jobs.set(id, record);
        }
        cursor = next;
      } while (cursor !== '0');
      // `removedAt` only once a removal happened (see `remove`).
      return { jobs: [...jobs.values()], seq, ...(removedAt > 0 ? { removedAt } : {}) };
    });
  }

  /**
   * Removes settled jobs (retention) in one script (see `REMOVE_LUA`): each only at its given
   * version or older; a job already gone counts as removed. Idempotent, so every member may
   * sweep (no lock): members sweeping at once agree on the result.
   *
   * @throws {StoreUnavailableError} when Redis is unreachable (retrying is safe)
   * @throws {LogEpochChangedError} when the keyspace holds another log (nothing was removed)
   */
  async remove(removals: readonly JobRemoval[]): Promise<{ removed: string[]; atSeq: number }> {
    if (removals.length === 0) return { removed: [], atSeq: 0 };
    return this.#request(async () => {
      const reply = await this.#remove(removals);
      if (reply.type === 'epoch-changed') throw new LogEpochChangedError(this.#epoch, reply.found);
      return { removed: reply.removed, atSeq: reply.seq };
    });
  }

  /**
   * The kept changes after `afterSeq`, oldest first, at most `limit`; `undefined` when the
   * change right after `afterSeq` was trimmed; `[]` when there is none yet.
   *
   * @throws {RangeError} for a negative or fractional `afterSeq` or `limit`
   */
  async changesAfter(afterSeq: number, limit?: number): Promise<LoggedChange[] | undefined> {
    if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) throw new RangeError(`afterSeq must be a non-negative integer, not ${afterSeq}`);
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 0)) throw new RangeError(`limit must be a non-negative integer, not ${limit}`);
    return this.#request(async () => {
      const wanted = limit ?? Number.POSITIVE_INFINITY;
      // The first page with the epoch and seq, atomically: an empty answer is then either "no
      // change yet" or "trimmed", never a race between the two.
      const first = await this.#redis
        .multi()
        .get(this.#keys.epoch)
        .get(this.#keys.seq)
        .xrange(this.#keys.log, `${afterSeq + 1}-0`, '+', 'COUNT', Math.max(1, Math.min(wanted, PAGE)))
        .exec();
      const [epoch, seqText, entries] = (first ?? []).map(([error, value]) => {
        if (error) throw error;
        return value;
      }) as [string | null, string | null, Array<[string, string[]]>];
      this.#checkEpoch(epoch);
      const seq = this.#parseSeq(seqText);
      if (entries.length === 0) return seq > afterSeq ? undefined : [];
      const changes: LoggedChange[] = [];
      let page = entries;
      for (;;) {
        for (const [id, fields] of page) {
          if (changes.length >= wanted) return changes;
          const expected = afterSeq + changes.length + 1;
          // A later page that skips ahead was trimmed while we read: the same as trimmed before.
          if (id !== `${expected}-0`) return undefined;
          const change = parseRecord(fieldValue(fields, 'c'), `Redis stream ${this.#keys.log}, entry ${id}`);
          if (change.seq !== expected) throw new StoreCorruptError(`Redis stream ${this.#keys.log}, entry ${id}`, `it holds change ${change.seq}`);
          changes.push(change);
        }
        if (page.length < PAGE || changes.length >= wanted) return changes;
        const next = afterSeq + changes.length + 1;
        page = await this.#redis.xrange(this.#keys.log, `${next}-0`, '+', 'COUNT', Math.min(wanted - changes.length, PAGE));
        if (page.length === 0) return changes;
      }
    });
  }

  /**
   * Stores `change.job` if the job's stored version is `expectedVersion` (0: it must not exist)
   * and appends it to the stream with the next seq, in one script. A retry of a commit that
   * went through (same version, same record) answers `committed` with its seq.
   *
   * @throws {StoreUnavailableError} when Redis is unreachable or stuck (the commit may or may
   *   not have happened: retrying it is safe)
   * @throws {LogEpochChangedError} when the keyspace holds another log (nothing was written)
   */
  async commit(change: { job: JobSnapshot; secret: string; previousStatus: JobStatus | null }, expectedVersion: number): Promise<CommitOutcome> {
    if (!Number.isSafeInteger(expectedVersion) || expectedVersion < 0) throw new RangeError(`expectedVersion must be a non-negative integer, not ${expectedVersion}`);
    const { job } = change;
    return this.#request(async () => {
      const reply = await this.#commit(job.id, expectedVersion, job.version, recordTail(change));
      switch (reply.type) {
        case 'committed':
          return { type: 'committed', seq: reply.seq };
        case 'conflict': {
          const where = `Redis hash ${this.#keys.jobs}, field ${JSON.stringify(job.id.slice(0, 100))}`;
          return { type: 'conflict', current: reply.stored === undefined ? undefined : toStoredJob(parseRecord(reply.stored, where)) };
        }
        case 'epoch-changed':
          throw new LogEpochChangedError(this.#epoch, reply.found);
      }
    });
  }

  /**
   * Delivers every change after `afterSeq` in seq order, on a connection of its own. See
   * `followRedisLog` for what `onError` hears: a `StoreUnavailableError` once per outage (it
   * goes on), a `LogGapError` (`LOG_GAP`) when it fell behind the kept tail, a
   * `LogEpochChangedError`, a `StoreCorruptError`, or what a handler threw (it stops then).
   *
   * @throws {LogClosedError} after {@link close}
   */
  follow(afterSeq: number, handlers: FollowHandlers): { stop(): Promise<void> } {
    if (this.#closing !== undefined) throw new LogClosedError();
    if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) throw new RangeError(`afterSeq must be a non-negative integer, not ${afterSeq}`);
    const connection = duplicateForBlocking(this.#redis, FOLLOW_BLOCK_MS);
    const follower = followRedisLog(connection, { logKey: this.#keys.log, epochKey: this.#keys.epoch, epoch: this.#epoch }, afterSeq, handlers, {
      blockMs: FOLLOW_BLOCK_MS,
      count: FOLLOW_COUNT,
      maxBackoffMs: FOLLOW_MAX_BACKOFF_MS,
    });
    const handle = {
      stop: async (): Promise<void> => {
        this.#followers.delete(handle);
        await follower.stop();
      },
    };
    this.#followers.add(handle);
    return handle;
  }

  /** Stops every follower and closes the connections. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.all([...this.#followers].map((follower) => follower.stop()));
      if (this.#redis.status === 'ready') await this.#redis.quit().catch(() => {});
      this.#redis.disconnect();
    })();
    return this.#closing;
  }

  /** Runs one request: refused once closed; a connection failure marks the log unavailable. */
  async #request<T>(run: () => Promise<T>): Promise<T> {
    if (this.#closing !== undefined) throw new LogClosedError();
    try {
      const result = await run();
      this.#setAvailable(true);
      return result;
    } catch (error) {
      if (!isRedisConnectionError(error)) throw error;
      this.#setAvailable(false);
      // A stuck Redis keeps its connection: nothing would say when it answers again.
      if (this.#redis.status === 'ready') void this.#probe();
      throw asStoreError(error);
    }
  }

  async #probe(): Promise<void> {
    if (this.#probing) return;
    this.#probing = true;
    try {
      while (!this.#available && this.#closing === undefined && this.#redis.status === 'ready') {
        await sleep(PROBE_MS, undefined, { ref: false });
        await this.#redis.ping().then(
          () => this.#setAvailable(true),
          () => {},
        );
      }
    } finally {
      this.#probing = false;
    }
  }

  #setAvailable(available: boolean): void {
    if (available === this.#available) return;
    this.#available = available;
    this.#options.onAvailabilityChange?.(available);
  }

  #checkEpoch(found: string | null): void {
    if (found !== this.#epoch) throw new LogEpochChangedError(this.#epoch, found);
  }

  #parseSeq(text: string | null, key = this.#keys.seq): number {
    const seq = text === null ? 0 : Number(text);
    if (!Number.isSafeInteger(seq) || seq < 0) throw new StoreCorruptError(`Redis key ${key}`, 'it is not a non-negative integer');
    return seq;
  }
}

function normalizeOptions(options: RedisSharedLogOptions): NormalizedOptions {
  const prefix = options.prefix ?? 'jobstream:';
  const changeLogSize = options.changeLogSize ?? 10_000;
  const commandTimeoutMs = options.commandTimeoutMs ?? 1000;
  if (typeof options.url !== 'string' || options.url === '') throw new RangeError('url must be a redis:// URL');
  if (typeof prefix !== 'string') throw new RangeError('prefix must be a string');
  if (!Number.isSafeInteger(changeLogSize) || changeLogSize < 1) throw new RangeError(`changeLogSize must be a positive integer, not ${changeLogSize}`);
  if (!Number.isFinite(commandTimeoutMs) || commandTimeoutMs <= 0) throw new RangeError(`commandTimeoutMs must be a positive number of milliseconds, not ${commandTimeoutMs}`);
  return { url: options.url, prefix, changeLogSize, commandTimeoutMs, onAvailabilityChange: options.onAvailabilityChange };
}

function toStoredJob(record: LoggedChange): StoredJob {
  return { job: record.job, secret: record.secret, seq: record.seq, previousStatus: record.previousStatus };
}

/** The value of `name` in a stream entry's flat field list ('' when it has none). */
function fieldValue(fields: string[], name: string): string {
  const at = fields.indexOf(name);
  return at >= 0 && at % 2 === 0 ? (fields[at + 1] ?? '') : '';
}
