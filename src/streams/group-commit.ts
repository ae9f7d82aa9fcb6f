import { setTimeout as sleep } from 'node:timers/promises';
import { fullJitter, type BackoffPolicy } from './backoff.js';
import { describeStoreError, EngineClosedError, StoreUnavailableError } from './errors.js';

/** Options of {@link GroupCommit}. */
export interface GroupCommitOptions<T> {
  /**
   * Makes a batch durable. A rejection is retried with backoff until it succeeds or the committer
   * closes; it must leave nothing of the batch behind (the retry writes the whole batch again).
   */
  write: (batch: readonly T[]) => Promise<void>;
  /** Runs, synchronously and in order, once a batch is durable and before its callers resume. */
  onDurable: (batch: readonly T[]) => void;
  /** Hears about every failed write (they are retried). */
  onError?: (error: unknown, attempt: number) => void;
  /**
   * Hears that a write succeeded after failed ones (`attempts` of them, over `downMs`), once
   * that batch has gone through `onDurable`.
   */
  onRecovered?: (recovery: { attempts: number; downMs: number }) => void;
  /** Backoff between failed writes. @default { initialMs: 50, maxMs: 5000 } */
  retry?: BackoffPolicy;
  /** Wall-clock time, for how long the store was down. @default Date.now */
  now?: () => number;
}

/** Why the committer cannot write, since when, and how many attempts failed so far. */
export interface CommitFailure {
  /** The last write error. */
  error: unknown;
  /** {@link describeStoreError} of it: safe to log and to show. */
  reason: string;
  /** When the first of these failures happened. */
  since: number;
  /** Failed attempts so far. */
  attempts: number;
}

interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * Group commit: everything enqueued while a write is in flight (or within the same tick) goes
 * out in the next single write. Callers get a promise that settles when their item is durable,
 * so many concurrent webhooks share one fsync. Batches are written and published strictly in
 * order.
 *
 * **When the store cannot write** (a full disk, an I/O error) nobody is left hanging, and
 * nothing unwritten is confirmed:
 *
 * - The failed batch stays first in line and is retried in the background with backoff, as
 *   often as it takes; batches queued behind it wait for it. Order never changes.
 * - At its first failed attempt the waiters of that batch, and of every item already queued
 *   behind it, are rejected with {@link StoreUnavailableError}. While the failure lasts
 *   ({@link failure} is set) `enqueue` still queues its item (in-memory state must reach the
 *   disk when it recovers) but returns an already rejected promise.
 * - A rejected waiter means "not confirmed", not "dropped": when a retry succeeds, `onDurable`
 *   runs for the batch and for everything queued while failing, in order, exactly as if the
 *   write had never failed. Whoever needs to know that a state is durable must look at what
 *   `onDurable` publishes, not at the rejected promise.
 * - `close` abandons the retries; what was never written was never confirmed.
 */
export class GroupCommit<T> {
  readonly #options: GroupCommitOptions<T>;
  readonly #retry: BackoffPolicy;
  readonly #now: () => number;
  #items: T[] = [];
  #waiters: Waiter[] = [];
  #draining: Promise<void> | undefined;
  #failure: CommitFailure | undefined;
  #closed = false;
  readonly #abort = new AbortController();

  constructor(options: GroupCommitOptions<T>) {
    this.#options = options;
    this.#retry = options.retry ?? { initialMs: 50, maxMs: 5000 };
    this.#now = options.now ?? Date.now;
  }

  /** Set while the store cannot write (from the first failed attempt until a write succeeds). */
  get failure(): CommitFailure | undefined {
    return this.#failure;
  }

  /**
   * Queues an item; resolves when it is durable. While the store is failing the item is still
   * queued (it is written, in order, once the store recovers) but the promise is rejected at
   * once with {@link StoreUnavailableError}.
   */
  enqueue(item: T): Promise<void> {
    if (this.#closed) return Promise.reject(new EngineClosedError());
    this.#items.push(item);
    this.#draining ??= this.#drain();
    if (this.#failure !== undefined) return Promise.reject(this.#unavailable(this.#failure));
    return new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Resolves when everything enqueued so far is durable (or abandoned by `close`). */
  async flush(): Promise<void> {
    while (this.#draining !== undefined) await this.#draining;
  }

  /** Lets the batch in flight finish, abandons retries and refuses new items. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#abort.abort();
    await this.flush();
  }

  async #drain(): Promise<void> {
    // Let everything enqueued in this tick join the first batch.
    await Promise.resolve();
    try {
      while (this.#items.length > 0) {
        const items = this.#items;
        const waiters = this.#waiters;
        this.#items = [];
        this.#waiters = [];
        const failure = await this.#writeWithRetry(items, waiters);
        if (failure === undefined) {
          const recovered = this.#failure;
          this.#failure = undefined;
          this.#options.onDurable(items);
          for (const waiter of waiters) waiter.resolve();
          // Told after the batch that failed is published, so a listener sees the state it kept.
          if (recovered !== undefined) {
            this.#options.onRecovered?.({ attempts: recovered.attempts, downMs: Math.max(0, this.#now() - recovered.since) });
          }
        } else {
          for (const waiter of [...waiters, ...this.#waiters]) waiter.reject(failure);
          this.#items = [];
          this.#waiters = [];
        }
      }
    } finally {
      this.#draining = undefined;
    }
  }

  /** Writes until it succeeds (undefined) or the committer closes (the last error). */
  async #writeWithRetry(items: readonly T[], waiters: Waiter[]): Promise<unknown> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#options.write(items);
        return undefined;
      } catch (error) {
        const failure: CommitFailure = {
          error,
          reason: describeStoreError(error),
          since: this.#failure?.since ?? this.#now(),
          attempts: (this.#failure?.attempts ?? 0) + 1,
        };
        this.#failure = failure;
        this.#options.onError?.(error, attempt);
        // Nobody waits on a failing store: this batch and everything queued behind it are told
        // now. The items stay in line and are written when a retry succeeds.
        const unavailable = this.#unavailable(failure);
        for (const waiter of [...waiters.splice(0), ...this.#waiters.splice(0)]) waiter.reject(unavailable);
        if (this.#closed) return error;
        try {
          await sleep(fullJitter(attempt, this.#retry, Math.random), undefined, { signal: this.#abort.signal });
        } catch {
          return error;
        }
      }
    }
  }

  #unavailable(failure: CommitFailure): StoreUnavailableError {
    return new StoreUnavailableError(failure.reason, { cause: failure.error, retryAfterMs: Math.max(1000, this.#retry.maxMs) });
  }
}
