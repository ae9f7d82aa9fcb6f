import type { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { StoreCorruptError } from '../streams/errors.js';
import type { LoggedChange } from '../streams/shared-log.js';
import { asStoreError, connectRedis } from './redis-connection.js';
import { LogEpochChangedError, LogGapError } from './redis-log-errors.js';
import { parseRecord } from './redis-log-record.js';

/** Handlers of {@link followRedisLog}, as `SharedLog.follow` takes them. */
export interface FollowHandlers {
  onChange: (change: LoggedChange) => void;
  onError: (error: unknown) => void;
  onRecovered?: () => void;
}

/** Tuning of {@link followRedisLog}. */
export interface FollowTuning {
  /** How long one `XREAD` blocks waiting for new changes. */
  blockMs: number;
  /** At most this many changes per read. */
  count: number;
  /** The longest wait between two tries while Redis is unreachable. */
  maxBackoffMs: number;
}

/**
 * Reads the stream `log.logKey` from `afterSeq` on `connection` (its own: the reads block), and
 * hands every change to `onChange` in seq order, synchronously, each exactly once.
 *
 * - Connection trouble: `onError` hears the first failure of an outage (a
 *   `StoreUnavailableError`); it tries again after 50 ms, doubling up to `maxBackoffMs`, and
 *   as soon as the connection is ready again; `onRecovered` hears the first read that works.
 * - The keyspace holds another log (its `epochKey` is not `epoch`; checked at the start and after
 *   every outage): `onError` hears a {@link LogEpochChangedError} and the follower stops.
 * - A gap (the change after the last delivered one was trimmed): `onError` hears a
 *   {@link LogGapError} and the follower stops. A damaged entry: a `StoreCorruptError`, and it
 *   stops. A handler that throws: `onError` hears what it threw, and it stops. Nothing is ever
 *   skipped.
 * - `stop()` disconnects the connection (ending a blocked read at once) and resolves when the
 *   loop has ended. It is idempotent.
 */
export function followRedisLog(
  connection: Redis,
  log: { logKey: string; epochKey: string; epoch: string },
  afterSeq: number,
  handlers: FollowHandlers,
  tuning: FollowTuning,
): { stop(): Promise<void> } {
  const stopping = new AbortController();
  const { signal } = stopping;

  /** Waits until the connection is ready, at most `ms`; at once when nothing is connecting it. */
  async function waitForReady(ms: number): Promise<void> {
    if (connection.status === 'ready' || connection.status === 'end' || connection.status === 'wait' || signal.aborted) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        connection.off('ready', done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      connection.once('ready', done);
      signal.addEventListener('abort', done);
    });
  }

  /**
   * Reads the next batch. At the start and after a failure (`verify`) it first checks that the
   * keyspace still holds this log (a Redis that lost its data would otherwise look like a quiet
   * log forever), and reads without blocking: a quiet log would otherwise delay onRecovered.
   */
  async function read(lastSeq: number, verify: boolean): Promise<{ reply: unknown; epoch?: string | null }> {
    if (connection.status === 'end' || connection.status === 'wait') await connectRedis(connection);
    const start = `${lastSeq}-0`;
    if (!verify) return { reply: await connection.xread('COUNT', tuning.count, 'BLOCK', tuning.blockMs, 'STREAMS', log.logKey, start) };
    const epoch = await connection.get(log.epochKey);
    return { reply: await connection.xread('COUNT', tuning.count, 'STREAMS', log.logKey, start), epoch };
  }

  /** Delivers a batch; the error that ends the follower, if one does. */
  function deliver(entries: Array<[string, string[]]>, afterSeq: number): { lastSeq: number; error?: unknown } {
    let lastSeq = afterSeq;
    try {
      for (const [id, fields] of entries) {
        if (signal.aborted) break;
        const seq = Number(id.slice(0, id.indexOf('-')));
        if (seq !== lastSeq + 1) return { lastSeq, error: new LogGapError(lastSeq + 1, seq) };
        const text = fields[fields.indexOf('c') + 1];
        const change = parseRecord(typeof text === 'string' ? text : '', `Redis stream ${log.logKey}, entry ${id}`);
        if (change.seq !== seq) return { lastSeq, error: new StoreCorruptError(`Redis stream ${log.logKey}, entry ${id}`, `it holds change ${change.seq}`) };
        handlers.onChange(change);
        lastSeq = seq;
      }
    } catch (error) {
      return { lastSeq, error };
    }
    return { lastSeq };
  }

  async function run(): Promise<void> {
    let lastSeq = afterSeq;
    let verify = true;
    let failing = false;
    let backoffMs = 50;
    // Give the first connection its connect time before calling a refusal an outage.
    await connectRedis(connection).catch(() => {});
    while (!signal.aborted) {
      let batch: { reply: unknown; epoch?: string | null };
      try {
        batch = await read(lastSeq, verify);
      } catch (error) {
        if (signal.aborted) break;
        verify = true;
        if (!failing) {
          failing = true;
          handlers.onError(asStoreError(error));
        }
        await sleep(backoffMs, undefined, { signal }).catch(() => {});
        // ioredis reconnects by itself: try again as soon as it is back.
        await waitForReady(tuning.maxBackoffMs);
        backoffMs = Math.min(backoffMs * 2, tuning.maxBackoffMs);
        continue;
      }
      if (verify && batch.epoch !== log.epoch) {
        handlers.onError(new LogEpochChangedError(log.epoch, batch.epoch ?? null));
        return;
      }
      verify = false;
      if (failing) {
        failing = false;
        backoffMs = 50;
        handlers.onRecovered?.();
      }
      const delivered = deliver(streamEntries(batch.reply), lastSeq);
      lastSeq = delivered.lastSeq;
      if (delivered.error !== undefined) {
        if (!signal.aborted) handlers.onError(delivered.error);
        return;
      }
    }
  }

  // A handler that throws from onError has nobody left to tell.
  const ended = run()
    .catch(() => {})
    .finally(() => connection.disconnect());
  return {
    async stop() {
      stopping.abort();
      connection.disconnect();
      await ended;
    },
  };
}

/** The entries of an `XREAD` answer for one stream (`null`: none arrived in time). */
function streamEntries(reply: unknown): Array<[string, string[]]> {
  if (reply === null) return [];
  const streams = reply as Array<[string, Array<[string, string[]]>]>;
  return streams[0]?.[1] ?? [];
}
