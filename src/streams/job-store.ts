import { z } from 'zod';
import { JobSnapshot } from './job-snapshot.js';

/** What the store keeps per job: the snapshot and the job's webhook secret. */
export const StoredJob = z.object({
  job: JobSnapshot,
  /** The per-job webhook secret (base64url, 128 bits). Never leaves the server. */
  secret: z.string().min(16),
});
export type StoredJob = z.infer<typeof StoredJob>;

/**
 * Where the engine keeps job state across restarts. The engine serialises calls: one `append`
 * or `compact` starts only after the previous `append` resolved.
 *
 * Implementations: {@link MemoryStore} (nothing survives the process) and `FileStore` (lowdb
 * snapshots plus an fsynced journal).
 */
export interface JobStore {
  /** Reads every stored job (latest state per job). Fails loudly on damaged data. */
  load(): Promise<StoredJob[]>;
  /** Records these states durably; resolves only when they would survive a crash. */
  append(batch: readonly StoredJob[]): Promise<void>;
  /** Whether the store would like {@link compact} to be called now. */
  readonly wantsCompaction: boolean;
  /**
   * Folds the journal into a fresh snapshot of `all` jobs. Appends may continue while it runs.
   * `all` must reflect every batch appended so far.
   */
  compact(all: () => Iterable<StoredJob>): Promise<void>;
  /** Finishes pending work and releases the data directory. Idempotent. */
  close(): Promise<void>;
}

/** A {@link JobStore} that keeps nothing: for tests and throwaway engines. */
export class MemoryStore implements JobStore {
  readonly #jobs = new Map<string, StoredJob>();
  readonly wantsCompaction = false;

  load(): Promise<StoredJob[]> {
    return Promise.resolve([...this.#jobs.values()]);
  }

  append(batch: readonly StoredJob[]): Promise<void> {
    for (const stored of batch) this.#jobs.set(stored.job.id, stored);
    return Promise.resolve();
  }

  compact(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
