import type { JobSnapshot } from './job-snapshot.js';
import type { JobStatus } from './job-status.js';
import type { JobRemoval, StoredJob } from './job-store.js';
import type { PollSchedule, PollSchedulerOptions } from './poll-scheduler.js';

/** One change as a {@link SharedLog} keeps it: a job version, numbered by the log. */
export interface LoggedChange {
  /** Global, gap-free, rising by one per change in the whole cluster. */
  seq: number;
  job: JobSnapshot;
  /** The job's webhook secret (never leaves the server). */
  secret: string;
  /** The status before this version; `null` for the version that created the job. */
  previousStatus: JobStatus | null;
}

/** What a {@link SharedLog.commit} came to. */
export type CommitOutcome =
  /** Stored and appended to the log as change `seq` (also when an earlier try of this very commit went through). */
  | { type: 'committed'; seq: number }
  /**
   * The job's stored version is not the expected one: another engine changed it first. `current`
   * is what is stored now (`undefined`: the job does not exist). Re-reduce on it and commit again.
   */
  | { type: 'conflict'; current: StoredJob | undefined };

/**
 * The state and change log that several engines share (a cluster): the latest version of every
 * job, and one ordered log of every change with a global `seq`. Implemented on Redis by
 * `jobstream/cluster` (`redisCluster`); the core only knows this port.
 *
 * Guarantees an implementation must keep:
 * - {@link commit} is one atomic step: check the job's version, store the new version, append
 *   the change with the next seq. No dual writes; nothing half-done is ever visible.
 * - {@link follow} delivers every change after the given seq exactly once, in seq order, with no
 *   gap, whoever committed it, until stopped; it outlives connection losses (reporting them).
 * - `epoch` is minted once per keyspace and kept for its life; `seq` never goes back.
 * - A promise that resolves means the change is in the shared store (with the durability its
 *   configuration gives); a rejection means it may or may not be (retrying the same commit is
 *   safe: a commit that went through answers `committed` with its seq).
 */
export interface SharedLog {
  /** The log's name; known once {@link load} resolved. */
  readonly epoch: string;
  /**
   * Every job (latest version, with the seq it was published with), and a seq the set is at
   * least as new as: following from that seq and ignoring versions not newer than the ones
   * loaded gives the exact state.
   */
  load(): Promise<{ jobs: StoredJob[]; seq: number; removedAt?: number }>;
  /**
   * Removes settled jobs (retention), each only if its stored version is the one given: one
   * atomic step per call, idempotent (a job already gone counts as removed, so members sweeping
   * at once agree). Records the log's seq at the removal, which {@link load} returns as
   * `removedAt` (readers at or before it may hold a removed job). A log without it keeps every
   * job.
   *
   * @returns the ids now gone from the shared store, and the seq at the removal.
   */
  remove?(removals: readonly JobRemoval[]): Promise<{ removed: string[]; atSeq: number }>;
  /**
   * The kept changes with seq > `afterSeq`, oldest first, at most `limit` (default: all kept);
   * `undefined` when the change right after `afterSeq` is no longer kept (trimmed).
   */
  changesAfter(afterSeq: number, limit?: number): Promise<LoggedChange[] | undefined>;
  /**
   * Stores `change.job` if the job's stored version is `expectedVersion` (0: the job must not
   * exist yet) and appends it to the log with the next seq.
   */
  commit(change: { job: JobSnapshot; secret: string; previousStatus: JobStatus | null }, expectedVersion: number): Promise<CommitOutcome>;
  /**
   * Delivers every change with seq > `afterSeq`, in order, to `onChange` (synchronously, one at a
   * time), on a connection of its own (blocking reads). `onError` hears connection trouble; it
   * keeps trying until stopped, and `onRecovered` hears when it reads again.
   */
  follow(
    afterSeq: number,
    handlers: { onChange: (change: LoggedChange) => void; onError: (error: unknown) => void; onRecovered?: () => void },
  ): { stop(): Promise<void> };
  /** Whether the shared store answered its last request; for health checks. */
  readonly available: boolean;
  /** Closes its connections. Idempotent. */
  close(): Promise<void>;
}

/**
 * What an engine needs to run as one member of a cluster: the shared log, and the poll
 * schedule shared by every member (due times, leases and rate budgets in the shared store).
 *
 * @example
 * import { redisCluster } from 'jobstream/cluster';
 * const engine = await createEngine({ providers, cluster: await redisCluster({ url: 'redis://127.0.0.1:6379' }) });
 */
export interface ClusterBackend {
  readonly log: SharedLog;
  /** Makes the shared poll scheduler for this member. */
  pollSchedule(options: PollSchedulerOptions): PollSchedule;
  /** Closes what the backend opened (after the engine closed its log and schedule). */
  close(): Promise<void>;
}
