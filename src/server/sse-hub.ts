import { asyncScheduler, type SchedulerLike, type Subscription } from 'rxjs';
import type { Engine } from '../streams/engine.js';
import type { JobChange } from '../streams/job-change.js';
import { compileFilter, type JobFilter, type JobPredicate } from '../streams/job-filter.js';
import { isSettled } from '../streams/job-reducer.js';
import type { JobSnapshot } from '../streams/job-snapshot.js';
import type { Logger } from './logger.js';
import { eventId, type SseEnd, type SseResumed, type SseSnapshot } from './sse-protocol.js';

/** Options of {@link SseHub}. The flow-control limits are the WebSocket hub's. */
export interface SseHubOptions {
  engine: Engine;
  /** A comment line every this often keeps proxies from closing an idle stream. @default 15000 */
  heartbeatMs?: number;
  /** Past this many unsent bytes a stream gets only the latest state of each job. @default 1 MiB */
  lagBytes?: number;
  /** Past this many unsent bytes (buffered plus owed) a stream is cut. @default 8 MiB */
  dropBytes?: number;
  /** A stream still lagging after this long is cut. @default 30000 */
  lagTimeoutMs?: number;
  /** Jobs per `snapshot` event. @default 500 */
  snapshotPageSize?: number;
  /** Open streams per server; past it a request is answered 503. @default 10000 */
  maxStreams?: number;
  /** The clock scoped tokens expire by. @default rxjs `asyncScheduler` */
  clock?: SchedulerLike;
  /** Where cut streams are reported (`warn`). */
  logger?: Logger;
}

/** What {@link SseHub.open} streams. */
export interface SseStreamRequest {
  /** The jobs to send (already narrowed to a scoped token's scope). */
  filter: JobFilter | undefined;
  /** `Last-Event-ID`: send only what came after it. */
  resume?: { epoch: string; seq: number } | undefined;
  /** End the stream (`event: end`, `settled`) once this job has settled (`/v1/jobs/:id/events`). */
  untilSettled?: string | undefined;
  /** End the stream (`event: end`, `token-expired`) at this time, epoch ms (a scoped token's expiry). */
  expiresAt?: number | undefined;
  /** Bytes the HTTP response holds that the socket has not taken yet. */
  buffered: () => number;
  /** Closes the connection at once (a reader that does not read); its unsent bytes are dropped. */
  destroy: () => void;
  /** Calls `listener` once the connection has closed, however it closed. */
  onClose?: ((listener: () => void) => void) | undefined;
  /** The peer, for logs. */
  address?: string | undefined;
}

/** Counters the hub keeps. */
export interface SseHubStats {
  streams: number;
  eventsSent: number;
  droppedSlowClients: number;
}

interface Stream {
  readonly matches: JobPredicate;
  readonly buffered: () => number;
  readonly destroy: () => void;
  readonly untilSettled: string | undefined;
  readonly address: string | undefined;
  readonly connectedAt: number;
  controller: ReadableStreamDefaultController<Uint8Array>;
  /** Changes up to this seq are in what was sent first (snapshot or replay). */
  sinceSeq: number;
  /** Changes queued this tick, in seq order. */
  readonly outbox: JobChange[];
  /** While lagging: only the latest change of each job, with its encoded size. */
  lagging: Map<string, { change: JobChange; bytes: number }> | undefined;
  owedBytes: number;
  laggingSince: number;
  expiry: Subscription | undefined;
}

const encoder = new TextEncoder();
const HEARTBEAT = encoder.encode(': keep-alive\n\n');

/**
 * The Server-Sent Events streams of `/v1/events` and `/v1/jobs/:id/events` (protocol in
 * `sse-protocol.ts` and docs/protocol.md). One subscription to the engine's changes feeds every
 * stream, once per tick, each change encoded once. A stream starts with a snapshot of its jobs,
 * or, given `Last-Event-ID`, with exactly the changes it missed (resume by state or a fresh
 * snapshot when the log cannot tell), then sends every matching change with `id: <epoch>:<seq>`.
 *
 * Flow control is the WebSocket hub's policy: a stream whose unsent bytes (queued here plus held
 * by the HTTP response) pass `lagBytes` gets only the latest state of each job until it drains;
 * it is cut when what it owes passes `dropBytes` or it still lags after `lagTimeoutMs` (the
 * browser's `EventSource` then reconnects with `Last-Event-ID` and catches up from the log).
 */
export class SseHub {
  readonly #engine: Engine;
  readonly #limits: Required<Omit<SseHubOptions, 'engine' | 'clock' | 'logger'>>;
  readonly #clock: SchedulerLike;
  readonly #logger: Logger | undefined;
  readonly #streams = new Set<Stream>();
  readonly #dirty = new Set<Stream>();
  readonly #changes: Subscription;
  readonly #heartbeat: NodeJS.Timeout;
  #flushScheduled = false;
  #closed = false;
  readonly stats: SseHubStats = { streams: 0, eventsSent: 0, droppedSlowClients: 0 };

  constructor(options: SseHubOptions) {
    this.#engine = options.engine;
    this.#clock = options.clock ?? asyncScheduler;
    this.#logger = options.logger;
    this.#limits = {
      heartbeatMs: options.heartbeatMs ?? 15_000,
      lagBytes: options.lagBytes ?? 1024 * 1024,
      dropBytes: options.dropBytes ?? 8 * 1024 * 1024,
      lagTimeoutMs: options.lagTimeoutMs ?? 30_000,
      snapshotPageSize: options.snapshotPageSize ?? 500,
      maxStreams: options.maxStreams ?? 10_000,
    };
    this.#changes = this.#engine.changes$().subscribe({ next: (change) => this.#route(change), complete: () => void this.close() });
    this.#heartbeat = setInterval(() => this.#beat(), this.#limits.heartbeatMs);
    this.#heartbeat.unref();
  }

  /** Open streams. */
  get streamCount(): number {
    return this.#streams.size;
  }

  /** Whether another stream may open now (not shutting down, under `maxStreams`). */
  get accepting(): boolean {
    return !this.#closed && this.#streams.size < this.#limits.maxStreams;
  }

  /**
   * Starts a stream: its first events are queued before this returns, and every change published
   * from then on follows, so nothing falls between the two. `undefined` when there is nothing to
   * stream: the one job of `untilSettled` had settled and nothing was missed (answer 204, which
   * tells an `EventSource` not to reconnect).
   */
  open(request: SseStreamRequest): ReadableStream<Uint8Array> | undefined {
    const filter = request.filter;
    const engine = this.#engine;
    // Everything below runs in one go, with no await: the snapshot (or the replay) is as of
    // `engine.seq`, and changes after it reach the stream through #route.
    const epoch = engine.epoch;
    const first: string[] = [];
    let settledAlready = false;
    const settles = (job: JobSnapshot) => job.id === request.untilSettled && isSettled(job);
    const missed = request.resume === undefined ? undefined : engine.changesSince(request.resume.epoch, request.resume.seq, filter);
    if (request.resume !== undefined && missed !== undefined) {
      if (request.untilSettled !== undefined && missed.length === 0) {
        const job = engine.get(request.untilSettled);
        if (job !== undefined && isSettled(job)) return undefined;
      }
      first.push(event('resumed', { epoch, seq: request.resume.seq } satisfies SseResumed));
      for (const change of missed) {
        first.push(changeEvent(change, epoch));
        if (settles(change.job)) settledAlready = true;
      }
    } else {
      const byState = request.resume === undefined ? undefined : engine.newerThan(request.resume, filter);
      const { seq, jobs } = byState ?? engine.snapshot(filter);
      if (request.untilSettled !== undefined && byState !== undefined && jobs.length === 0) {
        const job = engine.get(request.untilSettled);
        if (job !== undefined && isSettled(job)) return undefined;
      }
      const reason = request.resume === undefined ? 'subscribe' : byState === undefined ? 'resume-unavailable' : 'resume-by-state';
      const size = this.#limits.snapshotPageSize;
      for (let i = 0; i === 0 || i < jobs.length; i += size) {
        const more = i + size < jobs.length;
        const page: SseSnapshot = { epoch, seq, reason, jobs: jobs.slice(i, i + size), more };
        // Only the last page carries the id: a client cut off part-way must not resume after it.
        first.push(event('snapshot', page, more ? undefined : eventId(epoch, seq)));
      }
      if (jobs.some(settles)) settledAlready = true;
    }

    const stream: Stream = {
      matches: compileFilter(filter),
      buffered: request.buffered,
      destroy: request.destroy,
      untilSettled: request.untilSettled,
      address: request.address,
      connectedAt: Date.now(),
      controller: undefined as unknown as ReadableStreamDefaultController<Uint8Array>,
      sinceSeq: engine.seq,
      outbox: [],
      lagging: undefined,
      owedBytes: 0,
      laggingSince: 0,
      expiry: undefined,
    };
    const body = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          stream.controller = controller;
        },
        // The response wants more and has nothing queued: a lagging stream may catch up.
        pull: () => this.#catchUp(stream),
        // The client went away.
        cancel: () => this.#forget(stream),
      },
      { highWaterMark: 0, size: (chunk) => chunk.byteLength },
    );
    this.#enqueue(stream, first.join(''));
    if (settledAlready) {
      this.#end(stream, 'settled', false);
      return body;
    }
    this.#streams.add(stream);
    this.stats.streams += 1;
    // Besides the body's cancel: a connection that closes before its body is read never cancels it.
    request.onClose?.(() => this.#forget(stream));
    if (request.expiresAt !== undefined) {
      stream.expiry = this.#clock.schedule(() => this.#end(stream, 'token-expired'), Math.max(0, request.expiresAt - this.#clock.now()));
    }
    return body;
  }

  /** Ends every stream (clients reconnect with `Last-Event-ID`, to this server or another). Idempotent. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    clearInterval(this.#heartbeat);
    this.#changes.unsubscribe();
    for (const stream of [...this.#streams]) {
      this.#forget(stream);
      try {
        stream.controller.close();
      } catch {
        // Already closed or errored.
      }
    }
    return Promise.resolve();
  }

  #route(change: JobChange): void {
    let bytes: number | undefined;
    for (const stream of this.#streams) {
      if (change.seq <= stream.sinceSeq || !stream.matches(change.job, change.previousStatus)) continue;
      if (stream.lagging !== undefined) {
        bytes ??= Buffer.byteLength(changeEvent(change, change.epoch));
        this.#owe(stream, change, bytes);
        const stalled = this.#stalled(stream);
        if (stalled !== undefined) this.#drop(stream, stalled);
      } else {
        stream.outbox.push(change);
        this.#dirty.add(stream);
      }
    }
    if (this.#dirty.size > 0 && !this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => this.#flush());
    }
  }

  #flush(): void {
    this.#flushScheduled = false;
    const epoch = this.#engine.epoch;
    // Each change is encoded once per flush, however many streams get it.
    const encoded = new Map<JobChange, string>();
    const text = (change: JobChange): string => {
      let event = encoded.get(change);
      if (event === undefined) encoded.set(change, (event = changeEvent(change, epoch)));
      return event;
    };
    for (const stream of this.#dirty) {
      const changes = stream.outbox.splice(0);
      if (!this.#streams.has(stream) || changes.length === 0) continue;
      const unsent = this.#unsent(stream);
      if (unsent > this.#limits.dropBytes) {
        this.#drop(stream, 'slow-consumer');
        continue;
      }
      if (unsent > this.#limits.lagBytes) {
        stream.lagging = new Map();
        stream.laggingSince = Date.now();
        for (const change of changes) this.#owe(stream, change, Buffer.byteLength(text(change)));
        const stalled = this.#stalled(stream);
        if (stalled !== undefined) this.#drop(stream, stalled);
        continue;
      }
      this.#enqueue(stream, changes.map(text).join(''));
      if (changes.some((change) => change.job.id === stream.untilSettled && isSettled(change.job))) this.#end(stream, 'settled');
    }
    this.#dirty.clear();
  }

  /** Sends what a lagging stream missed, the latest state of each job in seq order, once it has drained. */
  #catchUp(stream: Stream): void {
    const lagging = stream.lagging;
    if (lagging === undefined || !this.#streams.has(stream) || this.#unsent(stream) > this.#limits.lagBytes / 2) return;
    stream.lagging = undefined;
    stream.owedBytes = 0;
    if (lagging.size === 0) return;
    const epoch = this.#engine.epoch;
    const changes = [...lagging.values()].map((pending) => pending.change).sort((a, b) => a.seq - b.seq);
    this.#enqueue(stream, changes.map((change) => changeEvent(change, epoch)).join(''));
    if (changes.some((change) => change.job.id === stream.untilSettled && isSettled(change.job))) this.#end(stream, 'settled');
  }

  #owe(stream: Stream, change: JobChange, bytes: number): void {
    const latest = stream.lagging as Map<string, { change: JobChange; bytes: number }>;
    const replaced = latest.get(change.job.id);
    if (replaced !== undefined) stream.owedBytes -= replaced.bytes;
    stream.owedBytes += bytes;
    latest.set(change.job.id, { change, bytes });
  }

  #unsent(stream: Stream): number {
    return Math.max(0, -(stream.controller.desiredSize ?? 0)) + stream.buffered();
  }

  /** Why a lagging stream must be cut, or `undefined` while it may catch up. */
  #stalled(stream: Stream): 'slow-consumer' | 'lag-timeout' | undefined {
    if (stream.lagging === undefined) return undefined;
    if (this.#unsent(stream) + stream.owedBytes > this.#limits.dropBytes) return 'slow-consumer';
    return Date.now() - stream.laggingSince > this.#limits.lagTimeoutMs ? 'lag-timeout' : undefined;
  }

  #enqueue(stream: Stream, text: string): void {
    if (text === '') return;
    try {
      stream.controller.enqueue(encoder.encode(text));
      this.stats.eventsSent += 1;
    } catch {
      // The stream was closed under us (the client left): #forget follows from cancel.
    }
  }

  /** Sends `event: end` and closes the stream: it is over and will not resume. */
  #end(stream: Stream, reason: SseEnd['reason'], known = true): void {
    if (known && !this.#streams.has(stream)) return;
    this.#forget(stream);
    this.#enqueue(stream, event('end', { reason } satisfies SseEnd));
    try {
      stream.controller.close();
    } catch {
      // Already closed.
    }
  }

  /** Cuts a stream that does not read: its queue is dropped and the connection closed. */
  #drop(stream: Stream, reason: 'slow-consumer' | 'lag-timeout'): void {
    if (!this.#streams.has(stream)) return;
    this.stats.droppedSlowClients += 1;
    const fields = {
      reason,
      address: stream.address,
      unsentBytes: this.#unsent(stream),
      owedBytes: stream.owedBytes,
      connectedForMs: Date.now() - stream.connectedAt,
    };
    this.#forget(stream);
    this.#logger?.warn(fields, 'event stream client dropped: not reading');
    // The body is cancelled with the connection: nothing queued is kept.
    stream.destroy();
  }

  #forget(stream: Stream): void {
    stream.expiry?.unsubscribe();
    stream.expiry = undefined;
    this.#dirty.delete(stream);
    stream.outbox.length = 0;
    if (this.#streams.delete(stream)) this.stats.streams -= 1;
  }

  #beat(): void {
    for (const stream of [...this.#streams]) {
      const stalled = this.#stalled(stream);
      if (stalled !== undefined) {
        this.#drop(stream, stalled);
        continue;
      }
      if (stream.lagging !== undefined) {
        this.#catchUp(stream);
        continue;
      }
      try {
        stream.controller.enqueue(HEARTBEAT);
      } catch {
        // Closed: #forget follows.
      }
    }
  }
}

/** One event: `id` (when given), `event`, and the JSON on one `data` line (JSON has no raw newlines). */
function event(name: string, data: unknown, id?: string): string {
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

function changeEvent(change: JobChange, epoch: string): string {
  return event('change', { seq: change.seq, job: change.job, previousStatus: change.previousStatus }, eventId(epoch, change.seq));
}
