import type { SchedulerLike } from 'rxjs';
import type { ProviderAdapter } from '../providers/provider-adapter.js';
import type { JobStore } from './job-store.js';
import type { JobSnapshot } from './job-snapshot.js';
import type { JobStatus } from './job-status.js';
import type { PollOutcome } from './poll-scheduler.js';

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
   * Builds the URL a provider calls back to for a job, from the provider name and the job's
   * secret webhook token. Without it, no webhooks are requested and every job is polled.
   * @example (provider, token) => `https://jobs.example.com/v1/hooks/${provider}/${token}`
   */
  webhookUrl?: (provider: string, token: string) => string;
  /** How many recent changes are kept for resuming subscribers. @default 10000 */
  changeLogSize?: number;
  /** Attempts at creating a job when the provider answers "rate-limited". @default 3 */
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
  | { type: 'webhook'; provider: string; jobId: string; outcome: 'applied' | 'duplicate'; observed?: JobStatus; at: number }
  | { type: 'store-error'; error: unknown; attempt: number }
  | { type: 'restored'; jobs: number; resumed: number; unconfigured: number };

/** The answer to a webhook delivery. */
export interface WebhookResult {
  /** `applied` when the delivery changed the job, `duplicate` when it added nothing. */
  outcome: 'applied' | 'duplicate';
  /** The job as it now durably is. */
  job: JobSnapshot;
}

