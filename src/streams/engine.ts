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
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { FileStore } from './file-store.js';
import type { JobChange } from './job-change.js';
import { entered, settledBy, type JobFilter } from './job-filter.js';
import { JobFold, refOf, type IncomingWebhook } from './job-fold.js';
import { webhookToken } from './job-id.js';
import { isSettled, markStarted, recordArtifacts } from './job-reducer.js';
import type { JobArtifacts, JobLink, JobSnapshot, JsonValue } from './job-snapshot.js';
import { isTerminal, type JobStatus } from './job-status.js';
import type { EngineEvent, EngineHealth, EngineOptions, WebhookResult } from './engine-options.js';
import type { JobStore } from './job-store.js';
import { JobTable, type EngineSnapshot, type JobEntry } from './job-table.js';
import { PollScheduler, type PollSchedule, type PollSchedulerOptions } from './poll-scheduler.js';
import type { ClusterBackend } from './shared-log.js';
import { WaitingJobs } from './waiting-jobs.js';
import { ResultCopier } from './result-copier.js';

export type { EngineEvent, EngineHealth, EngineOptions, WebhookResult } from './engine-options.js';
export type { EngineSnapshot } from './job-table.js';

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
  if (options.cluster !== undefined) {
    if (options.store !== undefined) throw new Error('createEngine: `store` and `cluster` exclude each other');
    const engine = new Engine({ ...options, resultsDir: options.resultsDir ?? join(dataDir, 'results') }, undefined);
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
  const engine = new Engine({ ...options, resultsDir }, store);
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
      onEvent: (event) => this.#events.next(event),
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
  }

  /**
   * Records a new job, mints its webhook token, makes the record durable, then asks the
   * provider to start it, so a webhook that arrives before the provider's answer is never lost.
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
  async submit(request: SubmitRequest): Promise<JobSnapshot> {
    this.#assertOpen();
    const req = parseRequest(SubmitRequest, request);
    const adapter = this.#adapterFor(req.provider, req.kind);
    const fields = { kind: req.kind, input: req.input, name: req.name ?? null, metadata: req.metadata ?? {}, options: req.options ?? {} };
    const after = req.after === undefined ? null : this.#waiting.link(req.after, req.input);
    // A waiting step is checked as it will be called: with placeholders for what comes from upstream.
    const issues = adapter.validate?.(after === null ? fields : { ...fields, ...placeholders(after) }) ?? [];
    if (issues.length > 0) throw new InvalidRequestError(issues);

    const entry = this.#table.create({ provider: req.provider, externalId: null, after, ...fields }, this.#now());
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
    if (after === null) await this.#createAtProvider(entry, adapter, fields);
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
   * Opens one result file of a succeeded job for reading, from the provider.
   *
   * @throws UnknownJobError; JobstreamError `RESULT_NOT_READY` when the job has not succeeded,
   *   `UNKNOWN_RESULT` for a name it does not offer; ProviderError when the download fails.
   */
  async openResult(id: string, name: string): Promise<ResultDownload> {
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
    if (copy !== undefined && (await access(copy).then(() => true, () => false))) {
      return { contentType: file.contentType, body: createReadStream(copy) };
    }
    return this.#download(job, name, this.#abort.signal);
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
