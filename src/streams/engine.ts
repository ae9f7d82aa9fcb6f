import {
  asyncScheduler,
  concat,
  defer,
  distinctUntilChanged,
  filter,
  finalize,
  firstValueFrom,
  last,
  of,
  ReplaySubject,
  share,
  Subject,
  takeWhile,
  throwError,
  timeout,
  type Observable,
  type SchedulerLike,
} from 'rxjs';
import type { CreateJobRequest, JobInput, ProviderAdapter, ProviderJobRef, ProviderReport, ResultDownload, ResultFile } from '../providers/provider-adapter.js';
import { ChangeLog } from './change-log.js';
import { parseRequest, SubmitRequest, TrackRequest } from './engine-requests.js';
import {
  EngineClosedError,
  InvalidRequestError,
  InvalidWebhookError,
  JobstreamError,
  ProviderError,
  UnknownJobError,
  UnknownProviderError,
  UnknownWebhookTokenError,
  WaitTimeoutError,
} from './errors.js';
import { createReadStream, createWriteStream } from 'node:fs';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { FileStore } from './file-store.js';
import type { JobChange } from './job-change.js';
import { compileFilter, type JobFilter } from './job-filter.js';
import { newJobId, newSecret, parseWebhookToken, secretsEqual, webhookToken } from './job-id.js';
import { createSnapshot, isSettled, markStarted, recordArtifacts, reduce, type NewJob } from './job-reducer.js';
import type { JobArtifacts, JobLink, JobSnapshot, Observation, ObservationSource } from './job-snapshot.js';
import { isTerminal, type JobStatus } from './job-status.js';
import type { JobStore, StoredJob } from './job-store.js';
import { GroupCommit } from './group-commit.js';
import { PollScheduler, type PollOutcome } from './poll-scheduler.js';
import { ResultCopier } from './result-copier.js';

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

/** A consistent view of the jobs matching a filter, as of change `seq` of `epoch`. */
export interface EngineSnapshot {
  epoch: string;
  seq: number;
  jobs: JobSnapshot[];
}

interface JobEntry {
  /** The reducer's state; may be ahead of the disk. */
  current: JobSnapshot;
  /** The last durable state: what subscribers have been shown. Undefined until the first write. */
  published: JobSnapshot | undefined;
  readonly secret: string;
  /** Settles when `current` is durable; undefined when it already is. */
  pending: Promise<void> | undefined;
  /** Polls refused in a row (see {@link EngineOptions.maxRejectedPolls}). */
  rejectedPolls: number;
}

interface Pending {
  entry: JobEntry;
  job: JobSnapshot;
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
  const store = options.store ?? (await FileStore.open({ dir: dataDir }));
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
 * webhook deliveries of every job are folded in by the same reducer; a change is published (to
 * `changes$` and `job$`) once it is durable, so nothing a subscriber saw can be lost in a crash.
 * Per-job observables are views made on demand, so idle jobs cost one record each.
 *
 * Create it with {@link createEngine}.
 */
export class Engine {
  /** Identifies this engine's lifetime; `seq` numbers restart with each epoch. */
  readonly epoch: string;
  readonly #adapters = new Map<string, ProviderAdapter>();
  readonly #store: JobStore;
  readonly #jobs = new Map<string, JobEntry>();
  /** `provider \n externalId` → job id, so `track` adopts a job once. */
  readonly #byExternalId = new Map<string, string>();
  readonly #watchers = new Map<string, Subject<JobSnapshot>>();
  readonly #views = new Map<string, Observable<JobSnapshot>>();
  readonly #changes = new Subject<JobChange>();
  readonly #events = new Subject<EngineEvent>();
  readonly #log: ChangeLog;
  readonly #commit: GroupCommit<Pending>;
  readonly #polls: PollScheduler;
  readonly #scheduler: SchedulerLike;
  readonly #webhookUrl: ((provider: string, token: string) => string) | undefined;
  readonly #submitAttempts: number;
  readonly #maxRejectedPolls: number;
  readonly #abort = new AbortController();
  readonly #copier: ResultCopier | undefined;
  /** Jobs a webhook asked to confirm while their submission was still under way. */
  readonly #confirmAfterCreate = new Set<string>();
  /** Pipeline steps waiting for a job: upstream id → ids of the jobs waiting for it. */
  readonly #waiting = new Map<string, Set<string>>();
  #seq = 0;
  #compaction: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  /** @internal Use {@link createEngine}. */
  constructor(options: EngineOptions, store: JobStore) {
    for (const adapter of options.providers) {
      if (this.#adapters.has(adapter.provider)) throw new Error(`provider "${adapter.provider}" is configured twice`);
      this.#adapters.set(adapter.provider, adapter);
    }
    this.#store = store;
    this.#scheduler = options.scheduler ?? asyncScheduler;
    this.#webhookUrl = options.webhookUrl;
    this.#submitAttempts = options.submitAttempts ?? 3;
    this.#maxRejectedPolls = options.maxRejectedPolls ?? 5;
    this.#log = new ChangeLog(options.changeLogSize ?? 10_000);
    this.epoch = `${this.#scheduler.now().toString(36)}-${newSecret().slice(0, 8)}`;
    this.#polls = new PollScheduler({
      poll: (jobId) => defer(() => this.#pollJob(jobId)),
      scheduler: this.#scheduler,
      ...(options.random === undefined ? {} : { random: options.random }),
    });
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
    this.#commit = new GroupCommit<Pending>({
      write: (batch) => this.#store.append(latestPerJob(batch)),
      onDurable: (batch) => this.#publish(batch),
      onError: (error, attempt) => this.#events.next({ type: 'store-error', error, attempt }),
    });
  }

  /** What the engine does (polls, webhooks, store errors), for metrics and logs. */
  get events$(): Observable<EngineEvent> {
    return this.#events.asObservable();
  }

  /** The seq of the newest published change. */
  get seq(): number {
    return this.#seq;
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
    const stored = await this.#store.load();
    const now = this.#scheduler.now();
    let resumed = 0;
    let unconfigured = 0;
    for (const { job, secret } of stored) {
      this.#jobs.set(job.id, { current: job, published: job, secret, pending: undefined, rejectedPolls: 0 });
      if (job.externalId !== null) this.#byExternalId.set(externalKey(job.provider, job.externalId), job.id);
    }
    for (const entry of this.#jobs.values()) {
      const job = entry.current;
      if (job.artifacts?.state === 'pending') this.#copier?.enqueue(job);
      if (isTerminal(job.status)) continue;
      const adapter = this.#adapters.get(job.provider);
      if (job.externalId === null && job.after !== null && job.after.startedAt === null) {
        // A pipeline step still waiting: it never reached its provider, so it can wait on.
        this.#wait(entry).catch((error: unknown) => this.#events.next({ type: 'store-error', error, attempt: 1 }));
      } else if (job.externalId === null) {
        // The process stopped between recording the job and hearing back from the provider.
        this.#apply(entry, {
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
    await this.#commit.flush();
    this.#events.next({ type: 'restored', jobs: stored.length, resumed, unconfigured });
  }

  /**
   * Records a new job, mints its webhook token, makes the record durable, then asks the
   * provider to start it, so a webhook that arrives before the provider's answer is never lost.
   * Resolves with the job once the provider's answer is durable; a provider refusal gives a
   * `failed` job (with the reason in `error`) rather than a rejection.
   *
   * @throws InvalidRequestError when the request does not validate (nothing is recorded).
   * @throws UnknownProviderError when the provider is not configured.
   */
  async submit(request: SubmitRequest): Promise<JobSnapshot> {
    this.#assertOpen();
    const req = parseRequest(SubmitRequest, request);
    const adapter = this.#adapterFor(req.provider, req.kind);
    const fields = { kind: req.kind, input: req.input, name: req.name ?? null, metadata: req.metadata ?? {}, options: req.options ?? {} };
    const after = req.after === undefined ? null : this.#link(req.after, req.input);
    // A waiting step is checked as it will be called: with placeholders for what comes from upstream.
    const issues = adapter.validate?.(after === null ? fields : { ...fields, ...placeholders(after) }) ?? [];
    if (issues.length > 0) throw new InvalidRequestError(issues);

    const entry = this.#create({ provider: req.provider, externalId: null, after, ...fields });
    await entry.pending;
    if (after === null) await this.#createAtProvider(entry, adapter, fields);
    else await this.#wait(entry);
    await entry.pending;
    return entry.published ?? entry.current;
  }

  /**
   * Adopts a job submitted elsewhere and polls it (no webhooks: its callback URL is not ours).
   * Tracking the same provider job twice returns the job already tracked.
   */
  async track(request: TrackRequest): Promise<JobSnapshot> {
    this.#assertOpen();
    const req = parseRequest(TrackRequest, request);
    const adapter = this.#adapterFor(req.provider, req.kind);
    const known = this.#byExternalId.get(externalKey(req.provider, req.externalId));
    const existing = known === undefined ? undefined : this.#jobs.get(known);
    if (existing !== undefined) {
      await existing.pending;
      return existing.published ?? existing.current;
    }
    const entry = this.#create({
      provider: req.provider,
      kind: req.kind,
      externalId: req.externalId,
      name: req.name ?? null,
      metadata: req.metadata ?? {},
      options: req.options ?? {},
    });
    const id = entry.current.id;
    this.#byExternalId.set(externalKey(req.provider, req.externalId), id);
    this.#polls.add(id, { lane: laneOf(adapter), hooked: false, dueAt: this.#now() });
    await entry.pending;
    return entry.published ?? entry.current;
  }

  /** The job as last published, or `undefined` for an unknown id. */
  get(id: string): JobSnapshot | undefined {
    return this.#jobs.get(id)?.published;
  }

  /**
   * One job as an observable: the current snapshot first, then every new version, completing
   * after the settled one (terminal, with no result copies still being fetched). Shared between subscribers with a one-value replay. Errors with
   * {@link UnknownJobError} for an unknown id and {@link EngineClosedError} when the engine closes.
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

  /**
   * The ordered log of changes from now on, optionally filtered (see {@link JobFilter}). Every
   * change carries `epoch` and a `seq` one higher than the last.
   */
  changes$(jobFilter?: JobFilter): Observable<JobChange> {
    if (jobFilter === undefined) return this.#changes.asObservable();
    const matches = compileFilter(jobFilter);
    return this.#changes.pipe(filter((change) => matches(change.job, change.previousStatus)));
  }

  /**
   * The changes after `seq` of the current epoch, or `undefined` when they are not all kept
   * any more (or the epoch differs): start again from {@link snapshot} then.
   */
  changesSince(epoch: string, seq: number, jobFilter?: JobFilter): JobChange[] | undefined {
    if (epoch !== this.epoch) return undefined;
    const changes = this.#log.since(seq);
    if (changes === undefined || jobFilter === undefined) return changes;
    const matches = compileFilter(jobFilter);
    return changes.filter((change) => matches(change.job, change.previousStatus));
  }

  /**
   * The changes of one job this engine still keeps (the last `changeLogSize` of all jobs, this
   * epoch only), oldest first.
   *
   * @throws UnknownJobError for an unknown id.
   */
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

  /**
   * One page of jobs matching the filter, newest first. Pass the returned `next` as `after` for
   * the following page; `next` is undefined on the last page.
   */
  list(jobFilter?: JobFilter, page: { limit?: number; after?: string } = {}): { jobs: JobSnapshot[]; next: string | undefined } {
    const limit = Math.max(1, Math.min(page.limit ?? 100, 1000));
    const { jobs } = this.snapshot(jobFilter);
    // Ids start with their creation time, so sorting ids sorts by age.
    jobs.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    const after = page.after;
    const start = after === undefined ? 0 : jobs.findIndex((job) => job.id < after);
    const slice = start < 0 ? [] : jobs.slice(start, start + limit);
    const last = slice.at(-1);
    return { jobs: slice, next: last !== undefined && start + limit < jobs.length ? last.id : undefined };
  }

  /**
   * The files a succeeded job offers (empty for other jobs and providers without files).
   *
   * @throws UnknownJobError for an unknown id.
   */
  resultFiles(id: string): ResultFile[] {
    const job = this.#jobs.get(id)?.published;
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
    const job = this.#jobs.get(id)?.published as JobSnapshot;
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
   * Cancels a job: at the provider where it can cancel (Music.AI deletes the job), then here.
   * A finished job is returned as it is.
   *
   * @throws UnknownJobError for an unknown id; ProviderError when the provider refuses.
   */
  async cancel(id: string): Promise<JobSnapshot> {
    this.#assertOpen();
    const entry = this.#jobs.get(id);
    if (entry?.published === undefined) throw new UnknownJobError(id);
    if (!isTerminal(entry.current.status)) {
      const adapter = this.#adapters.get(entry.current.provider);
      const ref = refOf(entry.current);
      if (adapter?.cancel !== undefined && ref !== undefined) await adapter.cancel(ref, { signal: this.#abort.signal });
      this.#apply(entry, { status: 'canceled', providerStatus: 'canceled', source: 'cancel', observedAt: this.#now() });
    }
    await entry.pending;
    return entry.published ?? entry.current;
  }

  /**
   * Takes one webhook delivery for a job. Resolves once the change it caused is durable (or, for
   * a duplicate, once the state it repeats is durable), so a 2xx answer can promise it is kept.
   *
   * @throws UnknownProviderError for an unconfigured provider; UnknownWebhookTokenError when
   *   no job of that provider has the token; InvalidWebhookError for a body that cannot be
   *   understood (nothing is stored).
   */
  async ingestWebhook(delivery: {
    provider: string;
    token: string;
    body: unknown;
    headers?: Readonly<Record<string, string | undefined>>;
  }): Promise<WebhookResult> {
    this.#assertOpen();
    const adapter = this.#adapters.get(delivery.provider);
    if (adapter === undefined) throw new UnknownProviderError(delivery.provider, this.providers);
    const parts = parseWebhookToken(delivery.token);
    const entry = parts === undefined ? undefined : this.#jobs.get(parts.jobId);
    if (
      parts === undefined ||
      entry === undefined ||
      !secretsEqual(entry.secret, parts.secret) ||
      entry.current.provider !== delivery.provider
    ) {
      throw new UnknownWebhookTokenError(delivery.provider);
    }
    if (adapter.parseWebhook === undefined) throw new InvalidWebhookError(adapter.provider, 'this provider does not send webhooks');
    let parsed;
    try {
      parsed = adapter.parseWebhook({ body: delivery.body, headers: delivery.headers ?? {} });
    } catch (error) {
      if (error instanceof InvalidWebhookError) throw error;
      throw new InvalidWebhookError(adapter.provider, error instanceof Error ? error.message : String(error));
    }
    const known = entry.current.externalId;
    if (parsed.externalId !== undefined && known !== null && parsed.externalId !== known) {
      throw new InvalidWebhookError(adapter.provider, `task id "${parsed.externalId}" does not belong to this job`);
    }
    const id = entry.current.id;
    this.#polls.noteWebhook(id);
    const changed =
      parsed.report !== undefined && this.#apply(entry, observe(parsed.report, 'webhook', this.#now(), parsed.externalId));
    if (parsed.confirm === true) {
      // Before the provider has answered the submission the job is not polled yet: remember.
      if (this.#polls.has(id)) this.#polls.pollNow(id);
      else this.#confirmAfterCreate.add(id);
    }
    await entry.pending;
    const outcome = changed ? 'applied' : 'duplicate';
    this.#events.next({
      type: 'webhook',
      provider: adapter.provider,
      jobId: id,
      outcome,
      at: this.#now(),
      ...(parsed.report === undefined ? {} : { observed: parsed.report.status }),
    });
    return { outcome, job: entry.published ?? entry.current };
  }

  /**
   * Stops polling, lets pending writes finish, releases the data directory and completes every
   * stream (per-job streams that are not finished error with EngineClosedError). Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#polls.close();
      this.#abort.abort();
      await this.#copier?.close();
      await this.#commit.close();
      await this.#compaction;
      await this.#store.close();
      for (const watcher of this.#watchers.values()) watcher.error(new EngineClosedError());
      this.#watchers.clear();
      this.#changes.complete();
      this.#events.complete();
    })();
    return this.#closing;
  }

  #now(): number {
    return this.#scheduler.now();
  }

  /**
   * Hands a recorded job to its provider: retries only a rate-limited refusal (a 5xx may have
   * created the job), then records the provider's answer or the failure.
   */
  async #createAtProvider(entry: JobEntry, adapter: ProviderAdapter, fields: Omit<CreateJobRequest, 'webhookUrl'>): Promise<void> {
    const id = entry.current.id;
    const webhookUrl = this.#hooked(adapter) ? this.#webhookUrl?.(adapter.provider, webhookToken(id, entry.secret)) : undefined;
    const lane = laneOf(adapter);
    for (let attempt = 1; ; attempt++) {
      await this.#polls.acquire(lane);
      this.#assertOpen();
      try {
        const created = await adapter.create({ ...fields, webhookUrl }, { signal: this.#abort.signal });
        this.#byExternalId.set(externalKey(adapter.provider, created.externalId), id);
        this.#apply(entry, observe(created.report ?? { status: 'queued', providerStatus: 'created' }, 'submit', this.#now(), created.externalId));
        if (!isTerminal(entry.current.status)) this.#polls.add(id, { lane, hooked: webhookUrl !== undefined });
        if (this.#confirmAfterCreate.delete(id)) this.#polls.pollNow(id);
        return;
      } catch (error) {
        if (error instanceof ProviderError && (error.failure === 'rate-limited' || error.failure === 'unavailable')) {
          this.#polls.reportFailure(lane, { type: error.failure, retryAfterMs: error.retryAfterMs });
          if (error.failure === 'rate-limited' && attempt < this.#submitAttempts) continue;
        }
        this.#confirmAfterCreate.delete(id);
        this.#fail(entry, submitErrorCode(error), error instanceof Error ? error.message : String(error), 'submit');
        return;
      }
    }
  }

  #fail(entry: JobEntry, code: string, message: string, source: ObservationSource): void {
    this.#apply(entry, { status: 'failed', error: { code, message }, source, observedAt: this.#now() });
  }

  /** Checks a pipeline link against the job it names. */
  #link(after: NonNullable<SubmitRequest['after']>, input: JobInput | undefined): JobLink {
    if (this.#jobs.get(after.jobId)?.published === undefined) {
      throw new InvalidRequestError([{ field: 'after.jobId', reason: `no job "${after.jobId}"` }]);
    }
    if (input?.type === 'file') {
      throw new InvalidRequestError([{ field: 'input', reason: 'a job that waits for another takes a URL, or its input from that job (after.inputFrom)' }]);
    }
    if (input !== undefined && after.inputFrom !== undefined) {
      throw new InvalidRequestError([{ field: 'after.inputFrom', reason: 'give either an input or after.inputFrom, not both' }]);
    }
    return {
      jobId: after.jobId,
      inputFrom: after.inputFrom ?? null,
      externalIdOption: after.externalIdOption ?? null,
      input: input?.type === 'url' ? input : null,
      startedAt: null,
    };
  }

  /** Starts a waiting step now if its upstream job has settled, or when it does. */
  async #wait(entry: JobEntry): Promise<void> {
    const link = entry.current.after as JobLink;
    const upstream = this.#jobs.get(link.jobId)?.published;
    if (upstream !== undefined && isSettled(upstream)) return this.#startStep(entry);
    let waiting = this.#waiting.get(link.jobId);
    if (waiting === undefined) this.#waiting.set(link.jobId, (waiting = new Set()));
    waiting.add(entry.current.id);
  }

  /** The upstream job settled: starts (or fails) every step waiting for it. */
  #release(upstreamId: string): void {
    const waiting = this.#waiting.get(upstreamId);
    if (waiting === undefined) return;
    this.#waiting.delete(upstreamId);
    for (const id of waiting) {
      const entry = this.#jobs.get(id);
      if (entry !== undefined) {
        this.#startStep(entry).catch((error: unknown) => this.#events.next({ type: 'store-error', error, attempt: 1 }));
      }
    }
  }

  /** Starts a pipeline step from its settled upstream job, or fails it with the upstream's reason. */
  async #startStep(entry: JobEntry): Promise<void> {
    const job = entry.current;
    const link = job.after as JobLink;
    if (isTerminal(job.status) || link.startedAt !== null || this.#closing !== undefined) return;
    const upstream = this.#jobs.get(link.jobId)?.published;
    if (upstream?.status !== 'succeeded') {
      const why = upstream === undefined ? 'is unknown' : `${upstream.status}${upstream.error === null ? '' : ` (${upstream.error.code}: ${upstream.error.message})`}`;
      this.#fail(entry, 'UPSTREAM_FAILED', `job ${link.jobId} ${why}`, 'submit');
      return;
    }
    const adapter = this.#adapters.get(job.provider);
    if (adapter === undefined) return this.#fail(entry, 'UNKNOWN_PROVIDER', `provider "${job.provider}" is not configured`, 'submit');
    const options = link.externalIdOption === null ? job.options : { ...job.options, [link.externalIdOption]: upstream.externalId };
    let input: JobInput | undefined = link.input ?? undefined;
    let scratch: string | undefined;
    try {
      if (link.inputFrom !== null) {
        ({ input, scratch } = await this.#inputFrom(upstream, link.inputFrom));
      }
      // Durable before the provider call: a crash from here on is a possibly-submitted job.
      const started = markStarted(entry.current, this.#now());
      if (started === entry.current) return;
      entry.current = started;
      this.#enqueue(entry, started);
      await entry.pending;
      await this.#createAtProvider(entry, adapter, { kind: job.kind, input, name: job.name, metadata: job.metadata, options });
    } catch (error) {
      if (entry.current.after?.startedAt === null) {
        this.#fail(entry, 'UPSTREAM_RESULT_UNAVAILABLE', `result "${link.inputFrom}" of job ${link.jobId}: ${error instanceof Error ? error.message : String(error)}`, 'submit');
      }
    } finally {
      if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
    }
  }

  /** A result file of a succeeded job as a local file: its kept copy, or a download to a scratch directory. */
  async #inputFrom(upstream: JobSnapshot, name: string): Promise<{ input: JobInput; scratch?: string }> {
    const file = this.resultFiles(upstream.id).find((f) => f.name === name);
    if (file === undefined) {
      throw new JobstreamError('UNKNOWN_RESULT', `no such file (files: ${this.resultFiles(upstream.id).map((f) => f.name).join(', ') || 'none'})`);
    }
    const copy = upstream.artifacts?.state === 'complete' ? this.#copier?.pathOf(upstream.id, name) : undefined;
    if (copy !== undefined && (await access(copy).then(() => true, () => false))) {
      return { input: { type: 'file', path: copy, filename: name, contentType: file.contentType } };
    }
    const scratch = await mkdtemp(join(tmpdir(), 'jobstream-step-'));
    const path = join(scratch, 'input');
    const download = await this.#download(upstream, name, this.#abort.signal);
    await pipeline(download.body, createWriteStream(path));
    return { input: { type: 'file', path, filename: name, contentType: download.contentType }, scratch };
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

  #create(job: Omit<NewJob, 'id' | 'createdAt'>): JobEntry {
    const now = this.#now();
    const snapshot = createSnapshot({ ...job, id: newJobId(now), createdAt: now });
    const entry: JobEntry = { current: snapshot, published: undefined, secret: newSecret(), pending: undefined, rejectedPolls: 0 };
    this.#jobs.set(snapshot.id, entry);
    this.#enqueue(entry, snapshot);
    return entry;
  }

  /** Folds an observation in; true when it changed the job. The change is queued for the disk. */
  #apply(entry: JobEntry, observation: Observation): boolean {
    let next = reduce(entry.current, observation);
    if (next === entry.current) return false;
    if (next.status === 'succeeded' && this.#copier !== undefined && this.#offeredFiles(next).length > 0) {
      // Part of the same change: the job is not settled until its files are copied.
      next = { ...next, artifacts: { state: 'pending', files: [], error: null } };
    }
    entry.current = next;
    if (isTerminal(next.status)) this.#polls.remove(next.id);
    this.#enqueue(entry, next);
    return true;
  }

  #enqueue(entry: JobEntry, job: JobSnapshot): void {
    const durable = this.#commit.enqueue({ entry, job });
    entry.pending = durable;
    durable.then(
      () => {
        if (entry.pending === durable) entry.pending = undefined;
      },
      () => undefined,
    );
  }

  /** Runs when a batch is durable: publishes each change in order. */
  #publish(batch: readonly Pending[]): void {
    for (const { entry, job } of batch) {
      const previous = entry.published;
      entry.published = job;
      const change: JobChange = { epoch: this.epoch, seq: ++this.#seq, job, previousStatus: previous?.status ?? null };
      this.#log.push(change);
      this.#watchers.get(job.id)?.next(job);
      this.#changes.next(change);
      if (job.artifacts?.state === 'pending' && previous?.artifacts?.state !== 'pending') this.#copier?.enqueue(job);
      if (isSettled(job) && (previous === undefined || !isSettled(previous))) this.#release(job.id);
    }
    if (this.#store.wantsCompaction && this.#compaction === undefined) {
      this.#compaction = this.#store
        .compact(() => this.#durableJobs())
        .catch((error: unknown) => this.#events.next({ type: 'store-error', error, attempt: 1 }))
        .finally(() => {
          this.#compaction = undefined;
        });
    }
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
    const entry = this.#jobs.get(id);
    if (entry === undefined || this.#closing !== undefined) return;
    const next = recordArtifacts(entry.current, artifacts, this.#now());
    if (next === entry.current) return;
    entry.current = next;
    this.#enqueue(entry, next);
  }

  *#durableJobs(): Generator<StoredJob> {
    for (const entry of this.#jobs.values()) {
      if (entry.published !== undefined) yield { job: entry.published, secret: entry.secret };
    }
  }

  async #pollJob(jobId: string): Promise<PollOutcome> {
    const entry = this.#jobs.get(jobId);
    const ref = entry === undefined ? undefined : refOf(entry.current);
    const adapter = entry === undefined ? undefined : this.#adapters.get(entry.current.provider);
    if (entry === undefined || ref === undefined || adapter === undefined || isTerminal(entry.current.status)) {
      return { type: 'ok', terminal: true };
    }
    let outcome: PollOutcome;
    let problem: string | undefined;
    let observed: JobStatus | undefined;
    const startedAt = this.#now();
    try {
      const report = await adapter.poll(ref, { signal: this.#abort.signal });
      observed = report.status;
      entry.rejectedPolls = 0;
      this.#apply(entry, observe(report, 'poll', this.#now()));
      outcome = { type: 'ok', terminal: isTerminal(entry.current.status) };
    } catch (error) {
      problem = error instanceof Error ? error.message : String(error);
      outcome =
        error instanceof ProviderError && (error.failure === 'rate-limited' || error.failure === 'unavailable')
          ? { type: error.failure, retryAfterMs: error.retryAfterMs }
          : { type: 'failed' };
      if (error instanceof ProviderError && error.failure === 'rejected' && ++entry.rejectedPolls >= this.#maxRejectedPolls) {
        this.#apply(entry, {
          status: 'failed',
          error: { code: error.providerCode ?? 'PROVIDER_REJECTED', message: `the provider refused ${entry.rejectedPolls} polls in a row: ${problem}` },
          source: 'poll',
          observedAt: this.#now(),
        });
        outcome = { type: 'ok', terminal: true };
      }
    }
    this.#events.next({
      type: 'poll',
      provider: adapter.provider,
      jobId,
      outcome: outcome.type,
      startedAt,
      endedAt: this.#now(),
      ...(observed === undefined ? {} : { observed }),
      ...('retryAfterMs' in outcome && outcome.retryAfterMs !== undefined ? { retryAfterMs: outcome.retryAfterMs } : {}),
      ...(problem === undefined ? {} : { error: problem }),
    });
    return outcome;
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

function externalKey(provider: string, externalId: string): string {
  return `${provider}\n${externalId}`;
}

function refOf(job: JobSnapshot): ProviderJobRef | undefined {
  return job.externalId === null ? undefined : { externalId: job.externalId, kind: job.kind, options: job.options };
}

/** An adapter's report as an observation (optional fields left out, not set to undefined). */
function observe(report: ProviderReport, source: ObservationSource, observedAt: number, externalId?: string): Observation {
  const observation: Observation = { status: report.status, providerStatus: report.providerStatus, source, observedAt };
  if (report.progress !== undefined) observation.progress = Math.min(1, Math.max(0, report.progress));
  if (report.result !== undefined) observation.result = report.result;
  if (report.error !== undefined) observation.error = report.error;
  if (externalId !== undefined) observation.externalId = externalId;
  return observation;
}

/** A batch may hold several versions of one job; the journal only needs the last. */
function latestPerJob(batch: readonly Pending[]): StoredJob[] {
  const latest = new Map<string, StoredJob>();
  for (const { entry, job } of batch) latest.set(job.id, { job, secret: entry.secret });
  return [...latest.values()];
}

function submitErrorCode(error: unknown): string {
  if (error instanceof ProviderError) return error.providerCode ?? `PROVIDER_${error.failure.toUpperCase().replace('-', '_')}`;
  if (error instanceof JobstreamError) return error.code;
  return 'SUBMIT_FAILED';
}
