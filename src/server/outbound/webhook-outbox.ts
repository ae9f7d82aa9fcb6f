import { join } from 'node:path';
import type { Subscription } from 'rxjs';
import { request, type Dispatcher } from 'undici';
import { z } from 'zod';
import { guardedDispatcher, type UrlGuardHooks } from '../../providers/url-guard.js';
import { fullJitter, type BackoffPolicy } from '../../streams/backoff.js';
import type { Engine } from '../../streams/engine.js';
import { JobstreamError, StoreUnavailableError } from '../../streams/errors.js';
import { GroupCommit } from '../../streams/group-commit.js';
import type { JobChange } from '../../streams/job-change.js';
import { compileFilter, type JobFilter, type JobPredicate } from '../../streams/job-filter.js';
import { HttpError } from '../api-error.js';
import type { Logger } from '../logger.js';
import { OutboxJournal, type OpenOutboxFile } from './outbox-journal.js';
import { checkTargetUrl, type TargetUrlPolicy } from './target-url.js';
import {
  DeliveryAttempt,
  DeliveryStatus,
  StoredEndpoint,
  WebhookDelivery,
  type JobChangedPayload,
  type WebhookEndpoint,
  type WebhookEndpointInput,
  type WebhookEndpointPatch,
} from './webhook-protocol.js';
import { generateSecret, secretProblem, signWebhook } from './webhook-signing.js';

/** The endpoint configured by environment (`JOBSTREAM_WEBHOOK_URL`): its id is always `env`. */
export interface EnvWebhookEndpoint {
  url: string;
  /** `whsec_…`; @default one generated at the first start and kept in the outbox */
  secret?: string;
  filter?: JobFilter;
}

/** What the outbox reports, for metrics. */
export interface OutboxMetricsSink {
  /** A delivery ended: `lagMs` from the change's commit to the 2xx (delivered only). */
  finished(outcome: 'delivered' | 'failed' | 'collapsed', lagMs?: number): void;
  /** An attempt did not get a 2xx; it is retried (or the delivery ends). */
  attemptFailed(): void;
}

/** Options of {@link WebhookOutbox}. */
export interface WebhookOutboxOptions {
  engine: Engine;
  /** The data directory; the outbox lives in `<dataDir>/webhooks/`. */
  dataDir: string;
  /** The shared undici dispatcher; every delivery goes through it (behind the address guard). */
  dispatcher: Dispatcher;
  /** Let targets on loopback, private and link-local addresses (`JOBSTREAM_WEBHOOK_ALLOW_PRIVATE=1`). @default false */
  allowPrivateTargets?: boolean;
  /** Resolver hooks of the address guard (tests). */
  urlGuard?: UrlGuardHooks;
  /** Ceiling of the first retry delay (full jitter). @default 5000 */
  backoffBaseMs?: number;
  /** Longest delay between two attempts. @default 3_600_000 (an hour) */
  backoffCapMs?: number;
  /** A delivery still failing this long after it was recorded is given up (`failed`). @default 259_200_000 (3 days) */
  giveUpAfterMs?: number;
  /** Longest wait for the receiver's answer headers, and for silence in its body. @default 10_000 */
  timeoutMs?: number;
  /** Requests in flight per endpoint at once (each for a different job). @default 8 */
  maxInFlightPerEndpoint?: number;
  /** Finished deliveries kept per endpoint for the log (memory and file). @default 100 */
  keepFinished?: number;
  /** The file is compacted when it grows past this many bytes (and twice its last compacted size). @default 4 MiB */
  compactAtBytes?: number;
  /** The endpoint configured by environment, if any. */
  envEndpoint?: EnvWebhookEndpoint;
  logger: Logger;
  metrics?: OutboxMetricsSink;
  /** Uniform source for the backoff jitter. @default Math.random */
  random?: () => number;
  /** How the outbox file is opened (tests make writes fail). */
  openFile?: OpenOutboxFile;
  /** Backoff between failed writes of the outbox file (they are retried until they succeed). @default { initialMs: 50, maxMs: 5000 } */
  writeRetry?: BackoffPolicy;
}

/** A delivery with what the outbox keeps besides its public view. */
interface DeliveryState extends WebhookDelivery {
  /** Order of creation (ids are `dlv_<ordinal>`). */
  ordinal: number;
  /** The JSON body sent on every attempt. */
  body: string;
  /** When the change was committed (Unix ms), for the lag metric. */
  committedAt: number;
  /** Whether its record is durable (it is never attempted before). */
  recorded: boolean;
  inFlight: boolean;
  timer: NodeJS.Timeout | undefined;
}

/** The delivery record as written: everything but the in-memory flags. */
const StoredDelivery = WebhookDelivery.extend({ ordinal: z.number().int().nonnegative(), body: z.string(), committedAt: z.number() });
type StoredDelivery = z.infer<typeof StoredDelivery>;

/** One line of the outbox file. */
const OutboxRecord = z.discriminatedUnion('t', [
  z.object({ t: z.literal('endpoint'), endpoint: StoredEndpoint }),
  z.object({ t: z.literal('endpoint-removed'), id: z.string() }),
  z.object({ t: z.literal('cursor'), epoch: z.string(), seq: z.number().int().nonnegative() }),
  z.object({ t: z.literal('delivery'), delivery: StoredDelivery }),
  z.object({
    t: z.literal('attempt'),
    id: z.string(),
    attempt: DeliveryAttempt,
    status: DeliveryStatus,
    nextAttemptAt: z.number().nullable(),
    collapsedInto: z.string().optional(),
  }),
  z.object({ t: z.literal('state'), id: z.string(), status: DeliveryStatus, nextAttemptAt: z.number().nullable(), collapsedInto: z.string().optional() }),
]);
type OutboxRecord = z.infer<typeof OutboxRecord>;

/** An item of the group commit: a record and what to do once it is durable. */
interface Pending {
  record: OutboxRecord;
  onDurable?: () => void;
  /** Set for a REST record whose caller was answered 503: it is never written. */
  withdrawn?: boolean;
}

/** Per (endpoint, job): the pending deliveries in order, and the newest version ever queued. */
interface Lane {
  key: string;
  queue: DeliveryState[];
  maxVersion: number;
}

/** Changes that matched no endpoint after which the cursor is written anyway. */
const CURSOR_EVERY = 1000;
/** Attempts kept per delivery in the log. */
const KEEP_ATTEMPTS = 20;
/** Characters of a response kept in the log. */
const EXCERPT_CHARS = 200;

/**
 * Signed outbound webhooks, durable on the embedded store: endpoints (with their secrets) and
 * deliveries live in `<dataDir>/webhooks/outbox.jsonl` (mode 0600, fsynced).
 *
 * Guarantees:
 * - Each change matching an endpoint's filter becomes a delivery that is recorded (fsynced)
 *   before its first attempt. The position in the change log is recorded with it, so changes
 *   committed while the process was down (or in the instant before a crash) are picked up from
 *   the engine's change log at the next start.
 * - Per (endpoint, job) one request at a time, versions in order; a pending delivery is
 *   `collapsed` into a newer version of the same job, so a receiver never gets v3 after v4.
 * - Failures (non-2xx, timeout, connection error) are retried with full-jitter exponential
 *   backoff until `giveUpAfterMs`; a 410 disables the endpoint.
 * - A change that cannot be recorded (a full disk) is logged and kept in memory; the write is
 *   retried until it succeeds, and only then is the delivery attempted. REST changes are
 *   refused with 503 while the file cannot be written.
 */
export class WebhookOutbox {
  readonly #options: WebhookOutboxOptions;
  readonly #engine: Engine;
  readonly #logger: Logger;
  readonly #endpoints = new Map<string, StoredEndpoint>();
  readonly #predicates = new Map<string, JobPredicate>();
  readonly #deliveries = new Map<string, DeliveryState>();
  readonly #lanes = new Map<string, Lane>();
  /** Finished deliveries per endpoint, oldest first, for the log's retention. */
  readonly #finished = new Map<string, DeliveryState[]>();
  readonly #ready = new Set<DeliveryState>();
  readonly #inFlight = new Map<string, number>();
  readonly #sending = new Set<Promise<void>>();
  readonly #abort = new AbortController();
  readonly #target: Dispatcher;
  #journal!: OutboxJournal;
  #committer!: GroupCommit<Pending>;
  #subscription: Subscription | undefined;
  #cursor: { epoch: string; seq: number } | undefined;
  #nextOrdinal = 1;
  #compactedSize = 0;
  /** The newest seq a cursor record was written for. */
  #cursorWritten = 0;
  #closed = false;

  private constructor(options: WebhookOutboxOptions) {
    this.#options = options;
    this.#engine = options.engine;
    this.#logger = options.logger;
    this.#target = guardedDispatcher(options.dispatcher, {
      allowPrivateUrls: options.allowPrivateTargets === true,
      // A receiver's redirect is an answer like any other non-2xx: retried, not followed.
      urlGuard: { ...options.urlGuard, maxRedirections: 0 },
    });
  }

  /**
   * Opens the outbox, applies the environment's endpoint, catches up with the changes committed
   * since it last recorded one, and starts delivering.
   *
   * @example const outbox = await WebhookOutbox.open({ engine, dataDir, dispatcher, logger });
   */
  static async open(options: WebhookOutboxOptions): Promise<WebhookOutbox> {
    const outbox = new WebhookOutbox(options);
    await outbox.#load();
    return outbox;
  }

  async #load(): Promise<void> {
    const dir = join(this.#options.dataDir, 'webhooks');
    this.#journal = await OutboxJournal.open(
      dir,
      (value) => {
        const parsed = OutboxRecord.safeParse(value);
        // Records of a newer version, or damaged ones that passed their checksum, are skipped with a warning.
        if (parsed.success) this.#apply(parsed.data);
        else this.#logger.warn({ file: join(dir, 'outbox.jsonl') }, 'webhook outbox: skipped a record it does not understand');
      },
      this.#options.openFile,
    );
    this.#compactedSize = this.#journal.size;
    this.#committer = new GroupCommit<Pending>({
      write: (batch) => this.#write(batch),
      onDurable: (batch) => {
        for (const item of batch) if (item.withdrawn !== true) item.onDurable?.();
      },
      onError: (error, attempt) => {
        if (attempt === 1) this.#logger.error({ err: error }, 'webhook outbox: cannot write; deliveries are kept in memory and the write is retried');
      },
      onRecovered: ({ attempts, downMs }) => this.#logger.info({ attempts, downMs }, 'webhook outbox: writing again'),
      retry: this.#options.writeRetry ?? { initialMs: 50, maxMs: 5000 },
    });
    // Rebuild the lanes: pending deliveries in creation order; all but the newest of a lane
    // collapse into it (an older one may have been sent before a crash, the newer not).
    const pending = [...this.#deliveries.values()].filter((d) => d.status === 'pending').sort((a, b) => a.ordinal - b.ordinal);
    const repairs: OutboxRecord[] = [];
    for (const delivery of pending) {
      delivery.recorded = true;
      const lane = this.#lane(delivery.endpointId, delivery.jobId);
      for (const older of lane.queue.splice(0)) {
        this.#setState(older, 'collapsed', null, delivery.id);
        repairs.push({ t: 'state', id: older.id, status: 'collapsed', nextAttemptAt: null, collapsedInto: delivery.id });
      }
      lane.queue.push(delivery);
      lane.maxVersion = Math.max(lane.maxVersion, delivery.version);
    }
    for (const delivery of this.#deliveries.values()) {
      if (delivery.status !== 'pending') {
        const lane = this.#lane(delivery.endpointId, delivery.jobId);
        lane.maxVersion = Math.max(lane.maxVersion, delivery.version);
      }
    }
    if (repairs.length > 0) this.#record(repairs);
    // What finished before the last run is history beyond the log's retention: compact at start.
    if (this.#journal.size > (this.#options.compactAtBytes ?? 4 * 1024 * 1024)) {
      await this.#journal.rewrite(this.#snapshot());
      this.#compactedSize = this.#journal.size;
    }
    const env = this.#options.envEndpoint;
    if (env !== undefined) {
      try {
        env.url = await checkTargetUrl(env.url, this.#targetPolicy);
      } catch (error) {
        throw new JobstreamError('INVALID_CONFIG', `JOBSTREAM_WEBHOOK_URL: ${(error as Error).message}`);
      }
    }
    this.#configureEnv();
    // Subscribe first, then read what was missed, in the same tick: nothing falls between.
    const live: JobChange[] = [];
    let caughtUp = false;
    this.#subscription = this.#engine.changes$().subscribe((change) => (caughtUp ? this.#onChange(change) : live.push(change)));
    for (const change of this.#missed()) this.#onChange(change.change, change.again);
    caughtUp = true;
    for (const change of live) this.#onChange(change);
    for (const lane of this.#lanes.values()) this.#arm(lane);
  }

  /** The changes committed after the recorded cursor and before now. */
  #missed(): { change: JobChange; again: boolean }[] {
    const engine = this.#engine;
    const cursor = this.#cursor;
    if (cursor === undefined || cursor.epoch !== engine.epoch) {
      if (cursor !== undefined) this.#logger.warn({ was: cursor.epoch, now: engine.epoch }, 'webhook outbox: the change log was reset; changes made while down are not delivered');
      this.#cursor = { epoch: engine.epoch, seq: engine.seq };
      // Written at once: from here on, a restart knows where to catch up from.
      this.#cursorWritten = -1;
      this.#writeCursor();
      return [];
    }
    const changes = engine.changesSince(cursor.epoch, cursor.seq);
    if (changes !== undefined) return changes.map((change) => ({ change, again: false }));
    // The log no longer reaches back that far: each job's newest state instead.
    const newer = engine.newerThan(cursor);
    this.#logger.warn({ seq: cursor.seq }, 'webhook outbox: the change log does not reach back to the last recorded change; delivering the newest state of changed jobs');
    return (newer?.jobs ?? []).map((job) => ({ change: { epoch: engine.epoch, seq: engine.seq, job, previousStatus: null }, again: true }));
  }

  // ---- the API --------------------------------------------------------------------------

  /** Every endpoint, oldest first. */
  list(): WebhookEndpoint[] {
    return [...this.#endpoints.values()].map((endpoint) => this.#view(endpoint));
  }

  /** One endpoint, or `undefined`. */
  get(id: string): WebhookEndpoint | undefined {
    const endpoint = this.#endpoints.get(id);
    return endpoint === undefined ? undefined : this.#view(endpoint);
  }

  /**
   * Registers an endpoint; resolves once it is durable, with its secret (shown this once).
   * Throws 400 for a refused URL, 503 while the outbox cannot be written.
   */
  async create(input: WebhookEndpointInput): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
    const url = await checkTargetUrl(input.url, this.#targetPolicy);
    const now = Date.now();
    const endpoint: StoredEndpoint = {
      id: `whe_${randomId()}`,
      url,
      filter: input.filter ?? {},
      ...(input.description === undefined ? {} : { description: input.description }),
      enabled: true,
      source: 'api',
      createdAt: now,
      updatedAt: now,
      secret: generateSecret(),
      epoch: this.#engine.epoch,
      sinceSeq: this.#engine.seq,
    };
    await this.#commitNow([{ t: 'endpoint', endpoint }]);
    return { endpoint: this.#view(endpoint), secret: endpoint.secret };
  }

  /** Changes an endpoint; `undefined` when there is none. `enabled: true` re-enables one a 410 disabled. */
  async update(id: string, patch: WebhookEndpointPatch): Promise<WebhookEndpoint | undefined> {
    const current = this.#endpoints.get(id);
    if (current === undefined) return undefined;
    const url = patch.url === undefined ? current.url : await checkTargetUrl(patch.url, this.#targetPolicy);
    const { disabledReason: _reason, ...rest } = current;
    const enabled = patch.enabled ?? current.enabled;
    const endpoint: StoredEndpoint = {
      ...rest,
      url,
      ...(patch.filter === undefined ? {} : { filter: patch.filter }),
      ...(patch.description === undefined ? {} : { description: patch.description }),
      enabled,
      ...(enabled ? {} : { disabledReason: patch.enabled === false ? 'disabled by PATCH' : (current.disabledReason ?? 'disabled') }),
      updatedAt: Date.now(),
    };
    await this.#commitNow([{ t: 'endpoint', endpoint }]);
    return this.#view(endpoint);
  }

  /** Removes an endpoint and its deliveries; false when there was none. */
  async remove(id: string): Promise<boolean> {
    if (!this.#endpoints.has(id)) return false;
    await this.#commitNow([{ t: 'endpoint-removed', id }]);
    return true;
  }

  /**
   * One page of an endpoint's deliveries, newest first; `cursor` is the `next` of the previous
   * page. `undefined` when the endpoint does not exist.
   */
  deliveries(id: string, page: { limit?: number; cursor?: string } = {}): { deliveries: WebhookDelivery[]; next: string | undefined } | undefined {
    if (!this.#endpoints.has(id)) return undefined;
    const before = page.cursor === undefined ? Infinity : Number(page.cursor);
    const limit = Math.min(Math.max(page.limit ?? 50, 1), 500);
    const all = [...this.#deliveries.values()].filter((d) => d.endpointId === id && d.ordinal < before).sort((a, b) => b.ordinal - a.ordinal);
    const slice = all.slice(0, limit);
    const last = slice.at(-1);
    return { deliveries: slice.map(publicDelivery), next: all.length > limit && last !== undefined ? String(last.ordinal) : undefined };
  }

  /**
   * Sends the current version of a delivery's job again, as a new delivery (`webhook-id`
   * `<jobId>.v<version>.replay-<n>`, so a receiver that drops repeated ids still takes it).
   * `undefined` when the endpoint or delivery does not exist; 409 when the job is gone.
   */
  async replay(endpointId: string, deliveryId: string): Promise<WebhookDelivery | undefined> {
    const endpoint = this.#endpoints.get(endpointId);
    const original = this.#deliveries.get(deliveryId);
    if (endpoint === undefined || original === undefined || original.endpointId !== endpointId) return undefined;
    const job = this.#engine.get(original.jobId);
    if (job === undefined) throw new HttpError(409, 'JOB_GONE', `job ${original.jobId} is no longer known to the engine; nothing to replay`);
    const ordinal = this.#nextOrdinal;
    const body: JobChangedPayload = {
      type: 'job.changed',
      timestamp: new Date(job.updatedAt).toISOString(),
      data: { job, previousStatus: null, epoch: this.#engine.epoch, seq: this.#engine.seq },
    };
    const delivery = this.#newDelivery(endpoint, job.id, job.version, JSON.stringify(body), Date.now(), `${job.id}.v${job.version}.replay-${ordinal}`, deliveryId);
    try {
      await this.#commitNow([{ t: 'delivery', delivery: stored(delivery) }], () => {
        delivery.recorded = true;
        this.#enqueue(delivery);
      });
    } catch (error) {
      this.#deliveries.delete(delivery.id);
      throw error;
    }
    return publicDelivery(delivery);
  }

  /** Deliveries not yet finished, over all endpoints. */
  get pendingCount(): number {
    let n = 0;
    for (const lane of this.#lanes.values()) n += lane.queue.length;
    return n;
  }

  /** Stops delivering (requests in flight are aborted and retried at the next start), finishes writes. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#subscription?.unsubscribe();
    this.#writeCursor();
    this.#closed = true;
    this.#abort.abort();
    for (const delivery of this.#deliveries.values()) clearTimeout(delivery.timer);
    await Promise.allSettled([...this.#sending]);
    await this.#committer.close();
    await this.#journal.close();
  }

  // ---- changes -> deliveries ------------------------------------------------------------

  /** Turns a change into deliveries; `again` for the newest states re-read after a gap (their seq repeats). */
  #onChange(change: JobChange, again = false): void {
    if (this.#closed) return;
    const cursor = this.#cursor;
    if (!again && cursor !== undefined && cursor.epoch === change.epoch && change.seq <= cursor.seq) return;
    this.#cursor = { epoch: change.epoch, seq: Math.max(change.seq, cursor?.epoch === change.epoch ? cursor.seq : 0) };
    const records: OutboxRecord[] = [];
    const created: DeliveryState[] = [];
    for (const endpoint of this.#endpoints.values()) {
      if (!endpoint.enabled) continue;
      if (endpoint.epoch === change.epoch && change.seq <= endpoint.sinceSeq) continue;
      if (!(this.#predicates.get(endpoint.id) ?? compileFilter(endpoint.filter))(change.job, change.previousStatus)) continue;
      const lane = this.#lanes.get(laneKey(endpoint.id, change.job.id));
      if (lane !== undefined && lane.maxVersion >= change.job.version) continue;
      const body: JobChangedPayload = {
        type: 'job.changed',
        timestamp: new Date(change.job.updatedAt).toISOString(),
        data: { job: change.job, previousStatus: change.previousStatus, epoch: change.epoch, seq: change.seq },
      };
      const delivery = this.#newDelivery(endpoint, change.job.id, change.job.version, JSON.stringify(body), Date.now(), `${change.job.id}.v${change.job.version}`);
      this.#enqueue(delivery);
      created.push(delivery);
      records.push({ t: 'delivery', delivery: stored(delivery) });
    }
    if (records.length === 0) {
      // Changes no endpoint wants still move the cursor now and then, so that a restart does
      // not read them all again (or, past the log's reach, fall back to resuming by state).
      // Without endpoints nothing resumes from it: no write (and no fsync) on the change path.
      if (this.#endpoints.size > 0 && change.seq - this.#cursorWritten >= CURSOR_EVERY) this.#writeCursor();
      return;
    }
    this.#cursorWritten = change.seq;
    records.push({ t: 'cursor', epoch: change.epoch, seq: change.seq });
    records.forEach((record, i) => {
      const last = i === records.length - 1;
      // A rejection means "not yet written" (the committer retries and logs): nothing to do here.
      this.#committer.enqueue({ record, ...(last ? { onDurable: () => this.#markRecorded(created) } : {}) }).catch(() => undefined);
    });
  }

  #writeCursor(): void {
    if (this.#cursor === undefined || this.#cursor.seq === this.#cursorWritten) return;
    this.#cursorWritten = this.#cursor.seq;
    this.#record([{ t: 'cursor', ...this.#cursor }]);
  }

  #markRecorded(deliveries: readonly DeliveryState[]): void {
    for (const delivery of deliveries) {
      delivery.recorded = true;
      const lane = this.#lanes.get(laneKey(delivery.endpointId, delivery.jobId));
      if (lane !== undefined) this.#arm(lane);
    }
  }

  #newDelivery(endpoint: StoredEndpoint, jobId: string, version: number, body: string, committedAt: number, webhookId: string, replayOf?: string): DeliveryState {
    const ordinal = this.#nextOrdinal++;
    const delivery: DeliveryState = {
      id: `dlv_${ordinal}`,
      ordinal,
      endpointId: endpoint.id,
      jobId,
      version,
      webhookId,
      status: 'pending',
      createdAt: Date.now(),
      attemptCount: 0,
      attempts: [],
      nextAttemptAt: null,
      ...(replayOf === undefined ? {} : { replayOf }),
      body,
      committedAt,
      recorded: false,
      inFlight: false,
      timer: undefined,
    };
    this.#deliveries.set(delivery.id, delivery);
    return delivery;
  }

  /** Puts a new delivery last in its lane; what waits there (not in flight) collapses into it. */
  #enqueue(delivery: DeliveryState): void {
    if (!this.#deliveries.has(delivery.id)) this.#deliveries.set(delivery.id, delivery);
    const lane = this.#lane(delivery.endpointId, delivery.jobId);
    const records: OutboxRecord[] = [];
    for (const older of [...lane.queue]) {
      if (older.inFlight) continue;
      this.#finish(lane, older, 'collapsed', delivery.id);
      records.push({ t: 'state', id: older.id, status: 'collapsed', nextAttemptAt: null, collapsedInto: delivery.id });
    }
    lane.queue.push(delivery);
    lane.maxVersion = Math.max(lane.maxVersion, delivery.version);
    if (records.length > 0) this.#record(records);
    this.#arm(lane);
  }

  // ---- sending --------------------------------------------------------------------------

  /** Makes the head of a lane ready when it may go now, or sets its timer. */
  #arm(lane: Lane): void {
    const head = lane.queue[0];
    if (head === undefined) {
      // Nothing waits: forget the lane (the engine never publishes an old version again).
      if (this.#lanes.get(lane.key) === lane) this.#lanes.delete(lane.key);
      return;
    }
    if (head.inFlight || !head.recorded || head.status !== 'pending' || this.#closed) return;
    if (this.#endpoints.get(head.endpointId)?.enabled !== true) return;
    const wait = (head.nextAttemptAt ?? 0) - Date.now();
    clearTimeout(head.timer);
    head.timer = undefined;
    if (wait > 0) {
      head.timer = setTimeout(() => {
        head.timer = undefined;
        this.#arm(lane);
      }, wait);
      head.timer.unref();
      return;
    }
    this.#ready.add(head);
    this.#pump();
  }

  #pump(): void {
    const max = this.#options.maxInFlightPerEndpoint ?? 8;
    for (const delivery of this.#ready) {
      const busy = this.#inFlight.get(delivery.endpointId) ?? 0;
      if (busy >= max) continue;
      this.#ready.delete(delivery);
      if (delivery.status !== 'pending' || delivery.inFlight || this.#endpoints.get(delivery.endpointId)?.enabled !== true) continue;
      this.#inFlight.set(delivery.endpointId, busy + 1);
      delivery.inFlight = true;
      const sending = this.#send(delivery).finally(() => {
        this.#sending.delete(sending);
        this.#inFlight.set(delivery.endpointId, (this.#inFlight.get(delivery.endpointId) ?? 1) - 1);
        this.#pump();
      });
      this.#sending.add(sending);
    }
  }

  async #send(delivery: DeliveryState): Promise<void> {
    const endpoint = this.#endpoints.get(delivery.endpointId);
    if (endpoint === undefined) return;
    const n = delivery.attemptCount + 1;
    const at = Date.now();
    const headers = signWebhook(endpoint.secret, delivery.webhookId, Math.floor(at / 1000), delivery.body);
    const timeoutMs = this.#options.timeoutMs ?? 10_000;
    let statusCode: number | undefined;
    let excerpt: string | undefined;
    let error: string | undefined;
    try {
      const response = await request(endpoint.url, {
        method: 'POST',
        dispatcher: this.#target,
        signal: this.#abort.signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        headers: { 'content-type': 'application/json', 'user-agent': 'jobstream-webhooks/1', ...headers },
        body: delivery.body,
      });
      statusCode = response.statusCode;
      excerpt = await readExcerpt(response.body);
    } catch (failure) {
      if (this.#closed) {
        delivery.inFlight = false;
        return;
      }
      error = describeFailure(failure, timeoutMs);
    }
    if (this.#closed) {
      delivery.inFlight = false;
      return;
    }
    const attempt: DeliveryAttempt = {
      n,
      at,
      ...(statusCode === undefined ? {} : { statusCode }),
      ...(error === undefined ? {} : { error }),
      latencyMs: Date.now() - at,
      ...(excerpt === undefined || excerpt === '' ? {} : { responseExcerpt: excerpt }),
    };
    this.#afterAttempt(delivery, attempt);
  }

  #afterAttempt(delivery: DeliveryState, attempt: DeliveryAttempt): void {
    delivery.inFlight = false;
    if (!this.#endpoints.has(delivery.endpointId) || !this.#deliveries.has(delivery.id)) return;
    delivery.attemptCount = attempt.n;
    delivery.attempts = [...delivery.attempts, attempt].slice(-KEEP_ATTEMPTS);
    const lane = this.#lane(delivery.endpointId, delivery.jobId);
    const code = attempt.statusCode;
    const newer = lane.queue.find((other) => other !== delivery && other.status === 'pending');
    const records: OutboxRecord[] = [];
    if (code !== undefined && code >= 200 && code < 300) {
      this.#finish(lane, delivery, 'delivered');
    } else {
      this.#options.metrics?.attemptFailed();
      if (code === 410) {
        this.#finish(lane, delivery, 'failed');
        records.push(this.#disable(delivery.endpointId, 'the receiver answered 410 Gone'));
      } else if (newer !== undefined) {
        this.#finish(lane, delivery, 'collapsed', newer.id);
      } else if (Date.now() - delivery.createdAt >= (this.#options.giveUpAfterMs ?? 259_200_000)) {
        this.#finish(lane, delivery, 'failed');
        this.#logger.warn({ endpoint: delivery.endpointId, jobId: delivery.jobId, attempts: attempt.n }, 'webhook delivery given up');
      } else {
        const delay = fullJitter(attempt.n, { initialMs: this.#options.backoffBaseMs ?? 5000, maxMs: this.#options.backoffCapMs ?? 3_600_000 }, this.#options.random ?? Math.random);
        delivery.nextAttemptAt = Date.now() + delay;
      }
    }
    records.unshift({
      t: 'attempt',
      id: delivery.id,
      attempt,
      status: delivery.status,
      nextAttemptAt: delivery.nextAttemptAt,
      ...(delivery.collapsedInto === undefined ? {} : { collapsedInto: delivery.collapsedInto }),
    });
    this.#record(records);
    this.#arm(lane);
  }

  /** Ends a delivery: out of its lane, into the endpoint's log (which keeps the newest `keepFinished`). */
  #finish(lane: Lane, delivery: DeliveryState, status: 'delivered' | 'failed' | 'collapsed', collapsedInto?: string): void {
    this.#setState(delivery, status, null, collapsedInto);
    const index = lane.queue.indexOf(delivery);
    if (index >= 0) lane.queue.splice(index, 1);
    this.#ready.delete(delivery);
    this.#options.metrics?.finished(status, status === 'delivered' ? Date.now() - delivery.committedAt : undefined);
    this.#retain(delivery);
  }

  #setState(delivery: DeliveryState, status: DeliveryStatus, nextAttemptAt: number | null, collapsedInto?: string): void {
    delivery.status = status;
    delivery.nextAttemptAt = nextAttemptAt;
    clearTimeout(delivery.timer);
    delivery.timer = undefined;
    if (collapsedInto !== undefined) delivery.collapsedInto = collapsedInto;
  }

  #retain(delivery: DeliveryState): void {
    const log = this.#finished.get(delivery.endpointId) ?? [];
    log.push(delivery);
    this.#finished.set(delivery.endpointId, log);
    const keep = this.#options.keepFinished ?? 100;
    while (log.length > keep) {
      const old = log.shift();
      if (old !== undefined) this.#deliveries.delete(old.id);
    }
  }

  #disable(id: string, reason: string): OutboxRecord {
    const current = this.#endpoints.get(id) as StoredEndpoint;
    const endpoint: StoredEndpoint = { ...current, enabled: false, disabledReason: reason, updatedAt: Date.now() };
    this.#endpoints.set(id, endpoint);
    this.#logger.warn({ endpoint: id }, `webhook endpoint disabled: ${reason}`);
    return { t: 'endpoint', endpoint };
  }

  // ---- the file -------------------------------------------------------------------------

  /** Records in the background (attempts, states): kept in memory and retried while the file cannot be written. */
  #record(records: readonly OutboxRecord[]): void {
    for (const record of records) this.#committer.enqueue({ record }).catch(() => undefined);
  }

  /** Records for a REST call: 503 while the file cannot be written; applied once durable. */
  async #commitNow(records: readonly OutboxRecord[], after?: () => void): Promise<void> {
    if (this.#closed) throw new HttpError(503, 'SHUTTING_DOWN', 'the server is shutting down');
    const unavailable = (): HttpError => new HttpError(503, 'WEBHOOK_STORE_UNAVAILABLE', 'the webhook outbox cannot be written (a full disk?); nothing was changed, try again later');
    if (this.#committer.failure !== undefined) throw unavailable();
    const items: Pending[] = records.map((record, i) => ({
      record,
      ...(i === records.length - 1 ? { onDurable: () => {
        for (const r of records) this.#apply(r);
        after?.();
      } } : {}),
    }));
    try {
      await Promise.all(items.map((item) => this.#committer.enqueue(item)));
    } catch (error) {
      // Answered 503, so never written: the committer's retry leaves these records out.
      for (const item of items) item.withdrawn = true;
      if (error instanceof StoreUnavailableError) throw unavailable();
      throw error;
    }
  }

  async #write(batch: readonly Pending[]): Promise<void> {
    const records = batch.filter((item) => item.withdrawn !== true).map((item) => item.record);
    const threshold = Math.max(this.#options.compactAtBytes ?? 4 * 1024 * 1024, 2 * this.#compactedSize);
    if (this.#journal.size <= threshold) return this.#journal.append(records);
    // Everything in memory (a superset of what is durable), then this batch: every record is
    // an upsert, so the records written again after it change nothing.
    await this.#journal.rewrite([...this.#snapshot(), ...records]);
    this.#compactedSize = this.#journal.size;
  }

  /** The whole state as records: endpoints, the cursor, every delivery kept. */
  #snapshot(): OutboxRecord[] {
    const records: OutboxRecord[] = [...this.#endpoints.values()].map((endpoint) => ({ t: 'endpoint', endpoint }));
    if (this.#cursor !== undefined) records.push({ t: 'cursor', ...this.#cursor });
    const deliveries = [...this.#deliveries.values()].sort((a, b) => a.ordinal - b.ordinal);
    for (const delivery of deliveries) records.push({ t: 'delivery', delivery: stored(delivery) });
    return records;
  }

  /** Applies a record to the in-memory state (at load, and once a REST change is durable). */
  #apply(record: OutboxRecord): void {
    switch (record.t) {
      case 'endpoint': {
        const before = this.#endpoints.get(record.endpoint.id);
        this.#endpoints.set(record.endpoint.id, record.endpoint);
        this.#predicates.set(record.endpoint.id, compileFilter(record.endpoint.filter));
        if (record.endpoint.enabled && before?.enabled === false) {
          for (const [key, lane] of this.#lanes) if (key.startsWith(`${record.endpoint.id}\0`)) this.#arm(lane);
        }
        return;
      }
      case 'endpoint-removed': {
        this.#endpoints.delete(record.id);
        this.#predicates.delete(record.id);
        this.#finished.delete(record.id);
        for (const [id, delivery] of this.#deliveries) {
          if (delivery.endpointId !== record.id) continue;
          clearTimeout(delivery.timer);
          this.#ready.delete(delivery);
          this.#deliveries.delete(id);
        }
        for (const key of [...this.#lanes.keys()]) if (key.startsWith(`${record.id}\0`)) this.#lanes.delete(key);
        return;
      }
      case 'cursor': {
        const cursor = this.#cursor;
        if (cursor === undefined || cursor.epoch !== record.epoch || record.seq > cursor.seq) this.#cursor = { epoch: record.epoch, seq: record.seq };
        this.#cursorWritten = this.#cursor?.seq ?? 0;
        return;
      }
      case 'delivery': {
        const { delivery } = record;
        const known = this.#deliveries.get(delivery.id);
        if (known !== undefined) return;
        if (!this.#endpoints.has(delivery.endpointId)) return;
        this.#deliveries.set(delivery.id, { ...delivery, recorded: true, inFlight: false, timer: undefined });
        this.#nextOrdinal = Math.max(this.#nextOrdinal, delivery.ordinal + 1);
        if (delivery.status !== 'pending') this.#retain(this.#deliveries.get(delivery.id) as DeliveryState);
        return;
      }
      case 'attempt':
      case 'state': {
        const delivery = this.#deliveries.get(record.id);
        if (delivery === undefined) return;
        if (record.t === 'attempt' && record.attempt.n > delivery.attemptCount) {
          delivery.attemptCount = record.attempt.n;
          delivery.attempts = [...delivery.attempts, record.attempt].slice(-KEEP_ATTEMPTS);
        }
        const wasPending = delivery.status === 'pending';
        delivery.status = record.status;
        delivery.nextAttemptAt = record.nextAttemptAt;
        if (record.collapsedInto !== undefined) delivery.collapsedInto = record.collapsedInto;
        if (wasPending && record.status !== 'pending') this.#retain(delivery);
        return;
      }
    }
  }

  /** Creates, updates or removes the `env` endpoint to match the configuration. */
  #configureEnv(): void {
    const env = this.#options.envEndpoint;
    const current = this.#endpoints.get('env');
    if (env === undefined) {
      if (current !== undefined) {
        this.#logger.info('webhook endpoint env removed: JOBSTREAM_WEBHOOK_URL is no longer set');
        this.#apply({ t: 'endpoint-removed', id: 'env' });
        this.#record([{ t: 'endpoint-removed', id: 'env' }]);
      }
      return;
    }
    if (env.secret !== undefined) {
      const problem = secretProblem(env.secret);
      if (problem !== undefined) throw new JobstreamError('INVALID_CONFIG', `JOBSTREAM_WEBHOOK_SECRET: ${problem}`);
    }
    const filter = env.filter ?? {};
    const secret = env.secret ?? current?.secret ?? generateSecret();
    if (current !== undefined && current.url === env.url && current.secret === secret && JSON.stringify(current.filter) === JSON.stringify(filter)) return;
    const now = Date.now();
    const endpoint: StoredEndpoint = {
      id: 'env',
      url: env.url,
      filter,
      description: 'from JOBSTREAM_WEBHOOK_URL',
      enabled: current?.enabled ?? true,
      ...(current?.disabledReason === undefined ? {} : { disabledReason: current.disabledReason }),
      source: 'env',
      createdAt: current?.createdAt ?? now,
      updatedAt: now,
      secret,
      epoch: current?.epoch ?? this.#engine.epoch,
      sinceSeq: current?.sinceSeq ?? this.#cursor?.seq ?? this.#engine.seq,
    };
    if (env.secret === undefined && current === undefined) {
      this.#logger.warn({ file: this.#journal.path }, 'JOBSTREAM_WEBHOOK_SECRET is not set: deliveries to JOBSTREAM_WEBHOOK_URL are signed with a generated secret kept in the outbox file; set JOBSTREAM_WEBHOOK_SECRET (whsec_…) to verify them');
    }
    this.#apply({ t: 'endpoint', endpoint });
    this.#record([{ t: 'endpoint', endpoint }]);
  }

  #lane(endpointId: string, jobId: string): Lane {
    const key = laneKey(endpointId, jobId);
    let lane = this.#lanes.get(key);
    if (lane === undefined) {
      lane = { key, queue: [], maxVersion: 0 };
      this.#lanes.set(key, lane);
    }
    return lane;
  }

  /** How registration judges a URL: the same policy and resolver as the guard at delivery. */
  get #targetPolicy(): TargetUrlPolicy {
    const lookup = this.#options.urlGuard?.lookup;
    return { allowPrivateTargets: this.#options.allowPrivateTargets === true, ...(lookup === undefined ? {} : { lookup }) };
  }

  #view(endpoint: StoredEndpoint): WebhookEndpoint {
    const { secret: _secret, epoch: _epoch, sinceSeq: _since, ...view } = endpoint;
    let pending = 0;
    for (const [key, lane] of this.#lanes) if (key.startsWith(`${endpoint.id}\0`)) pending += lane.queue.length;
    return { ...view, pending };
  }
}

function laneKey(endpointId: string, jobId: string): string {
  return `${endpointId}\0${jobId}`;
}

function randomId(): string {
  return crypto.randomUUID().replaceAll('-', '').slice(0, 20);
}

function stored(delivery: DeliveryState): StoredDelivery {
  const { recorded: _r, inFlight: _i, timer: _t, ...rest } = delivery;
  return rest;
}

function publicDelivery(delivery: DeliveryState): WebhookDelivery {
  const { recorded: _r, inFlight: _i, timer: _t, ordinal: _o, body: _b, committedAt: _c, ...rest } = delivery;
  return { ...rest, attempts: [...rest.attempts] };
}

/** The first 200 characters of an answer, control characters replaced; the rest is dropped. */
async function readExcerpt(body: Dispatcher.ResponseData['body']): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= EXCERPT_CHARS * 4) break;
    }
  } catch {
    // A body that breaks off still had its status.
  } finally {
    body.on('error', () => undefined);
    if (!body.destroyed) body.destroy();
  }
  // eslint-disable-next-line no-control-regex
  return Buffer.concat(chunks).toString('utf8').slice(0, EXCERPT_CHARS).replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ');
}

function describeFailure(failure: unknown, timeoutMs: number): string {
  const code = (failure as { code?: unknown } | null)?.code;
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return `no answer within ${timeoutMs} ms`;
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return 'connection timed out';
  if (failure instanceof JobstreamError) return failure.message;
  const message = failure instanceof Error ? failure.message : String(failure);
  const cause = (failure as { cause?: { code?: string } } | null)?.cause?.code;
  return (cause === undefined ? message : `${cause}: ${message}`).slice(0, 200);
}
