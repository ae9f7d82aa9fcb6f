import { mintEpoch } from '../../src/streams/job-id.js';
import type { JobSnapshot } from '../../src/streams/job-snapshot.js';
import type { JobStatus } from '../../src/streams/job-status.js';
import type { StoredJob } from '../../src/streams/job-store.js';
import { PollScheduler } from '../../src/streams/poll-scheduler.js';
import type { ClusterBackend, CommitOutcome, LoggedChange, SharedLog } from '../../src/streams/shared-log.js';

/**
 * The shared store of several in-process engines, for unit tests of the core's cluster logic
 * (version conflicts, re-derived changes, publication in the log's order on every member).
 * Each member gets its own {@link SharedLog} view; commits can be held to force interleavings.
 * The real one is Redis (`src/cluster`), tested against real redis-server processes.
 */
export class MemorySharedStore {
  readonly epoch = mintEpoch();
  readonly jobs = new Map<string, StoredJob & { seq: number }>();
  readonly log: LoggedChange[] = [];
  readonly #followers = new Set<(change: LoggedChange) => void>();
  /** Commits seen (committed or not), for assertions. */
  commits = 0;
  conflicts = 0;
  /** While set, every commit waits for it (a test releases them in the order it wants). */
  gate: Promise<void> | undefined;

  member(): SharedLog {
    return new MemberLog(this);
  }

  /** A cluster backend for one engine: this store's log, and a poll scheduler of its own. */
  backend(): ClusterBackend {
    return { log: this.member(), pollSchedule: (options) => new PollScheduler(options), close: () => Promise.resolve() };
  }

  commit(change: { job: JobSnapshot; secret: string; previousStatus: JobStatus | null }, expectedVersion: number): CommitOutcome {
    this.commits += 1;
    const stored = this.jobs.get(change.job.id);
    const storedVersion = stored?.job.version ?? 0;
    if (stored !== undefined && storedVersion === change.job.version && JSON.stringify(stored.job) === JSON.stringify(change.job)) {
      return { type: 'committed', seq: stored.seq };
    }
    if (storedVersion !== expectedVersion) {
      this.conflicts += 1;
      return { type: 'conflict', current: stored === undefined ? undefined : structuredClone(stored) };
    }
    const seq = this.log.length + 1;
    const logged: LoggedChange = structuredClone({ seq, job: change.job, secret: change.secret, previousStatus: change.previousStatus });
    this.jobs.set(change.job.id, { job: logged.job, secret: change.secret, seq, previousStatus: change.previousStatus });
    this.log.push(logged);
    // Followers read asynchronously, like a blocking read on another connection.
    queueMicrotask(() => {
      for (const follower of this.#followers) follower(logged);
    });
    return { type: 'committed', seq };
  }

  follow(onChange: (change: LoggedChange) => void): () => void {
    this.#followers.add(onChange);
    return () => this.#followers.delete(onChange);
  }
}

class MemberLog implements SharedLog {
  readonly #store: MemorySharedStore;
  readonly available = true;

  constructor(store: MemorySharedStore) {
    this.#store = store;
  }

  get epoch(): string {
    return this.#store.epoch;
  }

  load(): Promise<{ jobs: StoredJob[]; seq: number }> {
    return Promise.resolve({ jobs: [...this.#store.jobs.values()].map((stored) => structuredClone(stored)), seq: this.#store.log.length });
  }

  changesAfter(afterSeq: number, limit = Infinity): Promise<LoggedChange[] | undefined> {
    return Promise.resolve(this.#store.log.slice(afterSeq, afterSeq + Math.min(limit, this.#store.log.length)).map((c) => structuredClone(c)));
  }

  async commit(change: { job: JobSnapshot; secret: string; previousStatus: JobStatus | null }, expectedVersion: number): Promise<CommitOutcome> {
    await this.#store.gate;
    return this.#store.commit(change, expectedVersion);
  }

  follow(afterSeq: number, handlers: { onChange: (change: LoggedChange) => void }): { stop(): Promise<void> } {
    let next = afterSeq + 1;
    const deliver = (change: LoggedChange): void => {
      // Catch up on anything committed between the subscription and this change, in order.
      while (next <= change.seq) {
        const logged = this.#store.log[next - 1] as LoggedChange;
        next += 1;
        handlers.onChange(structuredClone(logged));
      }
    };
    const stop = this.#store.follow(deliver);
    queueMicrotask(() => {
      const last = this.#store.log.at(-1);
      if (last !== undefined) deliver(last);
    });
    return {
      stop: () => {
        stop();
        return Promise.resolve();
      },
    };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
