import { JobstreamError, describeStoreError } from './errors.js';
import type { CommitFailure } from './group-commit.js';
import type { JobSnapshot } from './job-snapshot.js';
import type { StoredJob } from './job-store.js';
import type { Pending } from './job-table.js';
import type { CommitOutcome, LoggedChange, SharedLog } from './shared-log.js';

/** Options of {@link SharedCommit}. */
export interface SharedCommitOptions {
  log: SharedLog;
  /** How many of the newest changes a member keeps for resuming clients. */
  changeLogSize: number;
  /** Publishes one change read from the log, in order; `local`: this member committed it. */
  publish: (change: LoggedChange, local: boolean) => void;
  /** The log lost changes this member had not read: start over from `jobs` as of `seq`. */
  resync: (jobs: readonly StoredJob[], seq: number) => void;
  /** Hears trouble reading the log (it is retried). */
  onError: (error: unknown) => void;
  /**
   * How long a commit waits for this member to read its own change back before the write counts
   * as failed (and is retried: a commit that went through is recognised).
   * @default 10 s
   */
  readBackTimeoutMs?: number;
  /** Version conflicts in a row on one job before the write fails. @default 20 */
  maxConflicts?: number;
}

/**
 * The cluster side of the job table: writes a batch of changes to a {@link SharedLog} as
 * compare-and-set steps (one per change, each job's changes in order), derives a change again
 * when another member changed the job first (the change's `redo` on the newer state: the
 * reducer stays here, in TypeScript), and follows the log so that every member publishes every
 * change in the log's order. A write resolves once this member has read its changes back, so a
 * caller that awaited it sees the change in `job$` and `snapshot` here too.
 */
export class SharedCommit {
  readonly #log: SharedLog;
  readonly #options: SharedCommitOptions;
  /** Seqs this member committed and has not read back yet. */
  readonly #local = new Set<number>();
  /** Commits sent and not answered yet: job id → the version each one writes. */
  readonly #unanswered = new Map<string, number>();
  /**
   * Changes read back before the answer to their commit (the follower's connection may be
   * quicker than the committing one): held, with every change read after them, until that answer
   * says whether this member made them, so `local` is right and the order is kept.
   */
  #held: LoggedChange[] = [];
  /** Writers waiting to read a seq back. */
  #waiters: { seq: number; resolve(): void }[] = [];
  #seq = 0;
  #follower: { stop(): Promise<void> } | undefined;
  #failure: CommitFailure | undefined;
  #unreachableSince: number | undefined;
  #closed = false;

  constructor(options: SharedCommitOptions) {
    this.#log = options.log;
    this.#options = options;
  }

  get epoch(): string {
    return this.#log.epoch;
  }

  /** Why this member cannot read the shared log, while it cannot. */
  get failure(): CommitFailure | undefined {
    if (this.#log.available) this.#unreachableSince = undefined;
    else if (this.#failure === undefined) {
      // Since when it is unreachable: from the first time this member noticed.
      this.#unreachableSince ??= Date.now();
      return { error: new JobstreamError('STORE_UNAVAILABLE', 'the shared store does not answer'), reason: 'shared store: not reachable', since: this.#unreachableSince, attempts: 1 };
    }
    return this.#failure;
  }

  /** Every job, the seq the set is at least as new as, the log's tail (up to `changeLogSize`), and the seq at the last removal. */
  async load(): Promise<{ jobs: StoredJob[]; seq: number; tail: LoggedChange[]; removedAt: number }> {
    const { jobs, seq, removedAt } = await this.#log.load();
    const tail = (await this.#log.changesAfter(Math.max(0, seq - this.#options.changeLogSize))) ?? (await this.#log.changesAfter(seq)) ?? [];
    return { jobs, seq, tail, removedAt: removedAt ?? 0 };
  }

  /** Starts publishing every change after `seq`. */
  follow(seq: number): void {
    this.#seq = seq;
    this.#follower = this.#log.follow(seq, {
      onChange: (change) => this.#read(change),
      onError: (error) => this.#trouble(error),
      onRecovered: () => {
        this.#failure = undefined;
      },
    });
  }

  /**
   * Commits a batch: round by round (the first change of each job, then the second, …), each
   * change a compare-and-set on the job's version. A conflict derives that job's remaining
   * changes again on the stored state. Resolves once every committed change has been read back.
   */
  async write(batch: readonly Pending[]): Promise<void> {
    const byJob = new Map<string, Pending[]>();
    for (const item of batch) {
      const list = byJob.get(item.job.id);
      if (list === undefined) byJob.set(item.job.id, [item]);
      else list.push(item);
    }
    let highest = 0;
    const conflicts = new Map<string, number>();
    const queues = [...byJob.values()];
    while (queues.some((queue) => queue.length > 0)) {
      const round = queues.filter((queue) => queue.length > 0);
      let outcomes: CommitOutcome[];
      try {
        outcomes = await Promise.all(
          round.map((queue) => {
            const item = queue[0] as Pending;
            this.#unanswered.set(item.job.id, item.job.version);
            return this.#log.commit({ job: item.job, secret: item.entry.secret, previousStatus: item.previousStatus }, item.baseVersion);
          }),
        );
        for (const [i, outcome] of outcomes.entries()) {
          if (outcome.type === 'committed' && outcome.seq > this.#seq) this.#local.add(outcome.seq);
          this.#unanswered.delete((round[i]?.[0] as Pending).job.id);
        }
      } finally {
        // A failed round: what was read meanwhile is published as another member's change.
        for (const queue of round) this.#unanswered.delete((queue[0] as Pending).job.id);
        this.#release();
      }
      for (const [i, outcome] of outcomes.entries()) {
        const queue = round[i] as Pending[];
        const item = queue[0] as Pending;
        if (outcome.type === 'committed') {
          queue.shift();
          item.written?.(true);
          highest = Math.max(highest, outcome.seq);
          continue;
        }
        const count = (conflicts.get(item.job.id) ?? 0) + 1;
        conflicts.set(item.job.id, count);
        if (count > (this.#options.maxConflicts ?? 20)) {
          throw new JobstreamError('STORE_CONFLICT', `job ${item.job.id} kept changing under this member (${count} version conflicts in a row)`);
        }
        const stored = outcome.current;
        if (stored === undefined) throw new JobstreamError('STORE_CONFLICT', `job ${item.job.id} is not in the shared store`);
        highest = Math.max(highest, stored.seq ?? 0);
        redo(queue, stored.job);
      }
    }
    if (highest > 0) await this.#readBack(highest);
  }

  /** Stops following. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#follower?.stop();
    for (const waiter of this.#waiters.splice(0)) waiter.resolve();
  }

  #read(change: LoggedChange): void {
    this.#failure = undefined;
    if (this.#held.length > 0 || this.#unanswered.get(change.job.id) === change.job.version) this.#held.push(change);
    else this.#deliver(change);
  }

  /** Publishes the held changes, in order, up to the first whose commit is still unanswered. */
  #release(): void {
    while (this.#held.length > 0) {
      const next = this.#held[0] as LoggedChange;
      if (this.#unanswered.get(next.job.id) === next.job.version) return;
      this.#held.shift();
      this.#deliver(next);
    }
  }

  #deliver(change: LoggedChange): void {
    this.#seq = change.seq;
    this.#options.publish(change, this.#local.delete(change.seq));
    if (this.#waiters.length === 0) return;
    const ready = this.#waiters.filter((waiter) => waiter.seq <= change.seq);
    if (ready.length === 0) return;
    this.#waiters = this.#waiters.filter((waiter) => waiter.seq > change.seq);
    for (const waiter of ready) waiter.resolve();
  }

  #trouble(error: unknown): void {
    this.#failure = {
      error,
      reason: describeStoreError(error),
      since: this.#failure?.since ?? Date.now(),
      attempts: (this.#failure?.attempts ?? 0) + 1,
    };
    this.#options.onError(error);
    if ((error as { code?: unknown }).code === 'LOG_GAP' && !this.#closed) void this.#resync();
  }

  /** After a gap: reload the shared state and follow again from where it is. */
  async #resync(): Promise<void> {
    await this.#follower?.stop();
    try {
      const { jobs, seq } = await this.#log.load();
      if (this.#closed) return;
      this.#options.resync(jobs, seq);
      this.#local.clear();
      this.#held = [];
      this.follow(seq);
      for (const waiter of this.#waiters.splice(0)) waiter.resolve();
    } catch (error) {
      this.#options.onError(error);
      // Try again while the store is away: the follower is stopped, so nothing else will.
      if (!this.#closed) setTimeout(() => void this.#resync(), 1000).unref();
    }
  }

  /** Resolves once this member has read change `seq` back; rejects after the timeout. */
  #readBack(seq: number): Promise<void> {
    if (seq <= this.#seq || this.#closed) return Promise.resolve();
    const timeoutMs = this.#options.readBackTimeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const waiter = {
        seq,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new JobstreamError('STORE_UNAVAILABLE', `change ${seq} was committed but not read back within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }
}

/**
 * Derives a job's queued changes again on `stored`, the state another member committed first:
 * each change's `redo` on the state before it; a change that adds nothing any more is dropped.
 * The entry's `current` follows when it was the last of these changes.
 */
function redo(queue: Pending[], stored: JobSnapshot): void {
  const entry = (queue[0] as Pending).entry;
  const wasLast = entry.current === queue.at(-1)?.job;
  let base = stored;
  const redone: Pending[] = [];
  for (const item of queue) {
    if (item.redo === undefined) throw new JobstreamError('STORE_CONFLICT', `job ${item.job.id} changed under this member, and this change cannot be derived again`);
    const next = item.redo(base);
    if (next === base || next.version <= base.version) {
      item.written?.(false);
      continue;
    }
    item.job = next;
    item.previousStatus = base.status;
    item.baseVersion = base.version;
    redone.push(item);
    base = next;
  }
  queue.splice(0, queue.length, ...redone);
  if (wasLast) entry.current = base;
}
