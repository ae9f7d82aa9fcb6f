import { z } from 'zod';
import { JobSnapshot } from './job-snapshot.js';
import { JobStatus } from './job-status.js';
import { mintEpoch } from './job-id.js';

/** What the store keeps per job: the snapshot and the job's webhook secret. */
export const StoredJob = z.object({
  job: JobSnapshot,
  /** The per-job webhook secret (base64url, 128 bits). Never leaves the server. */
  secret: z.string().min(16),
  /**
   * The change-log `seq` this version was published with (absent in data written before seqs
   * were stored). The highest one in a store is where its log continues after a restart.
   */
  seq: z.number().int().positive().optional(),
  /**
   * The job's status before this version (`null`: the version that created it), so the change
   * can be replayed to a resuming subscriber with its transition. Absent in data written before
   * it was stored.
   */
  previousStatus: JobStatus.nullable().optional(),
});
export type StoredJob = z.infer<typeof StoredJob>;

/** A job to remove (retention): its id and the version being removed. */
export interface JobRemoval {
  id: string;
  /** The version the remover saw; the store removes the job only at this version or older. */
  version: number;
}

/**
 * Where the engine keeps job state across restarts. The engine serialises calls: one `append`
 * or `compact` starts only after the previous `append` resolved.
 *
 * Implementations: {@link MemoryStore} (nothing survives the process) and `FileStore` (lowdb
 * snapshots plus an fsynced journal).
 */
export interface JobStore {
  /**
   * The name of this store's change log: minted once when the store is created and kept for its
   * life, so `{epoch, seq}` stays valid across restarts. Known once {@link load} has resolved.
   * A store without one gets a fresh epoch per engine (nothing of its log survives a restart).
   */
  readonly epoch?: string;
  /** Reads every stored job (latest state per job). Fails loudly on damaged data. */
  load(): Promise<StoredJob[]>;
  /**
   * The tail of the change log that {@link load} found: stored versions with their `seq` and
   * `previousStatus`, ascending and contiguous in `seq`, ending with the highest seq stored. At
   * most the size the store was asked to keep. A store that keeps no log leaves it out (the
   * log then starts empty after a restart, and resuming clients get a snapshot).
   */
  loadedChanges?(): readonly StoredJob[];
  /**
   * Records these versions durably, in order; resolves only when they would survive a crash.
   * A batch may hold several versions of one job (each is a change of the log).
   */
  append(batch: readonly StoredJob[]): Promise<void>;
  /**
   * Removes these jobs durably, all or none (retention), ordered with appends like one. `atSeq`
   * is the change log's seq at the removal: the log continues after it across restarts, also
   * when a removed job's change was the newest. Once resolved, {@link load} no longer returns the
   * jobs, {@link loadedChanges} none of their changes, and a compaction does not write them. A
   * store without it keeps every job (retention then does nothing).
   */
  remove?(removals: readonly JobRemoval[], atSeq: number): Promise<void>;
  /**
   * The seq at the last removal the store recorded (0: none), known once {@link load} resolved:
   * the log's seq is at least this, and readers at or before it may hold a removed job.
   */
  readonly removedAt?: number;
  /** Whether the store would like {@link compact} to be called now. */
  readonly wantsCompaction: boolean;
  /**
   * Folds the journal into a fresh snapshot of `all` jobs. Appends may continue while it runs.
   * `all` must reflect every batch appended before the call; it may be read while the snapshot
   * is written (in slices, between appends), so it may reflect later batches too. `changes`, when given, is the tail of the
   * change log to keep through the compaction (oldest first; versions that are a job's latest
   * are in `all` already), so that {@link loadedChanges} still has it after a restart.
   */
  compact(all: () => Iterable<StoredJob>, changes?: () => Iterable<StoredJob>): Promise<void>;
  /** Finishes pending work and releases the data directory. Idempotent. */
  close(): Promise<void>;
}

/** A {@link JobStore} that keeps nothing: for tests and throwaway engines. */
export class MemoryStore implements JobStore {
  readonly #jobs = new Map<string, StoredJob>();
  readonly wantsCompaction = false;
  /** One log per instance: nothing of it survives the process. */
  readonly epoch = mintEpoch();

  load(): Promise<StoredJob[]> {
    return Promise.resolve([...this.#jobs.values()]);
  }

  append(batch: readonly StoredJob[]): Promise<void> {
    for (const stored of batch) this.#jobs.set(stored.job.id, stored);
    return Promise.resolve();
  }

  remove(removals: readonly JobRemoval[]): Promise<void> {
    for (const { id, version } of removals) if ((this.#jobs.get(id)?.job.version ?? Infinity) <= version) this.#jobs.delete(id);
    return Promise.resolve();
  }

  compact(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
