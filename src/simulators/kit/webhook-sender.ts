import { setTimeout as sleep } from 'node:timers/promises';
import { Subject } from 'rxjs';
import { Agent, request } from 'undici';
import type { Dispatcher } from 'undici';
import type { FaultProfile } from './fault-profile.js';
import { isHttpUrl, isLoopbackUrl } from './loopback.js';
import type { Random } from './seeded-random.js';

/**
 * What happened to one webhook delivery.
 * - `delivered`: an attempt got a 2xx answer.
 * - `failed`: an attempt got a non-2xx answer or none in time; `willRetry` says whether another follows.
 * - `dropped`: the drop fault swallowed the delivery; nothing was sent.
 * - `duplicated`: the duplicate fault scheduled a second copy.
 * - `held`: the reorder fault holds the delivery until a later one for the same key has been sent.
 * - `delayed`: the late fault delays the delivery by `lateMs`.
 */
export interface WebhookEvent {
  type: 'delivered' | 'failed' | 'dropped' | 'duplicated' | 'held' | 'delayed';
  url: string;
  key: string;
  /** HTTP status of the answer, when one arrived. */
  status?: number;
  /** 1-based attempt number; 0 for events that precede any attempt. */
  attempt: number;
  /** The JSON body of the delivery. */
  body: unknown;
  /** Transport error text, for `failed` without an answer. */
  error?: string;
  /** For `failed`: whether a retry is scheduled. */
  willRetry?: boolean;
}

/** Options of {@link WebhookSender}. */
export interface WebhookSenderOptions {
  /** Current fault profile (its `webhook` part is used); a getter so knobs can change at run time. */
  faults: () => FaultProfile;
  random: Random;
  /** An attempt without a complete answer within this time counts as failed. */
  timeoutMs: number;
  /** Delays before each retry; `[1000, 2000, 4000]` means at most 4 attempts. */
  retryDelaysMs: number[];
  /** Allow non-loopback webhook URLs. @default false */
  allowRemote?: boolean;
  /** Dispatcher for the POSTs. @default a private undici Agent, closed by `close()` */
  dispatcher?: Dispatcher;
  /**
   * Extra headers of each attempt, computed when it is sent (a provider that signs its
   * callbacks with a timestamp signs every retry anew). @default none
   */
  headers?: (delivery: { url: string; body: unknown; key: string; attempt: number }) => Record<string, string>;
}

/** Thrown by {@link WebhookSender.send} for a URL it refuses to call. */
export class WebhookUrlError extends Error {
  readonly code = 'WEBHOOK_URL_REFUSED';
  constructor(readonly url: string, reason: string) {
    super(`refusing webhook URL ${url}: ${reason}`);
    this.name = 'WebhookUrlError';
  }
}

interface Delivery {
  url: string;
  body: unknown;
  key: string;
  seq: number;
}

interface Held {
  seq: number;
  release: () => void;
}

/**
 * Delivers webhooks the way a provider does: fire-and-forget JSON POSTs, retried after each
 * of `retryDelaysMs` on a non-2xx answer or a timeout, then given up; with drop, duplicate,
 * late and reorder faults. First attempts for the same `key` (usually a job id) go out one
 * after another in `send` order, so without faults a receiver sees a job's changes in order.
 *
 * @example
 * const sender = new WebhookSender({ faults: () => profile, random, timeoutMs: 15_000, retryDelaysMs: [1000, 2000, 4000] });
 * sender.events.subscribe((e) => console.log(e.type, e.url));
 * sender.send('http://127.0.0.1:9000/hook', { job_id: 'j1', status: 'COMPLETED' }, 'j1');
 * await sender.idle();
 * await sender.close();
 */
export class WebhookSender {
  /** Every delivery event, in the order they happen. Completes on `close()`. */
  readonly events = new Subject<WebhookEvent>();
  readonly #opts: WebhookSenderOptions;
  readonly #dispatcher: Dispatcher;
  readonly #ownAgent: Agent | undefined;
  readonly #abort = new AbortController();
  readonly #chains = new Map<string, Promise<void>>();
  readonly #held = new Map<string, Held[]>();
  readonly #tasks = new Set<Promise<void>>();
  #idleWaiters: (() => void)[] = [];
  #seq = 0;
  #closing: Promise<void> | undefined;

  constructor(opts: WebhookSenderOptions) {
    this.#opts = { ...opts, retryDelaysMs: [...opts.retryDelaysMs] };
    this.#ownAgent = opts.dispatcher === undefined ? new Agent({ keepAliveTimeout: 1000 }) : undefined;
    this.#dispatcher = opts.dispatcher ?? (this.#ownAgent as Agent);
  }

  /**
   * Schedules a JSON POST of `body` to `url`; returns at once. `key` groups deliveries
   * for ordering and reordering. Throws {@link WebhookUrlError} for a non-http(s) URL, or
   * a non-loopback one unless `allowRemote`. Ignored after `close()`.
   */
  send(url: string, body: unknown, key: string): void {
    if (!isHttpUrl(url)) throw new WebhookUrlError(url, 'not an absolute http(s) URL');
    if (this.#opts.allowRemote !== true && !isLoopbackUrl(url)) {
      throw new WebhookUrlError(url, 'only loopback hosts are allowed (set allowRemoteWebhooks to change this)');
    }
    if (this.#closing !== undefined) return;
    const f = this.#opts.faults().webhook;
    const random = this.#opts.random;
    const delivery: Delivery = { url, body, key, seq: ++this.#seq };
    if (f.dropRate > 0 && random() < f.dropRate) {
      this.#emit({ type: 'dropped', url, key, attempt: 0, body });
      return;
    }
    const duplicate = f.duplicateRate > 0 && random() < f.duplicateRate;
    const late = f.lateRate > 0 && random() < f.lateRate;
    const reorder = f.reorderRate > 0 && random() < f.reorderRate;
    this.#track(this.#deliver(delivery, late ? f.lateMs : 0, reorder ? f.lateMs : -1));
    if (duplicate) {
      this.#emit({ type: 'duplicated', url, key, attempt: 0, body });
      this.#track(this.#deliver({ ...delivery, seq: ++this.#seq }, 0, -1));
    }
  }

  /** Resolves once nothing is pending: no delivery waiting, in flight or waiting to retry. */
  idle(): Promise<void> {
    if (this.#tasks.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Cancels pending deliveries, retries and timers, and completes `events`. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#abort.abort();
      for (const list of this.#held.values()) for (const h of list) h.release();
      await Promise.allSettled([...this.#tasks]);
      await this.#ownAgent?.destroy();
      this.events.complete();
    })();
    return this.#closing;
  }

  async #deliver(d: Delivery, lateMs: number, holdMs: number): Promise<void> {
    if (lateMs > 0) {
      this.#emit({ type: 'delayed', url: d.url, key: d.key, attempt: 0, body: d.body });
      await this.#sleep(lateMs);
    }
    if (holdMs >= 0) {
      this.#emit({ type: 'held', url: d.url, key: d.key, attempt: 0, body: d.body });
      await this.#hold(d, holdMs);
    }
    const ok = await this.#serialised(d.key, async () => {
      const first = await this.#post(d, 1);
      this.#releaseHeldBefore(d);
      return first;
    });
    if (ok) return;
    for (let i = 0; i < this.#opts.retryDelaysMs.length; i++) {
      await this.#sleep(this.#opts.retryDelaysMs[i] ?? 0);
      if (await this.#post(d, i + 2)) return;
    }
  }

  /** Runs `fn` after the previous first attempt for `key` has settled. */
  async #serialised(key: string, fn: () => Promise<boolean>): Promise<boolean> {
    const previous = this.#chains.get(key) ?? Promise.resolve();
    const mine = previous.then(fn);
    const link = mine.then(
      () => undefined,
      () => undefined,
    );
    this.#chains.set(key, link);
    try {
      return await mine;
    } finally {
      if (this.#chains.get(key) === link) this.#chains.delete(key);
    }
  }

  #hold(d: Delivery, maxMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const list = this.#held.get(d.key) ?? [];
      const timer = setTimeout(() => release(), maxMs);
      const release = (): void => {
        clearTimeout(timer);
        const current = this.#held.get(d.key)?.filter((h) => h !== entry) ?? [];
        if (current.length === 0) this.#held.delete(d.key);
        else this.#held.set(d.key, current);
        resolve();
      };
      const entry: Held = { seq: d.seq, release };
      list.push(entry);
      this.#held.set(d.key, list);
    });
  }

  /** A held delivery is released once a delivery sent after it has had its first attempt. */
  #releaseHeldBefore(d: Delivery): void {
    const list = this.#held.get(d.key);
    if (list === undefined) return;
    for (const h of [...list]) if (h.seq < d.seq) h.release();
  }

  async #post(d: Delivery, attempt: number): Promise<boolean> {
    if (this.#abort.signal.aborted) throw this.#abort.signal.reason;
    const willRetry = attempt <= this.#opts.retryDelaysMs.length;
    const base = { url: d.url, key: d.key, attempt, body: d.body };
    // One deadline for the whole answer (headers and body), like a provider's HTTP client timeout.
    const signal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#opts.timeoutMs)]);
    try {
      const res = await request(d.url, {
        method: 'POST',
        headers: { ...this.#opts.headers?.(base), 'content-type': 'application/json', 'user-agent': 'jobstream-simulator' },
        body: JSON.stringify(d.body),
        signal,
        dispatcher: this.#dispatcher,
      });
      await res.body.dump();
      if (res.statusCode >= 200 && res.statusCode < 300) {
        this.#emit({ type: 'delivered', status: res.statusCode, ...base });
        return true;
      }
      this.#emit({ type: 'failed', status: res.statusCode, willRetry, ...base });
      return false;
    } catch (error) {
      if (this.#abort.signal.aborted) throw error;
      const timedOut = signal.aborted;
      const message = timedOut ? `no answer within ${this.#opts.timeoutMs} ms` : error instanceof Error ? error.message : String(error);
      this.#emit({ type: 'failed', error: message, willRetry, ...base });
      return false;
    }
  }

  #sleep(ms: number): Promise<void> {
    return sleep(ms, undefined, { signal: this.#abort.signal });
  }

  #track(task: Promise<void>): void {
    const tracked = task.then(
      () => undefined,
      () => undefined,
    );
    this.#tasks.add(tracked);
    void tracked.then(() => {
      this.#tasks.delete(tracked);
      if (this.#tasks.size === 0) {
        const waiters = this.#idleWaiters;
        this.#idleWaiters = [];
        for (const resolve of waiters) resolve();
      }
    });
  }

  #emit(event: WebhookEvent): void {
    this.events.next(event);
  }
}
