import type { ClusterBackend } from '../streams/shared-log.js';
import { createRedisConnection, connectRedis } from './redis-connection.js';
import type { PollScheduleError} from './redis-poll-schedule.js';
import { RedisPollSchedule } from './redis-poll-schedule.js';
import { RedisSharedLog } from './redis-shared-log.js';

export { RedisSharedLog, type RedisSharedLogOptions } from './redis-shared-log.js';
export { RedisPollSchedule, PollScheduleError, type RedisPollScheduleOptions } from './redis-poll-schedule.js';
export { parseRedisUrl, RedisUrlError } from './redis-connection.js';

/** Options of {@link redisCluster}. */
export interface RedisClusterOptions {
  /** `redis://[:password@]host:port[/db]` (or `rediss://`). Every member uses the same one. */
  url: string;
  /** Prefix of every key, so several clusters can share one Redis. @default 'jobstream:' */
  prefix?: string;
  /** How many of the newest changes the shared log keeps (the Stream is trimmed to about this). @default 10,000 */
  changeLogSize?: number;
  /**
   * How long a member's claim on a due poll lasts: when a member dies, the others poll its jobs
   * within this long plus one poll interval. @default 60,000
   */
  leaseMs?: number;
  /** During a provider outage, one probe per lane per this long, cluster-wide. @default 5,000 */
  probeIntervalMs?: number;
  /** A Redis command that takes longer counts as Redis being unavailable. @default 1,000 */
  commandTimeoutMs?: number;
  /** Hears failed poll-schedule commands (they are retried); for logs. */
  onPollScheduleError?: (error: PollScheduleError) => void;
}

/**
 * Connects an engine to a Redis that several engines share, so that they form one cluster:
 * jobs, the change log (a Redis Stream with a global seq), the poll schedule (due times with
 * leases) and the providers' rate budgets live in Redis. Any member answers any request, a
 * webhook for any job included, and a client may resume at another member than the one it
 * left.
 *
 * Durability is Redis's: with `appendonly yes` and `appendfsync always` an acknowledged change
 * survives a crash of Redis; with `appendfsync everysec` up to about a second can be lost.
 *
 * @example
 * import { createEngine } from 'jobstream';
 * import { redisCluster } from 'jobstream/cluster';
 * const engine = await createEngine({ providers, cluster: await redisCluster({ url: 'redis://127.0.0.1:6379' }), resultsDir: '/shared/results' });
 */
export async function redisCluster(options: RedisClusterOptions): Promise<ClusterBackend> {
  const commandTimeoutMs = options.commandTimeoutMs ?? 1000;
  const prefix = options.prefix ?? 'jobstream:';
  const log = await RedisSharedLog.open({
    url: options.url,
    prefix,
    commandTimeoutMs,
    ...(options.changeLogSize === undefined ? {} : { changeLogSize: options.changeLogSize }),
  });
  // The poll schedule's commands go through one connection of their own, in call order.
  const connection = createRedisConnection({ url: options.url, commandTimeoutMs, name: 'jobstream-polls' });
  try {
    await connectRedis(connection);
  } catch (error) {
    connection.disconnect();
    await log.close();
    throw error;
  }
  return {
    log,
    pollSchedule: (schedulerOptions) =>
      new RedisPollSchedule({
        ...schedulerOptions,
        redis: connection,
        prefix,
        ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
        ...(options.probeIntervalMs === undefined ? {} : { probeIntervalMs: options.probeIntervalMs }),
        ...(options.onPollScheduleError === undefined ? {} : { onError: options.onPollScheduleError }),
      }),
    close: async () => {
      await log.close();
      connection.disconnect();
    },
  };
}
