import { asyncScheduler, filter, firstValueFrom, map, last, Subject, throwError, timeout, type Observable, type SchedulerLike, type Subscription } from 'rxjs';
import {
  cancelModeOf,
  TRACKING_STOPPED,
  type CancelMode,
  type CreateJobRequest,
  type JobInput,
  type ProviderAdapter,
  type ResultDownload,
  type ResultFile,
} from './provider-port.js';
import { parseRequest, SubmitRequest, TrackRequest } from './engine-requests.js';
import {
  describeStoreError,
  EngineClosedError,
  InvalidRequestError,
  JobstreamError,
  ProviderError,
  StoreUnavailableError,
  UnknownJobError,
  UnknownProviderError,
  WaitTimeoutError,
} from './errors.js';
import { setMaxListeners } from 'node:events';
import { createReadStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { FileStore } from './file-store.js';
import { KeptInputs, type KeepMode } from './kept-inputs.js';
import type { JobPage, JobQuery } from './job-query.js';
import type { JobChange } from './job-change.js';
import { entered, settledBy, type JobFilter } from './job-filter.js';
import { JobFold, refOf, type IncomingWebhook } from './job-fold.js';
import { webhookToken } from './job-id.js';
import { isSettled, markStarted, recordArtifacts } from './job-reducer.js';
import type { JobArtifacts, JobInputRecord, JobLink, JobSnapshot, JsonValue } from './job-snapshot.js';
import { isTerminal, type JobStatus } from './job-status.js';
import type { EngineEvent, EngineHealth, EngineOptions, WebhookResult } from './engine-options.js';
import type { JobStore } from './job-store.js';
import { JobTable, type EngineSnapshot, type JobEntry } from './job-table.js';
import { PollScheduler, type PollSchedule, type PollSchedulerOptions } from './poll-scheduler.js';
import type { ClusterBackend } from './shared-log.js';
import { WaitingJobs } from './waiting-jobs.js';
import { resolveByteRange, type ByteRange } from './byte-range.js';
import { computeJobStats, resolveStatsQuery, type JobStats, type JobStatsQuery } from './job-stats.js';
import type { LaneHealth } from './poll-scheduler.js';
import { ResultCopier } from './result-copier.js';
import { Retention, validRetainMs, type RetentionStatus, type RetentionSweep } from './retention.js';

export type { EngineEvent, EngineHealth, EngineOptions, WebhookResult } from './engine-options.js';
export type { EngineSnapshot } from './job-table.js';
export type { JobPage, JobQuery, JobSort, SortOrder } from './job-query.js';

/** How {@link Engine.submit} treats a `file` input. */
export interface SubmitOptions {
  /**
   * The file is a temporary one the caller gives up (an upload): the engine moves it into its
   * kept inputs instead of copying it. The caller may still remove the path afterwards.
   */
  moveInput?: boolean;
}

/** How many recent errors {@link Engine.providerHealth} keeps per lane. */
const RECENT_ERRORS = 10;

/** One recent provider error of a lane: when, what kind of failure, a short message without secrets. */
export interface LaneError {
  at: number;
  /** `rate-limited`, `unavailable`, `rejected`, `failed`, … (the provider call's failure). */
  kind: string;
  message: string;
}

/** A lane's health ({@link LaneHealth}) with its provider and its recent errors, newest last. */
export interface ProviderLaneHealth extends LaneHealth {
  provider: string;
  recentErrors: LaneError[];
}

/** A result file opened for reading, maybe in part. */
export interface OpenedResult extends ResultDownload {
  /** The file's size in bytes, when known (a local copy); `undefined` for a provider download. */
  size: number | undefined;
  /** The bytes `body` holds (inclusive), when a range was asked for and could be honoured. */
  range: { start: number; end: number } | undefined;
}

/**
 * Creates an engine, loads its store and resumes every unfinished job.
 *
 * @example
 * const engine = await createEngine({ providers: [klangio], dataDir: './data' });
 * const job = await engine.submit({ provider: 'klangio', kind: 'transcription', input: { type: 'url', url } });
 * engine.job$(job.id).subscribe((s) => console.log(s.status, s.progress));
 */
export async function createEngine(options: EngineOptions): Promise<Engine> {
  const dataDir = options.dataDir ?? './data';
  // Before the store is opened, so a bad option leaves nothing locked.
  validRetainMs(options.retainMs);
  if (options.cluster !== undefined) {
    if (options.store !== undefined) throw new Error('createEngine: `store` and `cluster` exclude each other');
    // Kept uploads go with the shared result copies when there are any, so any member can retry them.
    const inputsDir = options.inputsDir ?? (typeof options.resultsDir === 'string' ? join(options.resultsDir, 'inputs') : join(dataDir, 'inputs'));
    const engine = new Engine({ ...options, resultsDir: options.resultsDir ?? join(dataDir, 'results'), inputsDir }, undefined);
    try {
      await engine.restore();
    } catch (error) {
      await engine.close();
      throw error;
    }
    return engine;
  }
  const store = options.store ?? (await FileStore.open({ dir: dataDir, keepChanges: options.changeLogSize ?? 10_000 }));
  const resultsDir = options.resultsDir ?? (options.store === undefined ? join(dataDir, 'results') : false);
  const inputsDir = options.inputsDir ?? (options.store === undefined || options.dataDir !== undefined ? join(dataDir, 'inputs') : false);
  const engine = new Engine({ ...options, resultsDir, inputsDir }, store);
  try {
    await engine.restore();
  } catch (error) {
    await store.close();
    throw error;
  }
  return engine;
}

/**
 * The job-state engine: one job table, one reducer, one ordered change log. Poll answers and
 * webhook deliveries of every job are folded in by the same reducer (see {@link JobFold}); a
 * change is published (to `changes$` and `job$`) once it is durable, so nothing a subscriber saw
 * can be lost in a crash. Per-job observables are views made on demand, so idle jobs cost one
 * record each. The engine itself is the facade: submission, result files, restore, and the API.
 *
 * Create it with {@link createEngine}.
 */
export class Engine {
  readonly #adapters = new Map<string, ProviderAdapter>();
  readonly #table: JobTable;
  readonly #events = new Subject<EngineEvent>();
  readonly #polls: PollSchedule;
  readonly #cluster: ClusterBackend | undefined;
  readonly #graceTimers = new Set<Subscription>();
  readonly #scheduler: SchedulerLike;
  readonly #webhookUrl: ((provider: string, token: string) => string) | undefined;
  readonly #submitAttempts: number;
  readonly #abort = new AbortController();
  readonly #copier: ResultCopier | undefined;
  readonly #fold: JobFold;
  readonly #waiting: WaitingJobs;
  /** Uploaded inputs kept for retries; `undefined` when they are not kept. */
  readonly #inputs: KeptInputs | undefined;
  /** The last {@link RECENT_ERRORS} provider errors per lane (this process's). */
  readonly #laneErrors = new Map<string, LaneError[]>();
  /** Removes finished jobs after the retention period (`retainMs`). */
  readonly #retention: Retention;
  #closing: Promise<void> | undefined;

  /** @internal Use {@link createEngine}. */
  constructor(options: EngineOptions, store: JobStore | undefined) {
    for (const adapter of options.providers) {
      if (this.#adapters.has(adapter.provider)) throw new Error(`provider "${adapter.provider}" is configured twice`);
      this.#adapters.set(adapter.provider, adapter);
    }
    this.#scheduler = options.scheduler ?? asyncScheduler;
    // Every provider call listens to this one signal: any number of them may be in flight.
    setMaxListeners(0, this.#abort.signal);
    this.#webhookUrl = options.webhookUrl;
    this.#submitAttempts = Math.max(1, Math.floor(options.submitAttempts ?? 5));
    this.#cluster = options.cluster;
    this.#inputs = options.inputsDir === undefined || options.inputsDir === false ? undefined : new KeptInputs(options.inputsDir);
    this.#table = new JobTable({
      ...(options.cluster === undefined ? { store: storeOrThrow(store) } : { shared: options.cluster.log }),
      changeLogSize: options.changeLogSize ?? 10_000,
      onPublished: (job, previous, local) => this.#published(job, previous, local),
      onStoreError: (error, attempt) => this.#events.next({ type: 'store-error', error, attempt, reason: describeStoreError(error) }),
      onStoreRecovered: (recovery) => this.#events.next({ type: 'store-recovered', ...recovery }),
    });
    const pollOptions: PollSchedulerOptions = {
      poll: (jobId) => this.#fold.poll(jobId),
      scheduler: this.#scheduler,
      ...(options.random === undefined ? {} : { random: options.random }),
      onLaneEvent: (event) => this.#events.next({ ...event, provider: providerOfLane(event.lane) }),
    };
    this.#polls = options.cluster?.pollSchedule(pollOptions) ?? new PollScheduler(pollOptions);
    for (const adapter of this.#adapters.values()) this.#polls.defineLane(laneOf(adapter), adapter.pollPolicy);
    this.#copier =
      options.resultsDir === undefined || options.resultsDir === false
        ? undefined
        : new ResultCopier({
            dir: options.resultsDir,
            files: (job) => this.#offeredFiles(job),
            open: (job, name, signal) => this.#download(job, name, signal),
            record: (id, artifacts) => this.#recordArtifacts(id, artifacts),
          });
    this.#fold = new JobFold({
      table: this.#table,
      adapters: this.#adapters,
      polls: this.#polls,
      now: () => this.#now(),
      signal: this.#abort.signal,
      maxRejectedPolls: options.maxRejectedPolls ?? 5,
      copiesResults: (job) => this.#copier !== undefined && this.#offeredFiles(job).length > 0,
      onEvent: (event) => {
        if (event.type === 'poll' && event.outcome !== 'ok') this.#noteLaneError(event.provider, event.endedAt, event.outcome, event.error ?? event.outcome);
        this.#events.next(event);
      },
    });
    this.#waiting = new WaitingJobs({
      entry: (id) => this.#table.entry(id),
      published: (id) => this.#table.published(id),
      resultFiles: (id) => this.resultFiles(id),
      localCopy: (job, name) => (job.artifacts?.state === 'complete' ? this.#copier?.pathOf(job.id, name) : undefined),
      download: (job, name) => this.#download(job, name, this.#abort.signal),
      start: (entry, input, options) => this.#startStep(entry, input, options),
      fail: (entry, code, message) => this.#fold.fail(entry, code, message, 'submit'),
      closing: () => this.#closing !== undefined,
      report: (error) => this.#events.next({ type: 'store-error', error, attempt: 1 }),
    });
    const resultsDir = typeof options.resultsDir === 'string' ? options.resultsDir : undefined;
    this.#retention = new Retention({
      retainMs: options.retainMs,
      scheduler: this.#scheduler,
      jobs: () => publishedJobs(this.#table.entries()),
      remove: (removals) => this.#table.remove(removals),
      removeFiles: async (id) => {
        if (resultsDir !== undefined) await rm(join(resultsDir, id), { recursive: true, force: true });
        await this.#inputs?.remove(id);
      },
      onSwept: ({ at, removed }) => this.#events.next({ type: 'removed', ids: removed, at }),
      onError: (error) => this.#events.next({ type: 'store-error', error, attempt: 1, reason: `retention sweep: ${describeStoreError(error)}` }),
    });
  }

  /**
   * Names the change log: minted once with the data directory and kept across restarts, where
   * `seq` continues (a store that keeps no log, such as `MemoryStore`, gets one per engine).
   */
  get epoch(): string {
    return this.#table.epoch;
  }

  /** What the engine does (polls, webhooks, store errors), for metrics and logs. */
  get events$(): Observable<EngineEvent> {
    return this.#events.asObservable();
  }

  /** The seq of the newest published change. */
  get seq(): number {
    return this.#table.seq;
  }

  /**
   * Whether the engine can make changes durable. `unavailable` while store writes fail (a full
   * disk): webhooks and writes are then refused with StoreUnavailableError, and the failed
   * writes are retried in the background until they succeed.
   *
   * @example if (engine.health.status !== 'ok') console.warn(engine.health.reason)
   */
  get health(): EngineHealth {
    const failure = this.#table.storeFailure;
    if (failure === undefined) return { status: 'ok' };
    return { status: 'unavailable', reason: `store: ${failure.reason}`, since: failure.since };
  }

  /** Names of the configured providers. */
  get providers(): string[] {
    return [...this.#adapters.keys()];
  }

  /** Job kinds of a configured provider, or `undefined`. */
  kindsOf(provider: string): readonly string[] | undefined {
    return this.#adapters.get(provider)?.kinds;
  }

  /** @internal Loads the store and resumes unfinished jobs; called once by {@link createEngine}. */
  async restore(): Promise<void> {
    const stored = await this.#table.load();
    const now = this.#scheduler.now();
    let resumed = 0;
    let unconfigured = 0;
    for (const entry of this.#table.entries()) {
      const job = entry.current;
      if (job.artifacts?.state === 'pending') this.#copier?.enqueue(job);
      if (isTerminal(job.status)) continue;
      const adapter = this.#adapters.get(job.provider);
      if (job.externalId === null && job.after !== null && job.after.startedAt === null) {
        // A pipeline step still waiting: it never reached its provider, so it can wait on.
        this.#waiting.wait(entry).catch((error: unknown) => this.#events.next({ type: 'store-error', error, attempt: 1 }));
      } else if (job.externalId === null && this.#cluster !== undefined) {
        this.#failIfStillUnsubmitted(entry);
      } else if (job.externalId === null) {
        // The process stopped between recording the job and hearing back from the provider.
        this.#fold.apply(entry, {
          status: 'failed',
          error: { code: 'SUBMIT_INTERRUPTED', message: 'the engine stopped before the provider confirmed the job' },
          source: 'restore',
          observedAt: now,
        });
      } else if (adapter === undefined) {
        unconfigured += 1;
      } else {
        // Check every unfinished job once; the lane's rate budget staggers the checks.
        this.#polls.add(job.id, { lane: laneOf(adapter), hooked: this.#hooked(adapter), dueAt: now });
        resumed += 1;
      }
    }
    await this.#table.flush();
    this.#events.next({ type: 'restored', jobs: stored.length, resumed, unconfigured });
    this.#retention.start();
  }

  /** The retention policy (`retainMs`) and what its sweeps removed. */
  get retention(): RetentionStatus {
    return this.#retention.status;
  }

  /**
   * Runs a retention sweep now (it also runs at start and every hour): removes the finished
   * jobs that settled more than `retainMs` ago, with their result copies and kept inputs.
   * Without `retainMs` it removes nothing.
   *
   * @example const { removed } = await engine.sweepRetention();
   */
  sweepRetention(): Promise<RetentionSweep> {
    this.#assertOpen();
    return this.#retention.sweep();
  }

  /**
   * Records a new job, mints its webhook token, makes the record durable, then asks the
   * provider to start it, so a webhook that arrives before the provider's answer is never lost.
   * A `file` input is recorded as an upload (`input`: file name, type, size; never the path) and,
   * where the engine keeps inputs ({@link EngineOptions.inputsDir}), copied (or, with
   * `options.moveInput`, moved) there first so the job can be retried ({@link retry}).
   * Resolves with the job once the provider's answer is durable; a provider refusal gives a
   * `failed` job (with the reason in `error`) rather than a rejection.
   *
   * A submission that failed before anything could be created (a 429, a 503, no connection, a
   * failed upload slot) is retried after the provider lane's backoff (or its `Retry-After`), up
   * to `submitAttempts` calls; so `submit` may take that long before it resolves, with the job
   * created or failed with the last error. One that may have created a job at the provider is
   * not repeated: the job fails with `SUBMIT_UNCERTAIN` (see its message to adopt the job).
   *
   * @throws InvalidRequestError when the request does not validate (nothing is recorded).
   * @throws UnknownProviderError when the provider is not configured.
   * @throws StoreUnavailableError while the store cannot write: before the provider call the job
   *   is not submitted (it is kept as failed, `STORE_UNAVAILABLE`); after it, the job exists and
   *   is followed, but its state is confirmed only once the store recovers.
   */
  async submit(request: SubmitRequest, options: SubmitOptions = {}): Promise<JobSnapshot> {
    this.#assertOpen();
    return this.#submit(parseRequest(SubmitRequest, request), options.moveInput === true ? 'move' : 'copy', null);
  }

  /**
   * Submits a validated request (see {@link submit}). A `file` input is recorded as an upload
   * (`input` of the snapshot) and kept for retries (`keep` says how), once the job is durable and
   * before the provider reads it; a file that cannot be kept is still sent from where it is.
   */
  async #submit(req: SubmitRequest, keep: KeepMode, retryOf: string | null): Promise<JobSnapshot> {
    const adapter = this.#adapterFor(req.provider, req.kind);
    const fields = { kind: req.kind, input: req.input, name: req.name ?? null, metadata: req.metadata ?? {}, options: req.options ?? {} };
    const after = req.after === undefined ? null : this.#waiting.link(req.after, req.input);
    // A waiting step is checked as it will be called: with placeholders for what comes from upstream.
    const issues = adapter.validate?.(after === null ? fields : { ...fields, ...placeholders(after) }) ?? [];
    if (issues.length > 0) throw new InvalidRequestError(issues);

    const input = await inputRecord(req.input);
    const entry = this.#table.create(
      { provider: req.provider, kind: fields.kind, externalId: null, after, name: fields.name, metadata: fields.metadata, options: fields.options, input, retryOf },
      this.#now(),
    );
    try {
      await entry.pending;
    } catch (error) {
      // Not recorded, so the provider is not called: the record reaches the disk once the store
      // recovers, as a failed job rather than a submission nobody follows up.
      if (error instanceof StoreUnavailableError) {
        this.#fold.fail(entry, 'STORE_UNAVAILABLE', 'the job could not be recorded, so it was not submitted', 'submit');
      }
      throw error;
    }
    let sent = fields;
    if (req.input?.type === 'file' && this.#inputs !== undefined) {
      const kept = await this.#inputs.keep(entry.current.id, req.input.path, keep);
      if (kept !== undefined) sent = { ...fields, input: { ...req.input, path: kept } };
    }
    if (after === null) await this.#createAtProvider(entry, adapter, sent);
    else await this.#waiting.wait(entry);
    await entry.pending;
    return entry.published ?? entry.current;
  }

  /**
   * Adopts a job submitted elsewhere and polls it (no webhooks: its callback URL is not ours).
   * Tracking the same provider job twice returns the job already tracked.
   *
   * @throws StoreUnavailableError while the store cannot write (tracking again later returns the
   *   job once it is durable).
   */
  async track(request: TrackRequest): Promise<JobSnapshot> {
    this.#assertOpen();
    const req = parseRequest(TrackRequest, request);
    const adapter = this.#adapterFor(req.provider, req.kind);
    const existing = this.#table.byExternalId(req.provider, req.externalId);
    if (existing !== undefined) {
      await existing.pending;
      return existing.published ?? existing.current;
    }
    const entry = this.#table.create(
      { provider: req.provider, kind: req.kind, externalId: req.externalId, name: req.name ?? null, metadata: req.metadata ?? {}, options: req.options ?? {} },
      this.#now(),
    );
    const id = entry.current.id;
    this.#table.index(req.provider, req.externalId, id);
    this.#polls.add(id, { lane: laneOf(adapter), hooked: false, dueAt: this.#now() });
    await entry.pending;
    return entry.published ?? entry.current;
  }

  /**
   * Submits a finished job again as a new job: the same provider, kind, input, options, metadata
   * and name (and, for a pipeline step, the same link), with `retryOf` set to `id`. An uploaded
   * input is resent from the copy kept when it was submitted. Resolves as {@link submit} does.
   *
   * @throws UnknownJobError for an unknown id; JobstreamError `NOT_RETRYABLE`, saying why, for a
   *   job that is not finished, or whose input cannot be resent (an adopted job, a record older
   *   than `input`, an upload not kept here: in a cluster without a shared results directory
   *   only the member that received it keeps it); what {@link submit} throws.
   */
  async retry(id: string): Promise<JobSnapshot> {
    this.#assertOpen();
    const job = this.#table.published(id);
    if (job === undefined) throw new UnknownJobError(id);
    const refuse = (why: string) => new JobstreamError('NOT_RETRYABLE', `job "${id}" cannot be retried: ${why}`);
    if (!isTerminal(job.status)) throw refuse(`it is still ${job.status} (cancel it first, or wait for it to finish)`);
    const base: SubmitRequest = {
      provider: job.provider,
      kind: job.kind,
      ...(job.name === null ? {} : { name: job.name }),
      metadata: job.metadata,
      options: job.options,
    };
    let request: SubmitRequest;
    if (job.after !== null) {
      const { jobId, inputFrom, externalIdOption, input } = job.after;
      request = {
        ...base,
        after: { jobId, ...(inputFrom === null ? {} : { inputFrom }), ...(externalIdOption === null ? {} : { externalIdOption }) },
        ...(input === null ? {} : { input }),
      };
    } else if (job.input?.type === 'url') {
      request = { ...base, input: { type: 'url', url: job.input.url } };
    } else if (job.input?.type === 'upload') {
      if (this.#inputs === undefined || !(await this.#inputs.has(id))) {
        throw refuse(
          this.#cluster === undefined
            ? 'its uploaded file is not kept any more (or was never kept: this engine keeps no inputs)'
            : 'its uploaded file is not kept on this cluster member: without a shared results directory (JOBSTREAM_RESULTS_DIR), only the member that received the upload can retry it',
        );
      }
      const { filename, contentType } = job.input;
      request = { ...base, input: { type: 'file', path: this.#inputs.pathOf(id), filename, contentType } };
    } else {
      // No input recorded: resendable only when the job's kind takes none (its options say it all).
      const issues = this.#adapters.get(job.provider)?.validate?.({ kind: job.kind, input: undefined, name: job.name, metadata: job.metadata, options: job.options });
      if (issues === undefined || issues.length > 0) {
        throw refuse('its input is not known (an adopted job, or one recorded before jobstream kept inputs), so it cannot be resent');
      }
      request = base;
    }
    this.#assertOpen();
    return this.#submit(parseRequest(SubmitRequest, request), 'link', id);
  }

  /**
   * Drops the kept upload of job `id` (for retention, when the job itself goes). Does nothing
   * when none is kept.
   */
  async removeKeptInput(id: string): Promise<void> {
    await this.#inputs?.remove(id);
  }

  /** The job as last published, or `undefined` for an unknown id. */
  get(id: string): JobSnapshot | undefined {
    return this.#table.published(id);
  }

  /**
   * One job as an observable: the current snapshot first, then every new version, completing
   * after the settled one (terminal, with no result copies still being fetched). Shared between
   * subscribers with a one-value replay. Errors with {@link UnknownJobError} for an unknown id
   * and {@link EngineClosedError} when the engine closes.
   */
  job$(id: string): Observable<JobSnapshot> {
    return this.#table.job$(id);
  }

  /**
   * The ordered log of changes from now on, optionally filtered (see {@link JobFilter}). Every
   * change carries `epoch` and a `seq` one higher than the last.
   */
  changes$(jobFilter?: JobFilter): Observable<JobChange> {
    return this.#table.changes$(jobFilter);
  }

  /**
   * Each job once, at the change where it enters one of `statuses` (from now on), optionally
   * narrowed by provider, kind or ids. The way to act once when a job reaches a status: a
   * `changes$({ statuses })` filter also matches the job's later changes in that status (a
   * succeeded job's result copies) and the change that leaves it.
   *
   * @example
   * engine.reached$('succeeded', { providers: ['sunoapi'], kinds: ['vocal-separation'] })
   *   .subscribe((job) => engine.submit({ provider: 'sunoapi', kind: 'midi', options: { taskId: job.externalId! } }));
   */
  reached$(statuses: JobStatus | readonly JobStatus[], jobFilter: Omit<JobFilter, 'statuses'> = {}): Observable<JobSnapshot> {
    const wanted = new Set<JobStatus>(typeof statuses === 'string' ? [statuses] : statuses);
    return this.#table.changes$({ ...jobFilter, statuses: [...wanted] }).pipe(
      filter((change) => entered(change, wanted)),
      map((change) => change.job),
    );
  }

  /**
   * Each job once, when it settles (from now on): terminal, with its result files copied where
   * they are. What to wait for before reading a job's files.
   *
   * @example engine.settled$({ kinds: ['transcription'] }).subscribe((job) => report(job));
   */
  settled$(jobFilter?: JobFilter): Observable<JobSnapshot> {
    return this.#table.changes$(jobFilter).pipe(
      filter((change) => settledBy(change)),
      map((change) => change.job),
    );
  }

  /**
   * The changes after `seq` of the current epoch, or `undefined` when they are not all kept
   * any more (or the epoch differs): start again from {@link snapshot} then.
   */
  changesSince(epoch: string, seq: number, jobFilter?: JobFilter): JobChange[] | undefined {
    return this.#table.changesSince(epoch, seq, jobFilter);
  }

  /**
   * Resume by state, the second line of defence when {@link changesSince} cannot serve a
   * resume point: only the jobs a subscriber at `{epoch, seq}` (holding `versions`, when it
   * says) lacks, instead of a whole {@link snapshot}. `undefined` when that cannot be told
   * (another epoch and no versions). See docs/protocol.md, "Resuming".
   *
   * @example
   * const missed = engine.changesSince(epoch, seq) ?? engine.newerThan({ epoch, seq, versions })?.jobs;
   */
  newerThan(
    point: { epoch: string; seq: number; versions?: Readonly<Record<string, number>> | undefined },
    jobFilter?: JobFilter,
  ): (EngineSnapshot & { gone: string[] }) | undefined {
    return this.#table.newerThan(point, jobFilter);
  }

  /**
   * The changes of one job this engine still keeps (the last `changeLogSize` changes of all
   * jobs, kept across restarts by the data directory), oldest first.
   *
   * @throws UnknownJobError for an unknown id.
   */
  history(id: string): JobChange[] {
    return this.#table.history(id);
  }

  /** Every published job matching the filter, as of the newest `seq`. */
  snapshot(jobFilter?: JobFilter): EngineSnapshot {
    return this.#table.snapshot(jobFilter);
  }

  /**
   * One page of jobs matching the filter, newest first. Pass the returned `next` as `after` for
   * the following page; `next` is undefined on the last page.
   */
  list(jobFilter?: JobFilter, page: { limit?: number; after?: string } = {}): { jobs: JobSnapshot[]; next: string | undefined } {
    return this.#table.list(jobFilter, page);
  }

  /**
   * One page of the jobs matching the filter and the query: `q` searches the name, id, external
   * id and metadata values (case-insensitive), `from`/`to` bound `createdAt`, `retryOf` picks
   * the retries of a job; `sort` (`createdAt`, `updatedAt`) and `order` (`asc`, `desc`; default
   * newest created first). `total` counts all matches; pass `next` as `cursor` for the following
   * page (with the same sort and order).
   *
   * @throws InvalidRequestError for a cursor that is not one of this sort's.
   * @example engine.query({ statuses: ['failed'] }, { q: 'take 2', sort: 'updatedAt', limit: 50 })
   */
  query(jobFilter?: JobFilter, query?: JobQuery): JobPage {
    return this.#table.query(jobFilter, query);
  }

  /**
   * The files a succeeded job offers (empty for other jobs and providers without files).
   *
   * @throws UnknownJobError for an unknown id.
   */
  resultFiles(id: string): ResultFile[] {
    const job = this.#table.published(id);
    if (job === undefined) throw new UnknownJobError(id);
    if (job.artifacts?.state === 'complete') return job.artifacts.files.map(({ name, contentType }) => ({ name, contentType }));
    return this.#offeredFiles(job);
  }

  /**
   * Stats over every stored job (so they survive restarts): jobs created and finished per time
   * bucket, jobs by status now, durations, failure rates and webhook-vs-poll detection lag (see
   * {@link JobStats}). Defaults: the last hour, 60 buckets.
   *
   * `jobFilter` narrows every figure to the matching jobs.
   *
   * @throws InvalidRequestError for a bad window (see {@link resolveStatsQuery}).
   * @example engine.jobStats({ bucketMs: 60_000 }).failureRate
   */
  jobStats(query: Partial<JobStatsQuery> = {}, jobFilter?: JobFilter): JobStats {
    const resolved = resolveStatsQuery(query, this.#now());
    return computeJobStats(this.#table.snapshot(jobFilter).jobs, resolved);
  }

  /**
   * The health of every provider lane (one per provider credential): rate budget, Retry-After
   * block, outage state with the next probe, failures, job count, and the last errors this
   * process saw. Lane ids are `<provider>:<credential hash>`, never a credential. In a cluster
   * the lane state is the cluster's, the recent errors this member's.
   */
  async providerHealth(): Promise<ProviderLaneHealth[]> {
    const lanes = await this.#polls.lanes();
    return lanes.map((lane) => ({ ...lane, provider: providerOfLane(lane.lane), recentErrors: [...(this.#laneErrors.get(lane.lane) ?? [])] }));
  }

  /**
   * Opens one result file of a succeeded job for reading: the local copy where there is one,
   * else from the provider. With `range`, a local copy is opened at that range (`range` in the
   * answer says which bytes `body` holds); a provider download is always whole (`range`
   * undefined).
   *
   * @throws UnknownJobError; JobstreamError `RESULT_NOT_READY` when the job has not succeeded,
   *   `UNKNOWN_RESULT` for a name it does not offer; RangeNotSatisfiableError for a range
   *   outside a local copy; ProviderError when the download fails.
   */
  async openResult(id: string, name: string, options: { range?: ByteRange | undefined } = {}): Promise<OpenedResult> {
    this.#assertOpen();
    const files = this.resultFiles(id);
    const job = this.#table.published(id) as JobSnapshot;
    if (job.status !== 'succeeded') throw new JobstreamError('RESULT_NOT_READY', `job "${id}" is ${job.status}; results exist once it has succeeded`);
    const file = files.find((f) => f.name === name);
    if (file === undefined) {
      throw new JobstreamError('UNKNOWN_RESULT', `job "${id}" has no result file "${name}" (files: ${files.map((f) => f.name).join(', ') || 'none'})`);
    }
    // The local copy first: it outlives the provider's retention.
    const copy = job.artifacts?.state === 'complete' ? this.#copier?.pathOf(id, name) : undefined;
    const size = copy === undefined ? undefined : await stat(copy).then((s) => (s.isFile() ? s.size : undefined), () => undefined);
    if (copy !== undefined && size !== undefined) {
      if (options.range === undefined) return { contentType: file.contentType, body: createReadStream(copy), size, range: undefined };
      const range = resolveByteRange(options.range, size);
      return { contentType: file.contentType, body: createReadStream(copy, range), size, range };
    }
    const download = await this.#download(job, name, this.#abort.signal);
    return { ...download, size: undefined, range: undefined };
  }

  /**
   * Resolves with the job's settled snapshot (terminal, result copies done; check `status`).
   *
   * @throws UnknownJobError for an unknown id; WaitTimeoutError after `timeoutMs`.
   */
  waitFor(id: string, options: { timeoutMs?: number } = {}): Promise<JobSnapshot> {
    const timeoutMs = options.timeoutMs;
    const terminal$ = this.job$(id).pipe(last());
    return firstValueFrom(
      timeoutMs === undefined
        ? terminal$
        : terminal$.pipe(
            timeout({ first: timeoutMs, scheduler: this.#scheduler, with: () => throwError(() => new WaitTimeoutError(id, timeoutMs)) }),
          ),
    );
  }

  /**
   * What cancelling a job of this provider does (see {@link CancelMode}), or `undefined` for a
   * provider that is not configured.
   *
   * @example if (engine.cancelModeOf('klangio') === 'tracking-only') warn('Klangio may still bill the job');
   */
  cancelModeOf(provider: string): CancelMode | undefined {
    const adapter = this.#adapters.get(provider);
    return adapter === undefined ? undefined : cancelModeOf(adapter);
  }

  /**
   * Cancels a job. Where the provider can cancel (Music.AI deletes the job) it is cancelled
   * there first, and the job ends `canceled` with provider status `canceled`. Where it cannot
   * (Klangio, Camb.ai, sunoapi.org: {@link cancelModeOf} is `tracking-only`), or while the
   * provider has not yet named the job (its create call is under way), jobstream only stops
   * following it: the job ends `canceled` with provider status `tracking-stopped` and an
   * `error` of code `TRACKING_STOPPED` saying that the provider may still run it and bill for
   * it. A job still waiting for another (never sent) is simply `canceled`. A finished job is
   * returned as it is. A submission whose create call fails after a cancel is not retried.
   *
   * @throws UnknownJobError for an unknown id; ProviderError when the provider refuses;
   *   StoreUnavailableError while the store cannot write (the cancellation is kept once it can).
   */
  async cancel(id: string): Promise<JobSnapshot> {
    this.#assertOpen();
    const entry = this.#table.entry(id);
    if (entry?.published === undefined) throw new UnknownJobError(id);
    const job = entry.current;
    if (!isTerminal(job.status)) {
      const adapter = this.#adapters.get(job.provider);
      const ref = refOf(job);
      const neverSent = job.externalId === null && job.after !== null && job.after.startedAt === null;
      if (adapter?.cancel !== undefined && ref !== undefined) {
        await adapter.cancel(ref, { signal: this.#abort.signal });
        this.#fold.apply(entry, { status: 'canceled', providerStatus: 'canceled', source: 'cancel', observedAt: this.#now() });
      } else if (neverSent) {
        this.#fold.apply(entry, { status: 'canceled', providerStatus: 'canceled', source: 'cancel', observedAt: this.#now() });
      } else {
        this.#fold.apply(entry, {
          status: 'canceled',
          providerStatus: TRACKING_STOPPED,
          error: { code: 'TRACKING_STOPPED', message: trackingStopped(job.provider, adapter === undefined ? undefined : cancelModeOf(adapter), ref !== undefined) },
          source: 'cancel',
          observedAt: this.#now(),
        });
      }
    }
    await entry.pending;
    return entry.published ?? entry.current;
  }

  /**
   * Checks a webhook path before its body is read: whether a job of this (configured) provider
   * has this token, the secret compared in constant time. An intake calls it first so that a
   * delivery nobody is waiting for costs no read and no parse; {@link ingestWebhook} checks
   * again, so skipping it is safe.
   *
   * @returns the job's id, or `undefined` for an unconfigured provider or an unknown token.
   * @example if (engine.webhookTarget(provider, token) === undefined) return notFound();
   */
  webhookTarget(provider: string, token: string): { jobId: string } | undefined {
    const entry = this.#fold.webhookTarget(provider, token);
    return entry === undefined ? undefined : { jobId: entry.current.id };
  }

  /**
   * Takes one webhook delivery for a job. Resolves once the change it caused is durable (or, for
   * a duplicate, once the state it repeats is durable), so a 2xx answer can promise it is kept.
   *
   * @throws UnknownProviderError for an unconfigured provider; UnknownWebhookTokenError when
   *   no job of that provider has the token; InvalidWebhookError for a body that cannot be
   *   understood (nothing is stored); StoreUnavailableError while the store cannot write (a
   *   redelivery after it recovers gets the durable answer).
   */
  async ingestWebhook(delivery: IncomingWebhook): Promise<WebhookResult> {
    this.#assertOpen();
    return this.#fold.ingestWebhook(delivery);
  }

  /**
   * Stops polling, lets pending writes finish, releases the data directory and completes every
   * stream (per-job streams that are not finished error with EngineClosedError). Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const timer of this.#graceTimers) timer.unsubscribe();
      this.#polls.close();
      this.#abort.abort();
      await this.#retention.close();
      await this.#copier?.close();
      await this.#table.close();
      await this.#cluster?.close();
      this.#events.complete();
    })();
    return this.#closing;
  }

  #now(): number {
    return this.#scheduler.now();
  }

  /**
   * Hands a recorded job to its provider, then records the provider's answer or the failure.
   * A failure that cannot have created anything (a rate limit; `unavailable` marked
   * `notCreated`: no connection, a 503, a failed upload slot) is retried after the lane's
   * backoff, up to `submitAttempts` calls in all. A failure after the creating request may have
   * reached the provider (another 5xx, a timeout or reset after sending) is never repeated: the
   * job fails with `SUBMIT_UNCERTAIN`, whose message says how to adopt the provider's job.
   */
  async #createAtProvider(entry: JobEntry, adapter: ProviderAdapter, fields: Omit<CreateJobRequest, 'webhookUrl'>): Promise<void> {
    const id = entry.current.id;
    const webhookUrl = this.#hooked(adapter) ? this.#webhookUrl?.(adapter.provider, webhookToken(id, entry.secret)) : undefined;
    const lane = laneOf(adapter);
    for (let attempt = 1; ; attempt++) {
      await this.#polls.acquire(lane);
      this.#assertOpen();
      // Canceled while a retry waited: nothing was created, so nothing is sent.
      if (isTerminal(entry.current.status)) return;
      try {
        const created = await adapter.create({ ...fields, webhookUrl }, { signal: this.#abort.signal });
        this.#polls.reportSuccess(lane);
        this.#fold.created(entry, created, { lane, hooked: webhookUrl !== undefined });
        return;
      } catch (error) {
        this.#noteLaneError(adapter.provider, this.#now(), error instanceof ProviderError ? error.failure : 'failed', error instanceof Error ? error.message : String(error));
        if (error instanceof ProviderError && (error.failure === 'rate-limited' || error.failure === 'unavailable')) {
          this.#polls.reportFailure(lane, { type: error.failure, retryAfterMs: error.retryAfterMs });
          const nothingCreated = error.failure === 'rate-limited' || error.notCreated;
          if (nothingCreated && attempt < this.#submitAttempts) continue;
        }
        if (error instanceof ProviderError && error.failure === 'unavailable' && !error.notCreated) {
          this.#fold.notCreated(entry, 'SUBMIT_UNCERTAIN', uncertainSubmit(error, adapter.provider, fields.kind));
        } else {
          this.#fold.notCreated(entry, submitErrorCode(error), error instanceof Error ? error.message : String(error));
        }
        return;
      }
    }
  }

  /** Hands a pipeline step to its provider, after making its start durable. */
  async #startStep(entry: JobEntry, input: JobInput | undefined, options: Record<string, JsonValue>): Promise<void> {
    const adapter = this.#adapters.get(entry.current.provider);
    if (adapter === undefined) return this.#fold.fail(entry, 'UNKNOWN_PROVIDER', `provider "${entry.current.provider}" is not configured`, 'submit');
    // Durable before the provider call: a crash from here on is a possibly-submitted job.
    const at = this.#now();
    const start = (current: JobSnapshot) => markStarted(current, at, options);
    const started = start(entry.current);
    if (started === entry.current) return;
    // In a cluster another member may start the same step first: then this one must not.
    const won = new Promise<boolean>((resolve) => this.#table.commit(entry, started, start, resolve));
    // No caller to answer 503 to: wait out a full disk rather than strand the step.
    await this.#table.durable(entry);
    if (!(await won)) return;
    const { kind, name, metadata } = entry.current;
    await this.#createAtProvider(entry, adapter, { kind, input, name, metadata, options });
  }

  /** Keeps one provider error of a lane for {@link providerHealth} (the last few, secrets cut out). */
  #noteLaneError(provider: string, at: number, kind: string, message: string): void {
    const adapter = this.#adapters.get(provider);
    if (adapter === undefined) return;
    const lane = laneOf(adapter);
    let errors = this.#laneErrors.get(lane);
    if (errors === undefined) this.#laneErrors.set(lane, (errors = []));
    errors.push({ at, kind, message: safeMessage(message) });
    if (errors.length > RECENT_ERRORS) errors.shift();
  }

  #assertOpen(): void {
    if (this.#closing !== undefined) throw new EngineClosedError();
  }

  #adapterFor(provider: string, kind: string): ProviderAdapter {
    const adapter = this.#adapters.get(provider);
    if (adapter === undefined) throw new UnknownProviderError(provider, this.providers);
    if (!adapter.kinds.includes(kind)) {
      throw new InvalidRequestError([{ field: 'kind', reason: `${provider} has no job kind "${kind}" (kinds: ${adapter.kinds.join(', ')})` }]);
    }
    return adapter;
  }

  #hooked(adapter: ProviderAdapter): boolean {
    return adapter.webhooks && adapter.parseWebhook !== undefined && this.#webhookUrl !== undefined;
  }

  /** After each published change: start result copies, release pipeline steps. */
  /**
   * After each published change: start result copies (on the member that made the change, so
   * once per cluster), release pipeline steps (on every member that waits for this job: the
   * step's start is a compare-and-set, so one member starts it).
   */
  #published(job: JobSnapshot, previous: JobSnapshot | undefined, local: boolean): void {
    if (local && job.artifacts?.state === 'pending' && previous?.artifacts?.state !== 'pending') this.#copier?.enqueue(job);
    // Another member finished it: this member's view of the poll schedule forgets it too.
    if (!local && isTerminal(job.status)) this.#polls.remove(job.id);
    if (isSettled(job) && (previous === undefined || !isSettled(previous))) this.#waiting.release(job.id);
  }

  /**
   * In a cluster, a job recorded but not yet confirmed by its provider may be another member's
   * submission in flight, not an interrupted one: it fails as interrupted only when it is still
   * unconfirmed `SUBMIT_GRACE_MS` after it was recorded (any member may do it; the first wins).
   */
  #failIfStillUnsubmitted(entry: JobEntry): void {
    const delay = Math.max(0, entry.current.updatedAt + SUBMIT_GRACE_MS - this.#now());
    const timer = this.#scheduler.schedule(() => {
      this.#graceTimers.delete(timer);
      const job = entry.current;
      if (this.#closing !== undefined || job.externalId !== null || isTerminal(job.status)) return;
      this.#fold.apply(entry, {
        status: 'failed',
        error: { code: 'SUBMIT_INTERRUPTED', message: 'the engine that submitted this job stopped before the provider confirmed it' },
        source: 'restore',
        observedAt: this.#now(),
      });
    }, delay);
    this.#graceTimers.add(timer);
  }

  #offeredFiles(job: JobSnapshot): ResultFile[] {
    const adapter = this.#adapters.get(job.provider);
    const ref = refOf(job);
    if (job.status !== 'succeeded' || job.result === null || ref === undefined || adapter?.resultFiles === undefined) return [];
    return adapter.resultFiles(ref, job.result);
  }

  #download(job: JobSnapshot, name: string, signal: AbortSignal): Promise<ResultDownload> {
    const adapter = this.#adapters.get(job.provider);
    const ref = refOf(job);
    if (adapter?.download === undefined || ref === undefined || job.result === null) {
      return Promise.reject(new JobstreamError('UNKNOWN_RESULT', `job "${job.id}" has no downloadable result "${name}"`));
    }
    return adapter.download(ref, job.result, name, { signal });
  }

  #recordArtifacts(id: string, artifacts: JobArtifacts): void {
    const entry = this.#table.entry(id);
    if (entry === undefined || this.#closing !== undefined) return;
    const record = (current: JobSnapshot) => recordArtifacts(current, artifacts, this.#now());
    const next = record(entry.current);
    if (next !== entry.current) this.#table.commit(entry, next, record);
  }
}

/**
 * A submitted input as the job records it: a URL as given; a file as an upload (its name, type
 * and size, never its path). A file that cannot be read is recorded with size 0 (the provider
 * call then fails the job with the reason).
 */
async function inputRecord(input: JobInput | undefined): Promise<JobInputRecord | null> {
  if (input === undefined) return null;
  if (input.type === 'url') return { type: 'url', url: input.url };
  const bytes = await stat(input.path).then(
    (facts) => (facts.isFile() ? facts.size : 0),
    () => 0,
  );
  return { type: 'upload', filename: input.filename ?? basename(input.path), contentType: input.contentType ?? 'application/octet-stream', bytes };
}

/** The published versions of the table's entries. */
function* publishedJobs(entries: Iterable<JobEntry>): Generator<JobSnapshot> {
  for (const entry of entries) if (entry.published !== undefined) yield entry.published;
}

/** What a waiting step will get from its upstream job, as stand-ins for validation. */
function placeholders(link: JobLink): { input?: JobInput; options?: Record<string, string> } {
  return {
    ...(link.inputFrom === null ? {} : { input: { type: 'file', path: `(result ${link.inputFrom} of job ${link.jobId})`, filename: link.inputFrom } }),
    ...(link.externalIdOption === null ? {} : { options: { [link.externalIdOption]: `(external id of job ${link.jobId})` } }),
  };
}

function laneOf(adapter: ProviderAdapter): string {
  return `${adapter.provider}:${adapter.credentialId}`;
}

/**
 * An error message fit to show anyone: one line, at most 200 characters, with URL query
 * strings, bearer/basic credentials and long token-like strings cut out.
 */
export function safeMessage(message: string): string {
  const clean = message
    .replace(/[\r\n\t]+/g, ' ')
    .replace(/\b(bearer|basic)\s+\S+/gi, '$1 [redacted]')
    .replace(/\b(token|api[_-]?key|key|secret|password|authorization)(\s*[:=]\s*)\S+/gi, '$1$2[redacted]')
    .replace(/(https?:\/\/[^\s?#]*)[?#]\S*/gi, '$1?[redacted]')
    .replace(/\/\/[^\s/@]+@/g, '//[redacted]@')
    .replace(/[A-Za-z0-9_\-+/=]{32,}/g, '[redacted]');
  return clean.length > 200 ? `${clean.slice(0, 199)}…` : clean;
}

/** The provider of a lane made by {@link laneOf}. */
function providerOfLane(lane: string): string {
  return lane.slice(0, lane.indexOf(':'));
}

/**
 * The message of a `TRACKING_STOPPED` cancel: what jobstream did, and what the provider may
 * still do. `named` is whether the provider had named the job (its create call had returned).
 */
function trackingStopped(provider: string, mode: CancelMode | undefined, named: boolean): string {
  const why =
    mode === undefined
      ? `${provider} is not configured here, so the job could not be cancelled there`
      : !named
        ? `the job was canceled while its submission to ${provider} was under way, so ${provider} may have created it`
        : `${provider} has no way to cancel a job`;
  return `jobstream stopped tracking this job; it was not cancelled at the provider (${why}). ${provider} may still run it and bill for it.`;
}

/** The message of a `SUBMIT_UNCERTAIN` failure: what happened, what it may mean, what to do. */
function uncertainSubmit(error: ProviderError, provider: string, kind: string): string {
  return (
    `the create call failed after it was sent (${error.message}), so ${provider} may have created this job ` +
    `(and may bill for it); it was not repeated, to avoid a second job. If ${provider} lists the job, adopt it ` +
    `with track({ provider: '${provider}', kind: '${kind}', externalId: '<its id>' }) (POST /v1/jobs/track)`
  );
}

function submitErrorCode(error: unknown): string {
  if (error instanceof ProviderError) return error.providerCode ?? `PROVIDER_${error.failure.toUpperCase().replace('-', '_')}`;
  if (error instanceof JobstreamError) return error.code;
  return 'SUBMIT_FAILED';
}

function storeOrThrow(store: JobStore | undefined): JobStore {
  if (store === undefined) throw new Error('an engine needs a store or a cluster');
  return store;
}

/**
 * How long, in a cluster, a job may stay recorded without its provider's answer before a member
 * that did not submit it takes it for interrupted: longer than a create call may take (uploads
 * wait up to 300 s for an answer) with its retries.
 */
const SUBMIT_GRACE_MS = 15 * 60_000;
