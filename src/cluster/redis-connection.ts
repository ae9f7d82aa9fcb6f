import { Redis, type RedisOptions } from 'ioredis';
import { JobstreamError, StoreUnavailableError } from '../streams/errors.js';

/** Where a Redis URL points: what {@link parseRedisUrl} makes of `redis://[user:password@]host:port[/db]`. */
export interface RedisEndpoint {
  host: string;
  port: number;
  /** The logical database (`SELECT`), from the URL's path. */
  db: number;
  username: string | undefined;
  password: string | undefined;
  /** `rediss://`: TLS. */
  tls: boolean;
}

/** A Redis URL that cannot be used. The message never contains the password. */
export class RedisUrlError extends JobstreamError {
  constructor(problem: string) {
    super('INVALID_REDIS_URL', `invalid Redis URL: ${problem} (expected redis://[user:password@]host[:port][/db])`);
  }
}

/**
 * Reads a Redis URL: `redis://host:port[/db]`, with an optional `user:password@` or
 * `:password@` (percent-encoded), or `rediss://` for TLS. The port defaults to 6379 and the
 * database to 0.
 *
 * @example parseRedisUrl('redis://:s3cret@127.0.0.1:6380/2') // { host: '127.0.0.1', port: 6380, db: 2, password: 's3cret', … }
 * @throws {RedisUrlError} for anything else (never quoting the password)
 */
export function parseRedisUrl(url: string): RedisEndpoint {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RedisUrlError('not a URL');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new RedisUrlError(`the scheme is ${parsed.protocol.slice(0, 20)}, not redis: or rediss:`);
  // IPv6 literals come bracketed ("[::1]"); the socket wants them bare.
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new RedisUrlError('no host');
  const port = parsed.port === '' ? 6379 : Number(parsed.port);
  const path = parsed.pathname.replace(/^\//, '');
  if (!/^\d{0,5}$/.test(path)) throw new RedisUrlError('the path must be a database number, e.g. /0');
  if (parsed.search !== '' || parsed.hash !== '') throw new RedisUrlError('query parameters and fragments are not supported');
  let username: string | undefined;
  let password: string | undefined;
  try {
    username = parsed.username === '' ? undefined : decodeURIComponent(parsed.username);
    password = parsed.password === '' ? undefined : decodeURIComponent(parsed.password);
  } catch {
    throw new RedisUrlError('the user or password is not valid percent-encoding');
  }
  return { host, port, db: path === '' ? 0 : Number(path), username, password, tls: parsed.protocol === 'rediss:' };
}

/** Options of {@link createRedisConnection}. */
export interface RedisConnectionOptions {
  /** `redis://[user:password@]host[:port][/db]` (or `rediss://` for TLS). */
  url: string;
  /**
   * How long one command may take before it is rejected (`Command timed out`). It bounds how
   * long a caller waits on a Redis that is stuck; a closed connection rejects at once.
   * @default 1000
   */
  commandTimeoutMs?: number;
  /** Shown by `CLIENT LIST`, to tell the connections of jobstream apart. @default 'jobstream' */
  name?: string;
}

/**
 * A Redis connection (ioredis) that fails fast instead of queueing, made for a server that
 * must answer 503 rather than hang while Redis is away:
 * - no offline queue: a command sent while disconnected rejects at once;
 * - `maxRetriesPerRequest: 0` and no resending: a command in flight when the connection drops
 *   rejects at once and is never sent again behind the caller's back (its effect is unknown);
 * - a command timeout (see {@link RedisConnectionOptions.commandTimeoutMs});
 * - reconnects by itself, forever, 50 ms after the first loss, then at most every 500 ms.
 *
 * It does not connect until {@link connectRedis} (or `connect()`) is called. Connection errors
 * are absorbed (ioredis would print them); listen to `error`, `close` and `ready` for state.
 *
 * @example
 * const redis = await connectRedis(createRedisConnection({ url: 'redis://127.0.0.1:6379' }));
 * const blocking = await connectRedis(duplicateForBlocking(redis, 2000));
 */
export function createRedisConnection(options: RedisConnectionOptions): Redis {
  const endpoint = parseRedisUrl(options.url);
  const commandTimeoutMs = options.commandTimeoutMs ?? 1000;
  if (!Number.isFinite(commandTimeoutMs) || commandTimeoutMs <= 0) throw new RangeError(`commandTimeoutMs must be a positive number of milliseconds, not ${commandTimeoutMs}`);
  const redisOptions: RedisOptions = {
    host: endpoint.host,
    port: endpoint.port,
    db: endpoint.db,
    ...(endpoint.username === undefined ? {} : { username: endpoint.username }),
    ...(endpoint.password === undefined ? {} : { password: endpoint.password }),
    ...(endpoint.tls ? { tls: { servername: endpoint.host } } : {}),
    connectionName: options.name ?? 'jobstream',
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: commandTimeoutMs,
    connectTimeout: Math.max(2000, commandTimeoutMs),
    retryStrategy: (attempt) => Math.min(attempt * 50, 500),
  };
  return absorbErrors(new Redis(redisOptions));
}

/**
 * A second connection to the same server with the same options, for blocking reads (`XREAD
 * BLOCK` holds its connection): its command timeout is `blockMs` longer, so a read that blocks
 * for `blockMs` is not taken for a stuck server. Not connected yet, like the original.
 */
export function duplicateForBlocking(connection: Redis, blockMs: number, name = 'jobstream-follow'): Redis {
  const commandTimeout = (connection.options.commandTimeout ?? 1000) + blockMs;
  return absorbErrors(connection.duplicate({ commandTimeout, connectionName: name, lazyConnect: true }));
}

/**
 * Connects a connection made by {@link createRedisConnection} and resolves once it is ready.
 * When Redis cannot be reached it disconnects (no reconnecting in the background) and rejects
 * with a {@link StoreUnavailableError} that names the host and port, never the password.
 */
export async function connectRedis(connection: Redis): Promise<Redis> {
  try {
    await connection.connect();
    return connection;
  } catch (error) {
    connection.disconnect();
    const { host, port } = connection.options;
    throw new StoreUnavailableError(`cannot reach Redis at ${host ?? '?'}:${port ?? '?'}: ${describeRedisError(error)}`, { cause: error });
  }
}

/**
 * Whether a failed command failed for want of a connection (closed, refused, timed out: it may
 * or may not have run), as opposed to an answer from Redis (a `ReplyError`, e.g. a script error
 * or `WRONGTYPE`) or an error of our own.
 */
export function isRedisConnectionError(error: unknown): boolean {
  if (!(error instanceof Error) || error instanceof JobstreamError) return false;
  if (typeof (error as NodeJS.ErrnoException).code === 'string' && /^E[A-Z]+$/.test((error as NodeJS.ErrnoException).code ?? '')) return true;
  // ioredis's own: "Connection is closed.", "Stream isn't writeable…", "Command timed out", and
  // MaxRetriesPerRequestError for a command in flight when the connection dropped.
  return error.name === 'Error' || error.name === 'MaxRetriesPerRequestError';
}

/**
 * A Redis error as short text that is safe to log and show: a system error's code, otherwise
 * the first line of the message (ioredis's messages name no password).
 *
 * @example describeRedisError(refused) // 'ECONNREFUSED'
 */
export function describeRedisError(error: unknown): string {
  if (!(error instanceof Error)) return 'unknown error';
  const code = (error as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
  return (error.message.split('\n')[0] ?? '').slice(0, 200) || error.name;
}

/**
 * Wraps a Redis failure for callers of a store: a connection error becomes a
 * {@link StoreUnavailableError} (retry later: over HTTP a 503), anything else is returned as is.
 */
export function asStoreError(error: unknown): unknown {
  if (!isRedisConnectionError(error)) return error;
  return new StoreUnavailableError(`Redis: ${describeRedisError(error)}`, { cause: error, retryAfterMs: 1000 });
}

/** ioredis prints `error` events nobody listens to; the owners watch `close` and `ready` instead. */
function absorbErrors(connection: Redis): Redis {
  connection.on('error', () => {});
  return connection;
}
