import type { CreateJobResult, ProviderAdapter, ProviderJobRef, ProviderReport } from './provider-port.js';
import { InvalidWebhookError, ProviderError, UnknownProviderError, UnknownWebhookTokenError, WebhookSignatureError } from './errors.js';
import type { EngineEvent, WebhookResult } from './engine-options.js';
import { parseWebhookToken, secretsEqual } from './job-id.js';
import { recordConfirmation, recordProviderData, reduce } from './job-reducer.js';
import type { JobSnapshot, Observation, ObservationSource } from './job-snapshot.js';
import { isTerminal, type JobStatus } from './job-status.js';
import type { JobEntry, JobTable } from './job-table.js';
import type { PollOutcome, PollScheduler, PollTarget } from './poll-scheduler.js';

/** What the fold asks of the poll scheduler: take jobs on and off, and hurry them. */
export type FoldPolls = Pick<PollScheduler, 'add' | 'remove' | 'has' | 'pollNow' | 'noteWebhook'>;

/** The events the fold reports: one per poll answered or failed, one per webhook taken. */
export type FoldEvent = Extract<EngineEvent, { type: 'poll' | 'webhook' }>;

/** One webhook delivery as the intake hands it over: the path's provider and token, the body, the headers. */
export interface IncomingWebhook {
  provider: string;
  token: string;
  body: unknown;
  headers?: Readonly<Record<string, string | undefined>>;
}

/** Options of {@link JobFold}. */
export interface JobFoldOptions {
  /** The job table: the fold commits each new version to it (publication follows durability). */
  table: JobTable;
  /** The configured adapters by provider name. */
  adapters: ReadonlyMap<string, ProviderAdapter>;
  /** Jobs leave it when they turn terminal; confirming webhooks hurry their next poll. */
  polls: FoldPolls;
  /** The time stamped on observations and events (the engine's scheduler). */
  now: () => number;
  /** Aborts provider calls in flight (the engine closing). */
  signal: AbortSignal;
  /**
   * Refused polls in a row (`rejected`: e.g. 404) after which the job fails with the provider's
   * reason instead of being polled forever.
   * @default 5
   */
  maxRejectedPolls?: number;
  /**
   * Whether the result files of this succeeded job will be copied: its artifacts then start
   * `pending` in the same change, so the job is not settled before its files are kept.
   * @default () => false
   */
  copiesResults?: (job: JobSnapshot) => boolean;
  /** Hears every poll and webhook, after the change it caused is folded in. Must not throw. */
  onEvent?: (event: FoldEvent) => void;
}

/**
 * The fold: where polls and webhooks meet. Every observation of a job, whatever brought it (a
 * poll answer, a webhook body, the provider's answer to the submission, a cancel, a restore), goes
 * through the pure reducer here, and each accepted one becomes the job's next version in the
 * {@link JobTable}. A poll answer and a webhook that say the same thing therefore give one
 * version, not two; a late or repeated delivery gives none.
 *
 * Around the reducer it keeps what belongs to the meeting of the two channels: polling stops when
 * a job turns terminal; a webhook is checked against its job's token and external id; a webhook
 * that only says "come and look" (`confirm`) hurries the next poll, and is remembered when it
 * arrives before the provider answered the submission; a job whose polls are refused
 * `maxRejectedPolls` times in a row fails.
 *
 * @example
 * const fold = new JobFold({ table, adapters, polls, now: () => Date.now(), signal });
 * const outcome = await fold.poll(jobId); // ask the provider, fold its answer in
 * const { outcome: applied } = await fold.ingestWebhook({ provider: 'klangio', token, body });
 */
export class JobFold {
  readonly #table: JobTable;
  readonly #adapters: ReadonlyMap<string, ProviderAdapter>;
  readonly #polls: FoldPolls;
  readonly #now: () => number;
  readonly #signal: AbortSignal;
  readonly #maxRejectedPolls: number;
  readonly #copiesResults: (job: JobSnapshot) => boolean;
  readonly #onEvent: (event: FoldEvent) => void;
  /** Jobs a webhook asked to confirm while their submission was still under way. */
  readonly #confirmAfterCreate = new Set<string>();

  constructor(options: JobFoldOptions) {
    this.#table = options.table;
    this.#adapters = options.adapters;
    this.#polls = options.polls;
    this.#now = options.now;
    this.#signal = options.signal;
    this.#maxRejectedPolls = options.maxRejectedPolls ?? 5;
    this.#copiesResults = options.copiesResults ?? (() => false);
    this.#onEvent = options.onEvent ?? (() => undefined);
  }

  /**
   * Folds an observation in; true when it changed the job. The new version is queued for the
   * disk (await `entry.pending` for it to be durable); a terminal one stops the job's polling.
   *
   * @example fold.apply(entry, { status: 'canceled', providerStatus: 'canceled', source: 'cancel', observedAt: now })
   */
  apply(entry: JobEntry, observation: Observation): boolean {
    const fold = (current: JobSnapshot): JobSnapshot => {
      const next = reduce(current, observation);
      // Part of the same change: the job is not settled until its files are copied.
      if (next !== current && next.status === 'succeeded' && this.#copiesResults(next)) return { ...next, artifacts: { state: 'pending', files: [], error: null } };
      return next;
    };
    const next = fold(entry.current);
    if (next === entry.current) {
      // The other channel reporting the status the job finished with: keep its detection lag.
      const confirm = (current: JobSnapshot): JobSnapshot => recordConfirmation(current, observation);
      const confirmed = confirm(entry.current);
      if (confirmed !== entry.current) this.#table.commit(entry, confirmed, confirm);
      return false;
    }
    if (isTerminal(next.status)) this.#polls.remove(next.id);
    this.#table.commit(entry, next, fold);
    return true;
  }

  /** Fails a job with this code and message (no-op when it is already terminal). */
  fail(entry: JobEntry, code: string, message: string, source: ObservationSource): void {
    this.apply(entry, { status: 'failed', error: { code, message }, source, observedAt: this.#now() });
  }

  /**
   * The provider accepted the submission: remembers its external id, folds in its first report
   * and, unless that is terminal, starts polling the job at `target`. A confirming webhook that
   * came before this answer is honoured now, with a poll as soon as the lane allows.
   */
  created(entry: JobEntry, result: CreateJobResult, target: PollTarget): void {
    const id = entry.current.id;
    this.#table.index(entry.current.provider, result.externalId, id);
    const observation = observe(result.report ?? { status: 'queued', providerStatus: 'created' }, 'submit', this.#now(), result.externalId);
    const data = result.providerData ?? null;
    if (data !== null) observation.providerData = data;
    this.apply(entry, observation);
    if (data !== null) {
      // A webhook that named the job first made the reducer refuse this answer: keep the data anyway.
      const record = (current: JobSnapshot) => recordProviderData(current, result.externalId, data, this.#now());
      const next = record(entry.current);
      if (next !== entry.current) this.#table.commit(entry, next, record);
    }
    if (!isTerminal(entry.current.status)) this.#polls.add(id, target);
    if (this.#confirmAfterCreate.delete(id)) this.#polls.pollNow(id);
  }

  /** The submission failed for good: fails the job, and forgets any confirm kept for it. */
  notCreated(entry: JobEntry, code: string, message: string): void {
    this.#confirmAfterCreate.delete(entry.current.id);
    this.fail(entry, code, message, 'submit');
  }

  /**
   * Polls one job and folds the answer in. A refusal (`rejected`) counts towards
   * `maxRejectedPolls`, at which the job fails with the provider's reason; any answer resets the
   * count. A finished job is answered `terminal` without a call. One this engine does not know,
   * or that its provider has not named yet, is answered `failed` without a call (tried again
   * later): in a cluster it may be another member's job that this one has not read yet, and a
   * terminal answer would end its polling for every member.
   *
   * @returns what the poll came to, for the poll scheduler.
   */
  async poll(jobId: string): Promise<PollOutcome> {
    const entry = this.#table.entry(jobId);
    const ref = entry === undefined ? undefined : refOf(entry.current);
    const adapter = entry === undefined ? undefined : this.#adapters.get(entry.current.provider);
    if (entry !== undefined && isTerminal(entry.current.status)) return { type: 'ok', terminal: true };
    if (entry === undefined || ref === undefined || adapter === undefined) return { type: 'failed' };
    let outcome: PollOutcome;
    let problem: string | undefined;
    let observed: JobStatus | undefined;
    const startedAt = this.#now();
    try {
      const report = await adapter.poll(ref, { signal: this.#signal });
      observed = report.status;
      entry.rejectedPolls = 0;
      this.apply(entry, observe(report, 'poll', this.#now()));
      outcome = { type: 'ok', terminal: isTerminal(entry.current.status) };
    } catch (error) {
      problem = error instanceof Error ? error.message : String(error);
      outcome =
        error instanceof ProviderError && (error.failure === 'rate-limited' || error.failure === 'unavailable')
          ? { type: error.failure, retryAfterMs: error.retryAfterMs }
          : { type: 'failed' };
      if (error instanceof ProviderError && error.failure === 'rejected' && ++entry.rejectedPolls >= this.#maxRejectedPolls) {
        this.apply(entry, {
          status: 'failed',
          error: { code: error.providerCode ?? 'PROVIDER_REJECTED', message: `the provider refused ${entry.rejectedPolls} polls in a row: ${problem}` },
          source: 'poll',
          observedAt: this.#now(),
        });
        outcome = { type: 'ok', terminal: true };
      }
    }
    this.#onEvent({
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

  /**
   * The job of this (configured) provider whose webhook token this is, the secret compared in
   * constant time; `undefined` for an unconfigured provider or an unknown token.
   */
  webhookTarget(provider: string, token: string): JobEntry | undefined {
    if (!this.#adapters.has(provider)) return undefined;
    const parts = parseWebhookToken(token);
    const entry = parts === undefined ? undefined : this.#table.entry(parts.jobId);
    if (parts === undefined || entry === undefined || !secretsEqual(entry.secret, parts.secret) || entry.current.provider !== provider) {
      return undefined;
    }
    return entry;
  }

  /**
   * Takes one webhook delivery: finds its job by token, lets the adapter read the body, checks
   * the task id it names, folds its report in and honours `confirm`. Resolves once the state it
   * answers with is durable.
   *
   * @throws UnknownProviderError; UnknownWebhookTokenError; InvalidWebhookError for a body that
   *   cannot be understood or names another task (nothing is stored); WebhookSignatureError for a
   *   delivery that fails the adapter's signature check (nothing is stored, no poll hurried);
   *   StoreUnavailableError while the store cannot write.
   */
  async ingestWebhook(delivery: IncomingWebhook): Promise<WebhookResult> {
    const adapter = this.#adapters.get(delivery.provider);
    if (adapter === undefined) throw new UnknownProviderError(delivery.provider, [...this.#adapters.keys()]);
    const entry = this.webhookTarget(delivery.provider, delivery.token);
    if (entry === undefined) throw new UnknownWebhookTokenError(delivery.provider);
    if (adapter.parseWebhook === undefined) throw new InvalidWebhookError(adapter.provider, 'this provider does not send webhooks');
    let parsed;
    try {
      parsed = adapter.parseWebhook({ body: delivery.body, headers: delivery.headers ?? {}, receivedAt: this.#now() });
    } catch (error) {
      if (error instanceof InvalidWebhookError || error instanceof WebhookSignatureError) throw error;
      throw new InvalidWebhookError(adapter.provider, error instanceof Error ? error.message : String(error));
    }
    const known = entry.current.externalId;
    if (parsed.externalId !== undefined && known !== null && parsed.externalId !== known) {
      throw new InvalidWebhookError(adapter.provider, `task id "${parsed.externalId}" does not belong to this job`);
    }
    const id = entry.current.id;
    this.#polls.noteWebhook(id);
    const changed = parsed.report !== undefined && this.apply(entry, observe(parsed.report, 'webhook', this.#now(), parsed.externalId));
    if (parsed.confirm === true) {
      // Before the provider has answered the submission the job is not polled yet: remember.
      // In a cluster the member that submitted it may be another one, that this one has not
      // heard from yet: the shared schedule keeps the request until that member adds the job
      // (one process: a job not scheduled is not polled, so nothing happens).
      if (!this.#polls.has(id) && entry.current.externalId === null) this.#confirmAfterCreate.add(id);
      this.#polls.pollNow(id);
    }
    await entry.pending;
    const outcome = changed ? 'applied' : 'duplicate';
    this.#onEvent({
      type: 'webhook',
      provider: adapter.provider,
      jobId: id,
      outcome,
      at: this.#now(),
      ...(parsed.report === undefined ? {} : { observed: parsed.report.status }),
      ...(parsed.unrecognised === true ? { unrecognised: true as const } : {}),
    });
    return { outcome, job: entry.published ?? entry.current };
  }
}

/** How a provider addresses a job, or `undefined` before the provider has named it. */
export function refOf(job: JobSnapshot): ProviderJobRef | undefined {
  if (job.externalId === null) return undefined;
  const ref: ProviderJobRef = { externalId: job.externalId, kind: job.kind, options: job.options };
  // `?? null`: a snapshot built in code before the field existed may lack it.
  if ((job.providerData ?? null) !== null) ref.providerData = job.providerData;
  return ref;
}

/**
 * An adapter's report as an observation: progress clamped to 0..1, optional fields left out
 * (not set to undefined).
 *
 * @example observe({ status: 'running', providerStatus: 'WORKING', progress: 1.2 }, 'poll', now) // progress 1
 */
export function observe(report: ProviderReport, source: ObservationSource, observedAt: number, externalId?: string): Observation {
  const observation: Observation = { status: report.status, providerStatus: report.providerStatus, source, observedAt };
  if (report.progress !== undefined) observation.progress = Math.min(1, Math.max(0, report.progress));
  if (report.result !== undefined) observation.result = report.result;
  if (report.error !== undefined) observation.error = report.error;
  if (externalId !== undefined) observation.externalId = externalId;
  return observation;
}
