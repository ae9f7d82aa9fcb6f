import { defer, filter, firstValueFrom, last, map, Observable, Subject, takeWhile, throwError, timeout, type Subscriber } from 'rxjs';
import type { ServerMessage } from '../server/ws-protocol.js';
import type { SubmitRequest, TrackRequest } from '../streams/engine-requests.js';
import { compileFilter, entered, settledBy, type JobFilter } from '../streams/job-filter.js';
import { isSettled } from '../streams/job-reducer.js';
import type { JobSnapshot } from '../streams/job-snapshot.js';
import type { JobStatus } from '../streams/job-status.js';
import type { TokenInfo } from '../server/token-protocol.js';
import { ClientError } from './client-error.js';
import { RestClient, type ListQuery } from './rest-client.js';
import { StreamConnection, type ConnectionState, type SocketFactory, type WebSocketLike } from './stream-connection.js';

/** Options of {@link connect}. */
export interface ClientOptions {
  /** The server's base URL, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** The API token, or a scoped read token (see {@link RemoteClient.access}). */
  token: string;
  /** How to open a WebSocket. @default the global `WebSocket` with the token in `?token=` */
  createSocket?: SocketFactory;
  /** @default the global `fetch` */
  fetch?: typeof fetch;
  /** Reconnect backoff (full jitter). @default { initialMs: 250, maxMs: 10000 } */
  reconnect?: { initialMs: number; maxMs: number };
  /** Application ping interval. @default 15000 */
  heartbeatMs?: number;
}

/** One change as a client sees it. `seq` is the server's, within `epoch`. */
export interface ClientChange {
  epoch: string;
  seq: number;
  job: JobSnapshot;
  /** `null` when unknown: the job is new, or came from a fresh snapshot after a restart. */
  previousStatus: JobStatus | null;
}

/** A job to submit: a URL input as in the engine, or a file to upload. */
export type ClientSubmitRequest = SubmitRequest | (Omit<SubmitRequest, 'input'> & { file: Blob; filename?: string });

interface Update {
  change: ClientChange;
  /** From the first snapshot of a subscription: the state it started from, not a change. */
  initial: boolean;
}

/** A server subscription shared by every observer of one filter. */
interface Shared {
  readonly id: string;
  readonly filter: JobFilter | undefined;
  readonly updates: Subject<Update>;
  /** Newest snapshot seen per job: nothing older or equal is ever passed on. */
  readonly latest: Map<string, JobSnapshot>;
  resume: { epoch: string; seq: number } | undefined;
  /** Snapshot pages being gathered. */
  pages: JobSnapshot[];
  observers: number;
  /** Calls back once the current connection's snapshot or resume has arrived. */
  onSynced: (() => void) | undefined;
}

/**
 * A jobstream server, over the network: the same observables as in the engine's process, fed
 * by one shared WebSocket, plus the REST calls. Resolves once the token was accepted.
 *
 * @example
 * const client = await connect({ url: 'http://127.0.0.1:8080', token });
 * client.state$.subscribe((state) => console.log('connection', state));
 * client.changes$({ providers: ['klangio'] }).subscribe(({ job }) => console.log(job.id, job.status));
 * const done = await client.waitFor(jobId, { timeoutMs: 60_000 });
 */
export async function connect(options: ClientOptions): Promise<RemoteClient> {
  const client = new RemoteClient(options);
  // Fails fast with UNAUTHORIZED, TOKEN_EXPIRED or CONNECTION_FAILED.
  client.start(await client.rest.tokenInfo());
  return client;
}

/** See {@link connect}. */
export class RemoteClient {
  /** The REST calls, typed. */
  readonly rest: RestClient;
  #access: TokenInfo = { type: 'admin' };
  readonly #connection: StreamConnection;
  readonly #shared = new Map<string, Shared>();
  readonly #byId = new Map<string, Shared>();
  #next = 0;
  #epoch: string | undefined;
  #failure: ClientError | undefined;

  /** @internal Use {@link connect}. */
  constructor(options: ClientOptions) {
    const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.rest = new RestClient(options.url, options.token, fetchImpl);
    const wsUrl = `${options.url.replace(/\/+$/, '').replace(/^http/, 'ws')}/v1/stream`;
    this.#connection = new StreamConnection({
      url: wsUrl,
      token: options.token,
      createSocket: options.createSocket ?? browserSocket,
      backoff: options.reconnect ?? { initialMs: 250, maxMs: 10_000 },
      heartbeatMs: options.heartbeatMs ?? 15_000,
      random: Math.random,
      onMessage: (message) => this.#receive(message),
      onHello: (ready) => this.#restore(ready),
      onFailure: () => this.#stillWelcome(),
    });
  }

  /** The connection's state: `connecting`, `open`, `resuming` (reconnected, catching up), `closed`. */
  get state$(): Observable<ConnectionState> {
    return this.#connection.state$;
  }

  /**
   * What the token may do, as the server said at {@link connect}: `admin` (everything), or
   * `scoped` (read the jobs of `filter` until `expiresAt`: every stream and list is narrowed to
   * them, other jobs are unknown, and `submit`, `track`, `cancel` fail with `SCOPE_FORBIDDEN`).
   */
  get access(): TokenInfo {
    return this.#access;
  }

  /** @internal */
  start(access: TokenInfo): void {
    this.#access = access;
    this.#connection.start();
  }

  /**
   * Every change matching the filter from now on. Across reconnects and server restarts each
   * job version arrives at most once and never after a newer one. One server subscription
   * serves every observer of the same filter; the last one to leave ends it.
   */
  changes$(jobFilter?: JobFilter): Observable<ClientChange> {
    return this.#updates(jobFilter).pipe(
      filter((update) => !update.initial),
      map((update) => update.change),
    );
  }

  /**
   * Each job once, at the change where it enters one of `statuses` (from now on): the way to act
   * once when a job reaches a status (see the engine's `reached$`). Across reconnects too: a
   * version is never passed on twice.
   *
   * @example client.reached$('failed').subscribe((job) => alert(job.error?.message));
   */
  reached$(statuses: JobStatus | readonly JobStatus[], jobFilter: Omit<JobFilter, 'statuses'> = {}): Observable<JobSnapshot> {
    const wanted = new Set<JobStatus>(typeof statuses === 'string' ? [statuses] : statuses);
    return this.changes$({ ...jobFilter, statuses: [...wanted] }).pipe(
      filter((change) => entered(change, wanted)),
      map((change) => change.job),
    );
  }

  /** Each job once, when it settles (terminal, result files copied where they are), from now on. */
  settled$(jobFilter?: JobFilter): Observable<JobSnapshot> {
    return this.changes$(jobFilter).pipe(
      filter((change) => settledBy(change)),
      map((change) => change.job),
    );
  }

  /**
   * The live set of jobs matching the filter, for tables and dashboards: the whole current set
   * first, then again after every batch of changes (at most once per tick). A job that no longer
   * matches (it left a status in the filter) leaves the set.
   */
  jobs$(jobFilter?: JobFilter): Observable<ReadonlyMap<string, JobSnapshot>> {
    return new Observable<ReadonlyMap<string, JobSnapshot>>((subscriber) => {
      const matches = compileFilter(jobFilter);
      const jobs = new Map<string, JobSnapshot>();
      let synced = false;
      let scheduled = false;
      const emit = (): void => {
        scheduled = false;
        if (!subscriber.closed) subscriber.next(new Map(jobs));
      };
      return this.#updates(jobFilter, {
        replay: true,
        onSynced: () => {
          synced = true;
          emit();
        },
      }).subscribe({
        next: ({ change: { job } }) => {
          if (matches(job)) jobs.set(job.id, job);
          else jobs.delete(job.id);
          if (synced && !scheduled) {
            scheduled = true;
            queueMicrotask(emit);
          }
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      });
    });
  }

  /**
   * One job: its current snapshot, then each newer version, completing once it is settled.
   * Errors with `UNKNOWN_JOB` when the server has no such job.
   */
  job$(id: string): Observable<JobSnapshot> {
    return defer(() => {
      const jobFilter = { ids: [id] };
      return new Observable<JobSnapshot>((subscriber) => {
        const updates = this.#updates(jobFilter, {
          replay: true,
          onSynced: (shared) => {
            if (!shared.latest.has(id)) subscriber.error(new ClientError('UNKNOWN_JOB', `no job with id "${id}"`));
          },
        });
        let last: JobSnapshot | undefined;
        return updates.pipe(map((update) => update.change.job)).subscribe({
          next: (job) => {
            last = job;
            subscriber.next(job);
          },
          error: (error: unknown) => subscriber.error(error),
          // The client closed before the job settled: say so rather than end on a stale state.
          complete: () =>
            last !== undefined && isSettled(last) ? subscriber.complete() : subscriber.error(new ClientError('CLIENT_CLOSED', 'the client was closed')),
        });
      }).pipe(takeWhile((job) => !isSettled(job), true));
    });
  }

  /** Resolves with the settled job; `WAIT_TIMEOUT` after `timeoutMs`, `UNKNOWN_JOB` for an unknown id. */
  waitFor(id: string, options: { timeoutMs?: number } = {}): Promise<JobSnapshot> {
    const settled$ = this.job$(id).pipe(last());
    const timeoutMs = options.timeoutMs;
    return firstValueFrom(
      timeoutMs === undefined
        ? settled$
        : settled$.pipe(timeout({ first: timeoutMs, with: () => throwError(() => new ClientError('WAIT_TIMEOUT', `job "${id}" did not settle within ${timeoutMs} ms`)) })),
    );
  }

  /** Submits a job: JSON for a URL input, a multipart upload for a `file` Blob. */
  submit(request: ClientSubmitRequest): Promise<JobSnapshot> {
    if (!('file' in request)) return this.rest.create(request);
    const { file, filename, metadata, options, ...fields } = request;
    const form = new FormData();
    for (const [name, value] of Object.entries(fields)) if (typeof value === 'string') form.set(name, value);
    if (metadata !== undefined) form.set('metadata', JSON.stringify(metadata));
    if (options !== undefined) form.set('options', JSON.stringify(options));
    form.set('file', file, filename ?? 'audio');
    return this.rest.create(form);
  }

  track(request: TrackRequest): Promise<JobSnapshot> {
    return this.rest.track(request);
  }

  cancel(id: string): Promise<JobSnapshot> {
    return this.rest.cancel(id);
  }

  /** The job, or `undefined` when the server has none with that id. */
  get(id: string): Promise<JobSnapshot | undefined> {
    return this.rest.get(id);
  }

  list(query?: ListQuery): Promise<{ jobs: JobSnapshot[]; nextCursor: string | null }> {
    return this.rest.list(query);
  }

  /**
   * Closes the socket. `changes$` streams complete; `job$` streams (and `waitFor`) of jobs that
   * have not settled error with `CLIENT_CLOSED`. Idempotent.
   */
  close(): Promise<void> {
    this.#end(new ClientError('CLIENT_CLOSED', 'the client was closed'), 'complete');
    return Promise.resolve();
  }

  /**
   * Updates of the shared subscription for a filter. With `replay`, an observer joining a
   * subscription that is already live first gets the newest snapshot of each job it knows.
   * `onSynced` runs once this observer has the subscription's starting state.
   */
  #updates(jobFilter: JobFilter | undefined, options: { replay?: boolean; onSynced?: (shared: Shared) => void } = {}): Observable<Update> {
    return new Observable<Update>((subscriber: Subscriber<Update>) => {
      if (this.#failure !== undefined) {
        subscriber.error(this.#failure);
        return undefined;
      }
      const k = key(jobFilter);
      let shared = this.#shared.get(k);
      if (shared === undefined) {
        shared = { id: `s${++this.#next}`, filter: jobFilter, updates: new Subject<Update>(), latest: new Map(), resume: undefined, pages: [], observers: 0, onSynced: undefined };
        this.#shared.set(k, shared);
        this.#byId.set(shared.id, shared);
      }
      const target = shared;
      const live = target.resume !== undefined;
      if (live && options.replay === true) {
        for (const job of target.latest.values()) subscriber.next({ change: { epoch: target.resume?.epoch ?? '', seq: target.resume?.seq ?? 0, job, previousStatus: null }, initial: true });
      }
      const subscription = target.updates.subscribe(subscriber);
      target.observers += 1;
      const { onSynced } = options;
      if (onSynced !== undefined) {
        if (live) onSynced(target);
        else {
          const previous = target.onSynced;
          target.onSynced = () => {
            previous?.();
            onSynced(target);
          };
        }
      }
      if (target.observers === 1) this.#subscribe(target);
      return () => {
        subscription.unsubscribe();
        target.observers -= 1;
        if (target.observers === 0) {
          this.#connection.send({ type: 'unsubscribe', sub: target.id });
          this.#shared.delete(k);
          this.#byId.delete(target.id);
        }
      };
    });
  }

  #subscribe(shared: Shared): void {
    shared.pages = [];
    this.#connection.send({
      type: 'subscribe',
      sub: shared.id,
      ...(shared.filter === undefined ? {} : { filter: shared.filter }),
      ...(shared.resume === undefined ? {} : { resume: resumePoint(shared.resume, shared.latest) }),
    });
  }

  /** After every (re)connect: each live subscription again, resuming where it stopped. */
  #restore(ready: () => void): void {
    const pending = new Set<Shared>(this.#shared.values());
    if (pending.size === 0) return ready();
    for (const shared of pending) {
      const previous = shared.onSynced;
      shared.onSynced = () => {
        previous?.();
        pending.delete(shared);
        if (pending.size === 0) ready();
      };
      this.#subscribe(shared);
    }
  }

  #receive(message: ServerMessage): void {
    if (message.type === 'hello') {
      this.#epoch = message.epoch;
      return;
    }
    if (message.type === 'pong') return;
    const shared = 'sub' in message && message.sub !== undefined ? this.#byId.get(message.sub) : undefined;
    if (shared === undefined) return;
    switch (message.type) {
      case 'snapshot': {
        // Resume by state: jobs the server does not have are no longer held.
        for (const id of message.gone ?? []) shared.latest.delete(id);
        shared.pages.push(...message.jobs);
        if (message.more) return;
        const initial = shared.resume === undefined;
        shared.resume = { epoch: message.epoch, seq: message.seq };
        for (const job of shared.pages) this.#offer(shared, { epoch: message.epoch, seq: message.seq, job, previousStatus: null }, initial);
        shared.pages = [];
        return this.#synced(shared);
      }
      case 'resumed':
        return this.#synced(shared);
      case 'change':
        for (const change of message.changes) {
          shared.resume = { epoch: message.epoch, seq: change.seq };
          this.#offer(shared, { epoch: message.epoch, ...change }, false);
        }
        return;
      case 'error':
        shared.updates.error(new ClientError(message.code, message.message));
        return;
    }
  }

  #offer(shared: Shared, change: ClientChange, initial: boolean): void {
    const seen = shared.latest.get(change.job.id)?.version ?? 0;
    if (change.job.version <= seen) return;
    shared.latest.set(change.job.id, change.job);
    shared.updates.next({ change, initial });
  }

  #synced(shared: Shared): void {
    const onSynced = shared.onSynced;
    shared.onSynced = undefined;
    onSynced?.();
  }

  /** A connection attempt failed before hello: go on unless the token is now refused. */
  async #stillWelcome(): Promise<boolean> {
    try {
      await this.rest.tokenInfo();
      return true;
    } catch (error) {
      if (error instanceof ClientError && (error.code === 'UNAUTHORIZED' || error.status === 401)) {
        this.#end(error, 'error');
        return false;
      }
      return true; // unreachable for now: keep trying
    }
  }

  /** Ends the client: every stream completes (a close) or errors (the token was refused). */
  #end(error: ClientError, how: 'complete' | 'error'): void {
    if (this.#failure !== undefined) return;
    this.#failure = error;
    this.#connection.close();
    for (const shared of this.#shared.values()) {
      if (how === 'complete') shared.updates.complete();
      else shared.updates.error(error);
    }
    this.#shared.clear();
    this.#byId.clear();
  }

  /** The epoch of the server as last greeted (undefined before the first hello). */
  get epoch(): string | undefined {
    return this.#epoch;
  }
}

/** A canonical key for a filter, so equal filters share one subscription. */
function key(jobFilter: JobFilter | undefined): string {
  if (jobFilter === undefined) return '{}';
  const sorted = Object.entries(jobFilter)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => [name, Array.isArray(value) ? [...(value as string[])].sort() : Object.entries(value as object).sort(([a], [b]) => a.localeCompare(b))] as const)
    .sort(([a], [b]) => a.localeCompare(b));
  return JSON.stringify(sorted);
}

/** The browser's WebSocket (also Node 22's), with the token in the query string. */
function browserSocket(url: string, token: string): WebSocketLike {
  const Socket = (globalThis as { WebSocket?: new (url: string) => WebSocketLike }).WebSocket;
  if (Socket === undefined) throw new ClientError('CONNECTION_FAILED', 'no global WebSocket here: import the client from "jobstream/client" in Node');
  return new Socket(`${url}?token=${encodeURIComponent(token)}`);
}

/**
 * How many held jobs a resume point lists with their versions; above it the client sends only
 * `{epoch, seq}` (the message would grow past the server's 64 KiB message limit).
 */
const MAX_SENT_VERSIONS = 1_000;

/**
 * The resume point of a subscription: where it stopped, plus the version of every job it holds
 * when they are few enough to list, so a server that no longer has every missed change sends only
 * the jobs newer than those (resume by state).
 */
function resumePoint(at: { epoch: string; seq: number }, latest: ReadonlyMap<string, JobSnapshot>): { epoch: string; seq: number; versions?: Record<string, number> } {
  if (latest.size === 0 || latest.size > MAX_SENT_VERSIONS) return at;
  // fromEntries defines own properties: an id such as `__proto__` stays a key.
  const versions = Object.fromEntries(Array.from(latest, ([id, job]) => [id, job.version]));
  return { ...at, versions };
}
