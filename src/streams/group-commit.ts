import { setTimeout as sleep } from 'node:timers/promises';
import { fullJitter, type BackoffPolicy } from './backoff.js';
import { EngineClosedError } from './errors.js';

/** Options of {@link GroupCommit}. */
export interface GroupCommitOptions<T> {
  /** Makes a batch durable. A rejection is retried with backoff until it succeeds or the committer closes. */
  write: (batch: readonly T[]) => Promise<void>;
  /** Runs, synchronously and in order, once a batch is durable and before its callers resume. */
  onDurable: (batch: readonly T[]) => void;
  /** Hears about failed writes (they are retried). */
  onError?: (error: unknown, attempt: number) => void;
  /** Backoff between failed writes. @default { initialMs: 50, maxMs: 5000 } */
  retry?: BackoffPolicy;
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
 */
export class GroupCommit<T> {
  readonly #options: GroupCommitOptions<T>;
  readonly #retry: BackoffPolicy;
  #items: T[] = [];
  #waiters: Waiter[] = [];
  #draining: Promise<void> | undefined;
  #closed = false;
  readonly #abort = new AbortController();

  constructor(options: GroupCommitOptions<T>) {
    this.#options = options;
    this.#retry = options.retry ?? { initialMs: 50, maxMs: 5000 };
  }

  /** Queues an item; resolves when it is durable. */
  enqueue(item: T): Promise<void> {
    if (this.#closed) return Promise.reject(new EngineClosedError());
    this.#items.push(item);
    const done = new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    this.#draining ??= this.#drain();
    return done;
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
        const failure = await this.#writeWithRetry(items);
        if (failure === undefined) {
          this.#options.onDurable(items);
          for (const waiter of waiters) waiter.resolve();
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

  async #writeWithRetry(items: readonly T[]): Promise<unknown> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#options.write(items);
        return undefined;
      } catch (error) {
        this.#options.onError?.(error, attempt);
        if (this.#closed) return error;
        try {
          await sleep(fullJitter(attempt, this.#retry, Math.random), undefined, { signal: this.#abort.signal });
        } catch {
          return error;
        }
      }
    }
  }
}
