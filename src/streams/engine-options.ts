import type { SchedulerLike } from 'rxjs';
import type { ProviderAdapter } from './provider-port.js';
import type { JobStore } from './job-store.js';
import type { ClusterBackend } from './shared-log.js';
import type { JobSnapshot } from './job-snapshot.js';
import type { JobStatus } from './job-status.js';
import type { LaneEvent, PollOutcome } from './poll-scheduler.js';

/** Options of {@link createEngine}. */
export interface EngineOptions {
  /** The provider adapters, one per provider name. */
  providers: readonly ProviderAdapter[];
  /**
   * The data directory for the durable {@link FileStore}. Ignored when `store` is given.
   * @default './data'
   */
  dataDir?: string;
  /** A store to use instead of a `FileStore` in `dataDir` (e.g. `new MemoryStore()`). */
  store?: JobStore;
  /**
   * Run as one member of a cluster: jobs, the change log, the poll schedule and the rate budgets
   * live in a shared store (e.g. `await redisCluster({ url })` from `jobstream/cluster`) instead
   * of `dataDir`/`store`, so any member answers for any job. The engine closes it when it closes.
   * Result copies still go to `resultsDir`, which every member must share.
   */
  cluster?: ClusterBackend;
  /**
   * Builds the URL a provider calls back to for a job, from the provider name and the job's
   * secret webhook token. Without it, no webhooks are requested and every job is polled.
   * @example (provider, token) => `https://jobs.example.com/v1/hooks/${provider}/${token}`
   */
  webhookUrl?: (provider: string, token: string) => string;
  /** How many recent changes are kept for resuming subscribers. @default 10000 */
  changeLogSize?: number;
  /**
   * Calls at creating a job, in all, while each failure is one that cannot have created it
   * (rate-limited, 503, no connection, a failed upload slot). Each retry waits for the provider
   * lane's backoff or `Retry-After`. A failure that may have created the job is never retried.
   * @default 5
   */
  submitAttempts?: number;
  /**
   * A job whose polls the provider refuses (`rejected`: e.g. 404, the job is gone) this many
   * times in a row is marked failed with the provider's reason, instead of being polled forever.
   * @default 5
   */
  maxRejectedPolls?: number;
  /** Time source and timers (inject a `TestScheduler` in tests). @default asyncScheduler */
  scheduler?: SchedulerLike;
  /** Uniform random numbers in [0, 1) for jitter. @default Math.random */
  random?: () => number;
  /**
   * Where copies of succeeded jobs' result files are kept (`<resultsDir>/<jobId>/<name>`), so they
   * outlive the provider's retention. `false` turns copying off.
   * @default `<dataDir>/results` with `dataDir`; off with a custom `store`
   */
  resultsDir?: string | false;
  /**
   * Where uploaded (file) inputs are kept so their jobs can be retried (`<inputsDir>/<jobId>`,
   * mode 0600). `false` keeps none.
   * @default `<dataDir>/inputs` (with a custom `store`, only when `dataDir` is given); in a
   *   cluster `<resultsDir>/inputs` when `resultsDir` is given (shared), else `<dataDir>/inputs`
   */
  inputsDir?: string | false;
  /**
   * Retention: finished jobs that settled (terminal, no result copy pending) more than this many
   * milliseconds ago are removed, with their result copies and kept inputs, by a sweep at start
   * and every hour (see {@link Engine.sweepRetention}). In a cluster every member sweeps; each
   * removal is an idempotent compare-and-set, so members agree.
   * @default undefined (jobs are kept forever)
   */
  retainMs?: number;
}

/** Something the engine did that metrics and logs care about. */
export type EngineEvent =
  | {
      type: 'poll';
      provider: string;
      jobId: string;
      outcome: PollOutcome['type'];
      /** When the call went out and when its answer (or failure) came back. */
      startedAt: number;
      endedAt: number;
      /** The status the answer reported (for an `ok` poll). */
      observed?: JobStatus;
      retryAfterMs?: number;
      error?: string;
    }
  | {
      type: 'webhook';
      provider: string;
      jobId: string;
      outcome: 'applied' | 'duplicate';
      observed?: JobStatus;
      at: number;
      /** The adapter did not fully recognise the body: it changed nothing and asked for a poll. */
      unrecognised?: true;
    }
  /**
   * A store write (or compaction) failed; writes are retried. `reason` is safe to log (an error
   * code and its description, no paths); `attempt` counts the failed attempts at this batch.
   */
  | { type: 'store-error'; error: unknown; attempt: number; reason?: string }
  /** Store writes succeed again after `attempts` failed ones over `downMs`. */
  | { type: 'store-recovered'; attempts: number; downMs: number }
  | { type: 'restored'; jobs: number; resumed: number; unconfigured: number }
  /** A retention sweep removed these jobs (at the sweep's time). */
  | { type: 'removed'; ids: string[]; at: number }
  /** A provider credential's lane went into an outage, was blocked by a rate limit, or recovered. */
  | (LaneEvent & { provider: string });

/**
 * Whether the engine can make changes durable ({@link Engine.health}). `reason` is safe to
 * show (e.g. `store: ENOSPC: no space left on device`); `since` is when it started (epoch ms).
 */
export type EngineHealth = { status: 'ok' } | { status: 'unavailable'; reason: string; since: number };

/** The answer to a webhook delivery. */
export interface WebhookResult {
  /** `applied` when the delivery changed the job, `duplicate` when it added nothing. */
  outcome: 'applied' | 'duplicate';
  /** The job as it now durably is. */
  job: JobSnapshot;
}

