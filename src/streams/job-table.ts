import {
  concat,
  defer,
  distinctUntilChanged,
  filter,
  finalize,
  of,
  ReplaySubject,
  share,
  Subject,
  takeWhile,
  throwError,
  type Observable,
} from 'rxjs';
import { ChangeLog } from './change-log.js';
import { EngineClosedError, UnknownJobError } from './errors.js';
import { GroupCommit, type CommitFailure } from './group-commit.js';
import type { JobChange } from './job-change.js';
import { compileFilter, type JobFilter } from './job-filter.js';
import { mintEpoch, newJobId, newSecret } from './job-id.js';
import { createSnapshot, isSettled, type NewJob } from './job-reducer.js';
import type { JobSnapshot } from './job-snapshot.js';
import type { JobRemoval, JobStore, StoredJob } from './job-store.js';
import { JobIndex, queryJobs, type JobPage, type JobQuery } from './job-query.js';
import type { LoggedChange, SharedLog } from './shared-log.js';
import { SharedCommit } from './shared-commit.js';

/** One job in the table. */
export interface JobEntry {
  /** The reducer's state; may be ahead of the disk. */
  current: JobSnapshot;
  /** The last durable state: what subscribers have been shown. Undefined until the first write. */
  published: JobSnapshot | undefined;
  readonly secret: string;
  /**
   * Settles when `current` is durable; undefined when it already is. Rejects with
   * StoreUnavailableError while the store cannot write: `current` is then not confirmed (it is
   * still written, and published, once the store recovers, and `pending` becomes undefined).
   */
  pending: Promise<void> | undefined;
  /** Polls the provider refused in a row. */
  rejectedPolls: number;
  /** The change-log seq `published` was published with; 0 when not known (stored before seqs were). */
  publishedSeq: number;
}

/**
 * Derives a job's next version again from a newer `current` (the same observation, folded into
 * what another cluster member stored first). Returns `current` itself when the observation adds
 * nothing any more.
 */
export type Redo = (current: JobSnapshot) => JobSnapshot;

/** A consistent view of the jobs matching a filter, as of change `seq` of `epoch`. */
export interface EngineSnapshot {
  epoch: string;
  seq: number;
  jobs: JobSnapshot[];
}

/** Options of {@link JobTable}. */
export interface JobTableOptions {
  /** Where jobs are kept, in one process. Exactly one of `store` and `shared`. */
  store?: JobStore;
  /**
   * The state and change log shared by a cluster: commits become compare-and-set steps on it,
   * and every member publishes every change, in the log's order, as it reads it back.
   */
  shared?: SharedLog;
  /**
   * Names the change log. @default the store's {@link JobStore.epoch} once loaded, else a fresh
   * one per table.
   */
  epoch?: string;
  changeLogSize: number;
  /**
   * After each published change, in order (result copies, pipeline steps hang off it). `local`:
   * this table committed the change (always, in one process; in a cluster, only on the member
   * that committed it), for side effects that must run once.
   */
  onPublished: (job: JobSnapshot, previous: JobSnapshot | undefined, local: boolean) => void;
  onStoreError: (error: unknown, attempt: number) => void;
  /** A write succeeded after failed ones (see {@link GroupCommit}). */
  onStoreRecovered?: (recovery: { attempts: number; downMs: number }) => void;
}

/** @internal One change on its way to the store (exported for {@link SharedCommit}). */
export interface Pending {
  entry: JobEntry;
  job: JobSnapshot;
  /** How to derive this change again on a newer state (cluster: after a version conflict). */
  redo: Redo | undefined;
  /** The version this change was derived from (0: it creates the job). */
  baseVersion: number;
  /** Hears whether this change (or its redo) was written, or dropped as adding nothing (cluster). */
  written: ((yes: boolean) => void) | undefined;
  /** The status of the version before this one (`null` for the first). */
  previousStatus: JobSnapshot['status'] | null;
  /**
   * The seq this change is published with, assigned when its batch is first written (in batch
   * order) and kept when a failed write is retried, so what is on disk matches what is published.
   */
  seq: number | undefined;
}

/**
 * The engine's memory and its contract with subscribers: every job's current and published
 * state, the group commit to the store, and publication. A change is published (to
 * `changes$`, to `job$` views and into the change log with the next `seq`) only once it is
 * durable, and batches are published strictly in order. Per-job observables are views made on
 * demand, so an idle job costs one entry.
 *
 * While the store cannot write (see {@link GroupCommit}), a change is folded into `current` but
 * not published; `entry.pending` rejects with StoreUnavailableError, so a caller that awaits it
 * (a webhook, a REST write, also a redelivery that repeats `current`) is refused rather than
 * answered from a state that is not on disk. The change is written and published when the store
 * recovers, which clears `pending`.
 */
export class JobTable {
  readonly #epochOption: string | undefined;
  #epoch: string | undefined;
  readonly #store: JobStore | undefined;
  readonly #shared: SharedCommit | undefined;
  readonly #sharedLog: SharedLog | undefined;
  /** Every job, with its ids kept sorted for lists (see {@link JobIndex}). */
  readonly #jobs = new JobIndex<JobEntry>();
  /** `provider \n externalId` → job id, so a provider job is adopted once. */
  readonly #byExternalId = new Map<string, string>();
  readonly #watchers = new Map<string, Subject<JobSnapshot>>();
  readonly #views = new Map<string, Observable<JobSnapshot>>();
  readonly #changes = new Subject<JobChange>();
  #log: ChangeLog;
  readonly #commit: GroupCommit<Pending>;
  readonly #onPublished: JobTableOptions['onPublished'];
  readonly #onStoreError: JobTableOptions['onStoreError'];
  /** Callers of {@link durable}, by job id. */
  readonly #durableWaiters = new Map<string, { version: number; resolve(): void; reject(error: unknown): void }[]>();
  #seq = 0;
  /** The last seq handed to a change being written (ahead of `#seq` while a write is in flight). */
  #assignedSeq = 0;
  #compaction: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: JobTableOptions) {
    this.#epochOption = options.epoch;
    if ((options.store === undefined) === (options.shared === undefined)) throw new Error('a job table needs exactly one of store and shared');
    this.#store = options.store;
    this.#sharedLog = options.shared;
    this.#log = new ChangeLog(options.changeLogSize);
    this.#onPublished = options.onPublished;
    this.#onStoreError = options.onStoreError;
    this.#shared =
      options.shared === undefined
        ? undefined
        : new SharedCommit({
            log: options.shared,
            changeLogSize: options.changeLogSize,
            publish: (change, local) => this.#publishLogged(change, local),
            resync: (jobs, seq) => this.#resync(jobs, seq),
            onError: (error) => this.#onStoreError(error, 1),
          });
    const shared = this.#shared;
    const store = this.#store;
    this.#commit = new GroupCommit<Pending>({
      // One process: number, write, then publish. A cluster: compare-and-set each change on the
      // shared log; it is published when this member reads it back (before the write resolves).
      write: shared === undefined ? (batch) => (store as JobStore).append(this.#assignSeqs(batch).map(storedOf)) : (batch) => shared.write(batch),
      onDurable: (batch) => {
        if (shared === undefined) this.#publish(batch);
      },
      onError: options.onStoreError,
      ...(options.onStoreRecovered === undefined ? {} : { onRecovered: options.onStoreRecovered }),
    });
  }

  /** Names the change log: `{epoch, seq}` is a position in it. */
  get epoch(): string {
    this.#epoch ??= this.#epochOption ?? mintEpoch();
    return this.#epoch;
  }

  /** The seq of the newest published change. */
  get seq(): number {
    return this.#seq;
  }

  /** Why the store cannot write (or, in a cluster, be read), while it cannot; `undefined` while it can. */
  get storeFailure(): CommitFailure | undefined {
    return this.#commit.failure ?? this.#shared?.failure;
  }

  get closing(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Reads the store; stored jobs are current and published at once. The log keeps the store's
   * epoch and continues after the highest seq stored.
   */
  async load(): Promise<StoredJob[]> {
    if (this.#shared !== undefined) return this.#loadShared(this.#shared);
    const stored = await (this.#store as JobStore).load();
    this.#epoch = this.#epochOption ?? this.#store?.epoch ?? this.#epoch ?? mintEpoch();
    let lastSeq = 0;
    for (const { job, secret, seq } of stored) {
      this.#jobs.set(job.id, { current: job, published: job, secret, pending: undefined, rejectedPolls: 0, publishedSeq: seq ?? 0 });
      if (job.externalId !== null) this.index(job.provider, job.externalId, job.id);
      if (seq !== undefined && seq > lastSeq) lastSeq = seq;
    }
    // A removed job's change may have been the newest: the log continues after the removal.
    const removedAt = this.#store?.removedAt ?? 0;
    if (removedAt > lastSeq) lastSeq = removedAt;
    if (lastSeq > this.#seq) {
      const tail = this.#loadedTail(lastSeq);
      if (tail.length > 0) this.#log.restore(tail, removedAt);
      else this.#log.continueAfter(lastSeq, removedAt);
      this.#seq = lastSeq;
      this.#assignedSeq = lastSeq;
    }
    return stored;
  }

  entry(id: string): JobEntry | undefined {
    return this.#jobs.get(id);
  }

  entries(): IterableIterator<JobEntry> {
    return this.#jobs.values();
  }

  /** The job as last published, or `undefined`. */
  published(id: string): JobSnapshot | undefined {
    return this.#jobs.get(id)?.published;
  }

  /** Remembers which job a provider's id belongs to. */
  index(provider: string, externalId: string, id: string): void {
    this.#byExternalId.set(`${provider}\n${externalId}`, id);
  }

  /**
   * Removes settled jobs (retention), each only at the version given and only while nothing of
   * it is pending: from the store durably (all or none; in a cluster, a compare-and-set per job
   * that is idempotent, so members sweeping at once agree), then from this table, the external-id
   * index and the change log (their history is gone; readers from before the removal resume by
   * state, where `gone` names them). A job that changed meanwhile stays.
   *
   * @returns the ids removed here.
   * @throws what the store throws (nothing is removed then).
   */
  async remove(removals: readonly JobRemoval[]): Promise<string[]> {
    const removable = (removal: JobRemoval): boolean => {
      const entry = this.#jobs.get(removal.id);
      const job = entry?.published;
      if (entry === undefined || job === undefined) return false;
      return entry.pending === undefined && entry.current === job && job.version === removal.version && isSettled(job);
    };
    const candidates = removals.filter(removable);
    if (candidates.length === 0 || this.#closing !== undefined) return [];
    let done: readonly JobRemoval[];
    let atSeq: number;
    if (this.#sharedLog !== undefined) {
      if (this.#sharedLog.remove === undefined) return [];
      const outcome = await this.#sharedLog.remove(candidates);
      const gone = new Set(outcome.removed);
      done = candidates.filter(({ id }) => gone.has(id));
      atSeq = outcome.atSeq;
    } else {
      const store = this.#store as JobStore;
      if (store.remove === undefined) return [];
      // Seqs already handed to a batch in flight are not reused after a restart either.
      atSeq = this.#assignedSeq;
      await store.remove(candidates, atSeq);
      done = candidates;
    }
    const removed = new Set<string>();
    for (const removal of done) {
      if (!removable(removal)) continue;
      const job = (this.#jobs.get(removal.id) as JobEntry).current;
      this.#jobs.delete(job.id);
      if (job.externalId !== null && this.#byExternalId.get(`${job.provider}\n${job.externalId}`) === job.id) {
        this.#byExternalId.delete(`${job.provider}\n${job.externalId}`);
      }
      this.#views.delete(job.id);
      this.#watchers.get(job.id)?.complete();
      this.#watchers.delete(job.id);
      removed.add(job.id);
    }
    this.#log.forget(removed, Math.max(atSeq, this.#seq));
    return [...removed];
  }

  /** The job a provider's id belongs to, if any. */
  byExternalId(provider: string, externalId: string): JobEntry | undefined {
    const id = this.#byExternalId.get(`${provider}\n${externalId}`);
    return id === undefined ? undefined : this.#jobs.get(id);
  }

  /** Records a new job (with a fresh id and webhook secret) and queues it for the disk. */
  create(job: Omit<NewJob, 'id' | 'createdAt'>, now: number): JobEntry {
    const snapshot = createSnapshot({ ...job, id: newJobId(now), createdAt: now });
    const entry: JobEntry = { current: snapshot, published: undefined, secret: newSecret(), pending: undefined, rejectedPolls: 0, publishedSeq: 0 };
    this.#jobs.set(snapshot.id, entry);
    this.commit(entry, snapshot);
    return entry;
  }

  /**
   * Makes `next` the job's current state and queues it for the disk (publication follows).
   * `redo` derives it again from a newer state when, in a cluster, another member changed the
   * job first; `written` hears whether it (or its redo) was written, or dropped because the
   * newer state already had what it adds.
   */
  commit(entry: JobEntry, next: JobSnapshot, redo?: Redo, written?: (yes: boolean) => void): void {
    const base = entry.current === next ? undefined : entry.current;
    entry.current = next;
    const durable = this.#commit.enqueue({ entry, job: next, redo, written, baseVersion: base?.version ?? 0, previousStatus: base?.status ?? null, seq: undefined });
    entry.pending = durable;
    durable.then(
      () => {
        if (entry.pending === durable) entry.pending = undefined;
      },
      () => undefined,
    );
  }

  /**
   * Resolves once the job's current state is durable (published), however long the store takes
   * to recover; rejects with EngineClosedError when the table closes first. For background work
   * that must not give up on a full disk (a pipeline step's start); request handlers await
   * `entry.pending` instead, which fails fast while the store cannot write.
   */
  durable(entry: JobEntry): Promise<void> {
    const { id, version } = entry.current;
    if (entry.published !== undefined && entry.published.version >= version) return Promise.resolve();
    if (this.#closing !== undefined) return Promise.reject(new EngineClosedError());
    return new Promise<void>((resolve, reject) => {
      let waiters = this.#durableWaiters.get(id);
      if (waiters === undefined) this.#durableWaiters.set(id, (waiters = []));
      waiters.push({ version, resolve, reject });
    });
  }

  /** Resolves when everything queued so far is durable. */
  flush(): Promise<void> {
    return this.#commit.flush();
  }

  /**
   * One job as an observable: the current snapshot first, then every new version, completing
   * after the settled one. Shared between subscribers with a one-value replay.
   */
  job$(id: string): Observable<JobSnapshot> {
    let view = this.#views.get(id);
    if (view === undefined) {
      view = defer(() => {
        const entry = this.#jobs.get(id);
        if (entry?.published === undefined) return throwError(() => new UnknownJobError(id));
        if (this.#closing !== undefined) return throwError(() => new EngineClosedError());
        let watcher = this.#watchers.get(id);
        if (watcher === undefined) {
          watcher = new Subject<JobSnapshot>();
          this.#watchers.set(id, watcher);
        }
        const source = watcher;
        return concat(of(entry.published), source).pipe(
          distinctUntilChanged((previous, next) => next.version <= previous.version),
          takeWhile((job) => !isSettled(job), true),
          finalize(() => {
            if (!source.observed && this.#watchers.get(id) === source) this.#watchers.delete(id);
            this.#views.delete(id);
          }),
        );
      }).pipe(share({ connector: () => new ReplaySubject<JobSnapshot>(1), resetOnRefCountZero: true }));
      this.#views.set(id, view);
    }
    return view;
  }

  /** The ordered log of changes from now on, optionally filtered. */
  changes$(jobFilter?: JobFilter): Observable<JobChange> {
    if (jobFilter === undefined) return this.#changes.asObservable();
    const matches = compileFilter(jobFilter);
    return this.#changes.pipe(filter((change) => matches(change.job, change.previousStatus)));
  }

  /** The changes after `seq` of this epoch, or `undefined` when they are not all kept. */
  changesSince(epoch: string, seq: number, jobFilter?: JobFilter): JobChange[] | undefined {
    if (epoch !== this.epoch) return undefined;
    const changes = this.#log.since(seq);
    if (changes === undefined || jobFilter === undefined) return changes;
    const matches = compileFilter(jobFilter);
    return changes.filter((change) => matches(change.job, change.previousStatus));
  }

  /**
   * Resume by state, for a subscriber whose resume point the log cannot serve (older than its
   * tail, or of another epoch): the published jobs it lacks, as of the newest `seq`, instead of
   * all of them. What it lacks:
   *
   * - when `point.epoch` is this log's and `point.seq` is not in the future: every job whose
   *   last change came after `point.seq` (each version records its seq, across restarts);
   * - when it says which versions it holds (`point.versions`, job id → version): every job it
   *   does not hold, or holds at an older version;
   *
   * of those, the jobs that match the filter, or that it holds (so it sees a job leave the
   * filter). Both rules together when both apply. `gone` lists the held jobs this log does not
   * have (another epoch). `undefined` when neither rule applies: the caller sends a full
   * snapshot.
   */
  newerThan(
    point: { epoch: string; seq: number; versions?: Readonly<Record<string, number>> | undefined },
    jobFilter?: JobFilter,
  ): (EngineSnapshot & { gone: string[] }) | undefined {
    const sameLog = point.epoch === this.epoch && point.seq <= this.#seq;
    const held = point.versions === undefined ? undefined : new Map(Object.entries(point.versions));
    if (!sameLog && held === undefined) return undefined;
    const matches = compileFilter(jobFilter);
    const jobs: JobSnapshot[] = [];
    for (const entry of this.#jobs.values()) {
      const job = entry.published;
      if (job === undefined) continue;
      const heldVersion = held?.get(job.id);
      if (heldVersion !== undefined && heldVersion >= job.version) continue;
      if (sameLog && entry.publishedSeq > 0 && entry.publishedSeq <= point.seq && (held === undefined || heldVersion !== undefined)) continue;
      if (heldVersion !== undefined || matches(job)) jobs.push(job);
    }
    const gone: string[] = [];
    if (held !== undefined) for (const id of held.keys()) if (this.#jobs.get(id)?.published === undefined) gone.push(id);
    return { epoch: this.epoch, seq: this.#seq, jobs, gone };
  }

  /** The kept changes of one job. @throws UnknownJobError */
  history(id: string): JobChange[] {
    if (this.#jobs.get(id)?.published === undefined) throw new UnknownJobError(id);
    return this.#log.forJob(id);
  }

  /** Every published job matching the filter, as of the newest `seq`. */
  snapshot(jobFilter?: JobFilter): EngineSnapshot {
    const matches = compileFilter(jobFilter);
    const jobs: JobSnapshot[] = [];
    for (const entry of this.#jobs.values()) {
      if (entry.published !== undefined && matches(entry.published)) jobs.push(entry.published);
    }
    return { epoch: this.epoch, seq: this.#seq, jobs };
  }

  /** One page of matching jobs, newest first; `next` (the last job's id) continues after the last one. */
  list(jobFilter?: JobFilter, page: { limit?: number; after?: string } = {}): { jobs: JobSnapshot[]; next: string | undefined } {
    const limit = Math.max(1, Math.min(page.limit ?? 100, 1000));
    const matches = compileFilter(jobFilter);
    // Ids start with their creation time, so the sorted ids are in order of age.
    const items = this.#jobs.sortedItems();
    const after = page.after;
    const jobs: JobSnapshot[] = [];
    let more = false;
    for (let i = items.length - 1; i >= 0 && !more; i--) {
      const { id, entry } = items[i] as (typeof items)[number];
      if (after !== undefined && id >= after) continue;
      const job = entry.published;
      if (job === undefined || !matches(job)) continue;
      if (jobs.length < limit) jobs.push(job);
      else more = true;
    }
    return { jobs, next: more ? jobs.at(-1)?.id : undefined };
  }

  /**
   * One page of the published jobs matching the filter and the query (search, bounds, order),
   * with the number of all matches and an opaque cursor to the next page (see {@link queryJobs}).
   *
   * @throws InvalidRequestError for a cursor that is not one of this query's.
   */
  query(jobFilter?: JobFilter, query?: JobQuery): JobPage {
    return queryJobs(this.#jobs, compileFilter(jobFilter), query);
  }

  /** Finishes pending writes, closes the store, errors unfinished views. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#commit.close();
      await this.#compaction;
      await this.#shared?.close();
      await this.#store?.close();
      for (const waiters of this.#durableWaiters.values()) for (const waiter of waiters) waiter.reject(new EngineClosedError());
      this.#durableWaiters.clear();
      for (const watcher of this.#watchers.values()) watcher.error(new EngineClosedError());
      this.#watchers.clear();
      this.#changes.complete();
    })();
    return this.#closing;
  }

  /** Numbers the changes of a batch that have no seq yet (a retried batch keeps its numbers). */
  #assignSeqs(batch: readonly Pending[]): readonly Pending[] {
    for (const item of batch) item.seq ??= ++this.#assignedSeq;
    return batch;
  }

  /** Runs when a batch is durable: publishes each change in order, with the seq it was written with. */
  #publish(batch: readonly Pending[]): void {
    for (const { entry, job, previousStatus, written, seq: assigned } of batch) {
      written?.(true);
      const previous = entry.published;
      const seq = assigned as number;
      entry.published = job;
      entry.publishedSeq = seq;
      // A waiter rejected while the store was failing never clears `pending`: being published
      // is what makes `current` durable.
      if (entry.current === job) entry.pending = undefined;
      this.#seq = seq;
      const change: JobChange = { epoch: this.epoch, seq, job, previousStatus };
      this.#log.push(change);
      this.#watchers.get(job.id)?.next(job);
      this.#changes.next(change);
      this.#onPublished(job, previous, true);
      this.#settleDurableWaiters(job);
    }
    const store = this.#store;
    if (store?.wantsCompaction === true && this.#compaction === undefined) {
      this.#compaction = store
        .compact(
          () => this.#durableJobs(),
          () => this.#keptChanges(),
        )
        .catch((error: unknown) => this.#onStoreError(error, 1))
        .finally(() => {
          this.#compaction = undefined;
        });
    }
  }

  /**
   * A cluster member's start: every job as the shared log has it, the tail of the log (up to
   * `changeLogSize` changes) for resuming clients and history, then following the log from
   * there: each change any member commits is published here as it is read.
   */
  async #loadShared(shared: SharedCommit): Promise<StoredJob[]> {
    const { jobs, seq, tail: loggedTail, removedAt } = await shared.load();
    // Changes up to the last removal may be of removed jobs: not brought back (readers at or
    // before it resume by state).
    const tail = loggedTail.filter((change) => change.seq > removedAt);
    this.#epoch = this.#epochOption ?? shared.epoch;
    for (const { job, secret, seq: jobSeq } of jobs) {
      this.#jobs.set(job.id, { current: job, published: job, secret, pending: undefined, rejectedPolls: 0, publishedSeq: jobSeq ?? 0 });
      if (job.externalId !== null) this.index(job.provider, job.externalId, job.id);
    }
    const reached = tail.at(-1)?.seq ?? seq;
    // Changes made while the jobs were read: the newest version of each job wins.
    for (const change of tail) {
      const entry = this.#jobs.get(change.job.id);
      if (entry?.published !== undefined && entry.published.version >= change.job.version) continue;
      if (entry === undefined) {
        this.#jobs.set(change.job.id, { current: change.job, published: change.job, secret: change.secret, pending: undefined, rejectedPolls: 0, publishedSeq: change.seq });
      } else {
        entry.current = entry.published = change.job;
        entry.publishedSeq = change.seq;
      }
      if (change.job.externalId !== null) this.index(change.job.provider, change.job.externalId, change.job.id);
    }
    if (tail.length > 0) {
      this.#log.restore(
        tail.map((change) => ({ epoch: this.epoch, seq: change.seq, job: this.#heldVersion(change.job), previousStatus: change.previousStatus })),
        removedAt,
      );
    } else this.#log.continueAfter(seq, removedAt);
    this.#seq = reached;
    shared.follow(reached);
    const out: StoredJob[] = [];
    for (const entry of this.#jobs.values()) {
      if (entry.published !== undefined) out.push({ job: entry.published, secret: entry.secret, seq: entry.publishedSeq });
    }
    return out;
  }

  /** The object the table holds when it is this very version (so both stay one object). */
  #heldVersion(job: JobSnapshot): JobSnapshot {
    const held = this.#jobs.get(job.id)?.published;
    return held?.version === job.version ? held : job;
  }

  /**
   * Publishes one change read from the shared log (any member's), in the log's order. A version
   * not newer than the one held (read while loading) is kept in the log but not shown again.
   * `local` says this member committed it: only then do its side effects run here (result
   * copies, pipeline steps), so each runs once in the cluster.
   */
  #publishLogged(logged: LoggedChange, local: boolean): void {
    const { job, secret, seq, previousStatus } = logged;
    let entry = this.#jobs.get(job.id);
    if (entry === undefined) {
      entry = { current: job, published: undefined, secret, pending: undefined, rejectedPolls: 0, publishedSeq: 0 };
      this.#jobs.set(job.id, entry);
    }
    if (job.externalId !== null) this.index(job.provider, job.externalId, job.id);
    const change: JobChange = { epoch: this.epoch, seq, job, previousStatus };
    this.#log.push(change);
    this.#seq = seq;
    const previous = entry.published;
    if (previous !== undefined && previous.version >= job.version) return;
    entry.published = job;
    entry.publishedSeq = seq;
    // Another member moved the job on: what this one holds as current is behind (its own
    // pending change, if any, will meet a version conflict and be derived again).
    if (entry.current.version <= job.version) entry.current = job;
    // A waiter rejected while the store was failing never clears `pending`: being published is
    // what makes `current` durable (else every later webhook of the job would be refused).
    if (entry.current === job) entry.pending = undefined;
    this.#watchers.get(job.id)?.next(job);
    this.#changes.next(change);
    this.#onPublished(job, previous, local);
    this.#settleDurableWaiters(job);
  }

  /**
   * The shared log lost changes this member had not read (trimmed past it): start over from
   * the shared state. Jobs that moved on are published as they are now; the log continues
   * after `seq` (clients further back resume by state).
   */
  #resync(jobs: readonly StoredJob[], seq: number): void {
    this.#log = new ChangeLog(this.#log.capacity);
    this.#log.continueAfter(seq);
    this.#seq = seq;
    for (const { job, secret, seq: jobSeq } of jobs) {
      let entry = this.#jobs.get(job.id);
      if (entry === undefined) {
        entry = { current: job, published: undefined, secret, pending: undefined, rejectedPolls: 0, publishedSeq: 0 };
        this.#jobs.set(job.id, entry);
      }
      const previous = entry.published;
      if (previous !== undefined && previous.version >= job.version) continue;
      entry.published = job;
      entry.publishedSeq = jobSeq ?? 0;
      if (entry.current.version <= job.version) entry.current = job;
      if (entry.current === job) entry.pending = undefined;
      this.#watchers.get(job.id)?.next(job);
      this.#settleDurableWaiters(job);
    }
  }

  #settleDurableWaiters(job: JobSnapshot): void {
    const waiters = this.#durableWaiters.get(job.id);
    if (waiters === undefined) return;
    const [done, waiting] = partition(waiters, (waiter) => waiter.version <= job.version);
    if (waiting.length === 0) this.#durableWaiters.delete(job.id);
    else this.#durableWaiters.set(job.id, waiting);
    for (const waiter of done) waiter.resolve();
  }

  /**
   * The changes the store kept (its log's tail), as the log's changes: ascending, contiguous and
   * ending at `lastSeq`, or empty when the store kept none that reach it (data written before
   * the tail was stored), in which case the log starts empty after `lastSeq`.
   */
  #loadedTail(lastSeq: number): JobChange[] {
    const stored = this.#store?.loadedChanges?.() ?? [];
    const tail: JobChange[] = [];
    let expected = lastSeq;
    for (let i = stored.length - 1; i >= 0; i--) {
      const { job, seq, previousStatus } = stored[i] as StoredJob;
      if (seq !== expected || previousStatus === undefined) break;
      // The latest version of a job is the object the table holds, so both stay one object.
      const held = this.#jobs.get(job.id)?.published;
      tail.push({ epoch: this.epoch, seq, job: held?.version === job.version ? held : job, previousStatus });
      expected -= 1;
    }
    return tail.reverse();
  }

  /**
   * The log's kept changes as the store keeps them. The log is copied now (a ring that moves
   * on); each change becomes a record only when the store reads it, in its slices: building
   * 10,000 records at once was a stall of several ms at every compaction's start.
   */
  #keptChanges(): Iterable<StoredJob> {
    const changes = this.#log.snapshot();
    const jobs = this.#jobs;
    return (function* (): Generator<StoredJob> {
      for (const { seq, job, previousStatus } of changes) {
        const entry = jobs.get(job.id);
        if (entry !== undefined) yield { job, secret: entry.secret, seq, previousStatus };
      }
    })();
  }

  *#durableJobs(): Generator<StoredJob> {
    for (const entry of this.#jobs.values()) {
      // One object per job, no spread: a compaction walks every job, so this is its garbage.
      if (entry.published !== undefined) yield entry.publishedSeq > 0 ? { job: entry.published, secret: entry.secret, seq: entry.publishedSeq } : { job: entry.published, secret: entry.secret };
    }
  }
}

/**
 * A change as the store records it. Every version is written, also several of one job in one
 * batch: each is a change of the log that a resuming subscriber may need after a restart.
 */
function storedOf({ entry, job, seq, previousStatus }: Pending): StoredJob {
  return { job, secret: entry.secret, ...(seq === undefined ? {} : { seq }), previousStatus };
}

function partition<T>(items: readonly T[], test: (item: T) => boolean): [T[], T[]] {
  const yes: T[] = [];
  const no: T[] = [];
  for (const item of items) (test(item) ? yes : no).push(item);
  return [yes, no];
}
