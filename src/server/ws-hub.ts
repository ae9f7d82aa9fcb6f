import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { asyncScheduler, Subject, type Observable, type SchedulerLike, type Subscription } from 'rxjs';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { Engine } from '../streams/engine.js';
import type { JobChange } from '../streams/job-change.js';
import type { JobSnapshot } from '../streams/job-snapshot.js';
import { compileFilter, type JobPredicate } from '../streams/job-filter.js';
import { describeIssue } from '../streams/snapshot-file.js';
import { bearerToken, type Access } from './auth.js';
import { sendFrame, textFrame } from './ws-frame.js';
import { narrowFilter } from './scoped-tokens.js';
import type { TokenScope } from './token-protocol.js';
import { ClientMessage, CLOSE_CODES, SubscriptionId, type ServerMessage, type SubscribeMessage, type WsErrorCode } from './ws-protocol.js';

/** Options of {@link WsHub}. */
export interface WsHubOptions {
  engine: Engine;
  /**
   * Who a token (from `Authorization: Bearer` or `?token=`) is: the API token, a scoped read
   * token (its subscriptions are narrowed to its scope; closed with 1008 when it expires), or
   * refused (401, no socket).
   */
  authenticate: (token: string | undefined) => Access;
  /** The clock scoped tokens expire by. @default rxjs `asyncScheduler` */
  clock?: SchedulerLike;
  /** Largest client message accepted; larger ones get a MESSAGE_TOO_LARGE error. @default 65536 */
  maxMessageBytes?: number;
  /** Subscriptions per connection. @default 32 */
  maxSubscriptions?: number;
  /** Open connections per server; past it an upgrade is answered 503. @default 10000 */
  maxConnections?: number;
  /** Ping interval; a peer that misses one is terminated at the next. @default 30000 */
  heartbeatMs?: number;
  /** Past this many unsent bytes a client gets only the latest state of each job. @default 1 MiB */
  lagBytes?: number;
  /** Past this many unsent bytes (buffered plus owed) a client is dropped with close code 1013. @default 8 MiB */
  dropBytes?: number;
  /** A client still lagging after this long (it is not catching up) is dropped with 1013. @default 30000 */
  lagTimeoutMs?: number;
  /** Jobs per `snapshot` message. @default 500 */
  snapshotPageSize?: number;
}

/** Counters the hub keeps, for metrics. */
export interface WsHubStats {
  connections: number;
  subscriptions: number;
  messagesSent: number;
  droppedSlowClients: number;
  deadPeersTerminated: number;
  protocolErrors: number;
  refusedUpgrades: number;
}

/**
 * Something the hub did to a client that operators want to hear about (for logs).
 *
 * `client-dropped` reasons: `slow-consumer` (what it owes passed `dropBytes`), `lag-timeout` (still
 * lagging after `lagTimeoutMs`): both closed with 1013; `dead-peer` (missed a heartbeat):
 * terminated.
 */
export type WsHubEvent = {
  type: 'client-dropped';
  reason: 'slow-consumer' | 'lag-timeout' | 'dead-peer';
  /** The peer's IP address and port, as the socket saw them (a proxy's, behind one). */
  address: string | undefined;
  port: number | undefined;
  /** The close code sent (1013); absent when the connection was terminated. */
  closeCode?: number;
  /** Bytes the socket still buffered, and bytes owed on top of them (latest states kept back). */
  bufferedBytes: number;
  owedBytes: number;
  connectedForMs: number;
};

interface Sub {
  readonly id: string;
  readonly matches: JobPredicate;
  /** The subscription's name and filter: subscriptions with equal keys are sent equal messages. */
  readonly key: string;
  /** Changes queued this tick, in seq order (none: `undefined`, so an idle subscription holds no array). */
  queue: JobChange[] | undefined;
}

interface Client {
  readonly ws: WebSocket;
  /** The peer's socket: its address is read only when a drop is reported (kept lazily by Node). */
  readonly socket: Socket;
  readonly connectedAt: number;
  readonly subs: Map<string, Sub>;
  /** A scoped token's scope: every subscription is narrowed to it. */
  readonly scope: TokenScope | undefined;
  /** Closes the connection when the scoped token expires. */
  expiry: Subscription | undefined;
  alive: boolean;
  /** While lagging: only the latest change of each job (with its serialised size), per subscription. */
  lagging: Map<Sub, Map<string, { change: JobChange; bytes: number }>> | undefined;
  /** Serialised size of what `lagging` holds: owed on top of the socket's buffer. */
  owedBytes: number;
  /** When the client started lagging (ms since epoch). */
  laggingSince: number;
}

/**
 * The live WebSocket hub at `/v1/stream` (protocol in `ws-protocol.ts` and docs/protocol.md).
 *
 * It follows ws's documented patterns (a tracked client set, sends only to open sockets, a
 * ping/`isAlive` heartbeat, one idempotent close) and adds jobstream's policy:
 * - Fan-out happens once per tick: every change published in the same tick goes to a client as
 *   one `change` message per subscription, and each change is serialised once for all clients.
 * - Backpressure: a client whose unsent bytes pass `lagBytes` is switched to "latest state per
 *   job" until it drains. It is dropped with 1013 when what it owes passes `dropBytes`, or when
 *   it is still lagging after `lagTimeoutMs`. A slow client never delays the others and never
 *   makes the server buffer without bound.
 */
export class WsHub {
  readonly #engine: Engine;
  readonly #authenticate: (token: string | undefined) => Access;
  readonly #clock: SchedulerLike;
  readonly #limits: Required<Omit<WsHubOptions, 'engine' | 'authenticate' | 'clock'>>;
  readonly #wss: WebSocketServer;
  /** Open connections by socket (the shared listeners find their client here). */
  readonly #clients = new Map<WebSocket, Client>();
  // Listeners every connection shares (`this` is the socket that emitted).
  readonly #onPong: (this: WebSocket) => void;
  readonly #onMessage: (this: WebSocket, data: RawData, isBinary: boolean) => void;
  readonly #onClose: (this: WebSocket) => void;
  readonly #dirty = new Set<Client>();
  readonly #changes: Subscription;
  readonly #heartbeat: NodeJS.Timeout;
  readonly #events = new Subject<WsHubEvent>();
  #flushScheduled = false;
  #closing: Promise<void> | undefined;
  readonly stats: WsHubStats = {
    connections: 0,
    subscriptions: 0,
    messagesSent: 0,
    droppedSlowClients: 0,
    deadPeersTerminated: 0,
    protocolErrors: 0,
    refusedUpgrades: 0,
  };

  constructor(options: WsHubOptions) {
    this.#engine = options.engine;
    this.#authenticate = options.authenticate;
    this.#clock = options.clock ?? asyncScheduler;
    this.#limits = {
      maxMessageBytes: options.maxMessageBytes ?? 64 * 1024,
      maxSubscriptions: options.maxSubscriptions ?? 32,
      maxConnections: options.maxConnections ?? 10_000,
      heartbeatMs: options.heartbeatMs ?? 30_000,
      lagBytes: options.lagBytes ?? 1024 * 1024,
      dropBytes: options.dropBytes ?? 8 * 1024 * 1024,
      lagTimeoutMs: options.lagTimeoutMs ?? 30_000,
      snapshotPageSize: options.snapshotPageSize ?? 500,
    };
    // A hard ceiling per frame bounds memory: past it ws closes the connection with 1009
    // (documented); between maxMessageBytes and it, the client gets a MESSAGE_TOO_LARGE error.
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: Math.max(1024 * 1024, this.#limits.maxMessageBytes * 4), perMessageDeflate: false });
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the listeners' own `this` is the socket
    const hub = this;
    this.#onPong = function () {
      const client = hub.#clients.get(this);
      if (client !== undefined) client.alive = true;
    };
    this.#onMessage = function (data, isBinary) {
      const client = hub.#clients.get(this);
      if (client !== undefined) hub.#receive(client, data, isBinary);
    };
    this.#onClose = function () {
      const client = hub.#clients.get(this);
      if (client !== undefined) hub.#forget(client);
    };
    this.#changes = this.#engine.changes$().subscribe((change) => this.#route(change));
    this.#heartbeat = setInterval(() => this.#beat(), this.#limits.heartbeatMs);
    this.#heartbeat.unref();
  }

  /** Clients dropped (slow, lagging, dead), as they happen; completes when the hub closes. */
  get events$(): Observable<WsHubEvent> {
    return this.#events.asObservable();
  }

  /** Open connections. */
  get clientCount(): number {
    return this.#clients.size;
  }

  /**
   * Takes an HTTP upgrade for `/v1/stream`: checks the token and the connection limit, answering
   * 401 or 503 without a socket when they fail.
   */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.#closing !== undefined) return refuse(socket, 503, 'SHUTTING_DOWN', 'the server is shutting down');
    const url = new URL(request.url ?? '/', 'http://localhost');
    const token = bearerToken(request.headers.authorization) ?? url.searchParams.get('token') ?? undefined;
    const access = this.#authenticate(token);
    if (access.type === 'refused') {
      this.stats.refusedUpgrades += 1;
      return refuse(socket, 401, access.code, access.code === 'UNAUTHORIZED' ? 'a valid bearer token is required (Authorization header or ?token=)' : access.message);
    }
    if (this.#clients.size >= this.#limits.maxConnections) {
      this.stats.refusedUpgrades += 1;
      return refuse(socket, 503, 'TOO_MANY_CONNECTIONS', `the server allows ${this.#limits.maxConnections} connections`);
    }
    this.#wss.handleUpgrade(request, socket, head, (ws) => this.#accept(ws, request, access));
  }

  /** Closes every connection (1001) and stops the hub. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      clearInterval(this.#heartbeat);
      this.#changes.unsubscribe();
      this.#events.complete();
      for (const client of this.#clients.values()) client.ws.close(CLOSE_CODES.goingAway, 'server shutting down');
      const deadline = setTimeout(() => {
        for (const client of this.#clients.values()) client.ws.terminate();
      }, 1000);
      deadline.unref();
      this.#wss.close(() => {
        clearTimeout(deadline);
        resolve();
      });
    });
    return this.#closing;
  }

  #accept(ws: WebSocket, request: IncomingMessage, access: Access): void {
    const client: Client = {
      ws,
      socket: request.socket,
      connectedAt: Date.now(),
      subs: new Map(),
      scope: access.type === 'scoped' ? access.scope : undefined,
      expiry: undefined,
      alive: true,
      lagging: undefined,
      owedBytes: 0,
      laggingSince: 0,
    };
    this.#clients.set(ws, client);
    this.stats.connections += 1;
    if (access.type === 'scoped') {
      client.expiry = this.#clock.schedule(() => {
        this.#forget(client);
        ws.close(CLOSE_CODES.policyViolation, 'token expired');
      }, Math.max(0, access.expiresAt - this.#clock.now()));
    }
    // One set of listeners for every connection (they find their client by socket): a closure
    // per listener per connection would cost heap on every idle subscriber.
    ws.on('pong', this.#onPong);
    ws.on('message', this.#onMessage);
    ws.on('close', this.#onClose);
    ws.on('error', onError);
    this.#send(client, {
      type: 'hello',
      epoch: this.#engine.epoch,
      seq: this.#engine.seq,
      limits: {
        maxMessageBytes: this.#limits.maxMessageBytes,
        maxSubscriptions: this.#limits.maxSubscriptions,
        heartbeatMs: this.#limits.heartbeatMs,
      },
    });
  }

  #forget(client: Client): void {
    client.expiry?.unsubscribe();
    if (!this.#clients.delete(client.ws)) return;
    this.stats.subscriptions -= client.subs.size;
    this.#dirty.delete(client);
  }

  #receive(client: Client, data: RawData, isBinary: boolean): void {
    const bytes = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength;
    if (bytes > this.#limits.maxMessageBytes) {
      return this.#error(client, 'MESSAGE_TOO_LARGE', `messages are limited to ${this.#limits.maxMessageBytes} bytes, this one has ${bytes}`);
    }
    if (isBinary) return this.#error(client, 'BAD_MESSAGE', 'binary messages are not part of the protocol; send JSON text');
    let raw: unknown;
    try {
      raw = JSON.parse(Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data)]).toString('utf8'));
    } catch {
      return this.#error(client, 'BAD_MESSAGE', 'the message is not valid JSON');
    }
    const parsed = ClientMessage.safeParse(raw);
    if (!parsed.success) {
      // Echo the subscription name only when it is a valid one: errors must pass the schema too.
      const sub = SubscriptionId.safeParse((raw as { sub?: unknown } | null)?.sub);
      return this.#error(client, 'BAD_MESSAGE', describeIssue(parsed.error), sub.success ? sub.data : undefined);
    }
    const message = parsed.data;
    switch (message.type) {
      case 'subscribe':
        return this.#subscribe(client, message);
      case 'unsubscribe': {
        const sub = client.subs.get(message.sub);
        if (sub === undefined) return this.#error(client, 'UNKNOWN_SUBSCRIPTION', `no subscription "${message.sub}"`, message.sub);
        client.subs.delete(message.sub);
        sub.queue = undefined;
        client.lagging?.delete(sub);
        this.stats.subscriptions -= 1;
        return;
      }
      case 'ping':
        return this.#send(client, message.id === undefined ? { type: 'pong' } : { type: 'pong', id: message.id });
    }
  }

  #subscribe(client: Client, message: SubscribeMessage): void {
    const { sub: id, resume } = message;
    // A scoped token's subscription is narrowed to its scope, never refused for asking wider.
    const filter = client.scope === undefined ? message.filter : narrowFilter(message.filter, client.scope);
    if (client.subs.has(id)) return this.#error(client, 'DUPLICATE_SUBSCRIPTION', `subscription "${id}" exists; unsubscribe it first`, id);
    if (client.subs.size >= this.#limits.maxSubscriptions) {
      return this.#error(client, 'TOO_MANY_SUBSCRIPTIONS', `a connection may hold ${this.#limits.maxSubscriptions} subscriptions`, id);
    }
    const sub: Sub = { id, matches: compileFilter(filter), key: `${id}\u0000${JSON.stringify(filter ?? {})}`, queue: undefined };
    // Registered first: every change published from here on is queued for it. Nothing below
    // yields, so the snapshot (or the replay) and the queued changes meet without a gap.
    client.subs.set(id, sub);
    this.stats.subscriptions += 1;
    const epoch = this.#engine.epoch;
    const missed = resume === undefined ? undefined : this.#engine.changesSince(resume.epoch, resume.seq, filter);
    if (resume !== undefined && missed !== undefined) {
      this.#send(client, { type: 'resumed', sub: id, epoch, seq: resume.seq });
      for (let i = 0; i < missed.length; i += this.#limits.snapshotPageSize) {
        this.#sendRaw(client, changeMessage(id, epoch, missed.slice(i, i + this.#limits.snapshotPageSize)));
      }
      return;
    }
    const byState = resume === undefined ? undefined : this.#scoped(client, this.#engine.newerThan(resume, filter), resume.versions);
    const { seq, jobs } = byState ?? this.#engine.snapshot(filter);
    const reason = resume === undefined ? 'subscribe' : byState === undefined ? 'resume-unavailable' : 'resume-by-state';
    const gone = byState !== undefined && byState.gone.length > 0 ? { gone: byState.gone } : {};
    const size = this.#limits.snapshotPageSize;
    for (let i = 0; i === 0 || i < jobs.length; i += size) {
      const first = i === 0 ? gone : {};
      this.#send(client, { type: 'snapshot', sub: id, epoch, seq, reason, jobs: jobs.slice(i, i + size), ...first, more: i + size < jobs.length });
    }
  }

  /**
   * Resume by state also reports the jobs a client says it holds, whatever the filter: for a
   * scoped token, only those in its scope, and every other id it names is `gone`, exactly as an
   * unknown id would be (so naming ids cannot tell it which exist).
   */
  #scoped<T extends { jobs: JobSnapshot[]; gone: string[] }>(client: Client, byState: T | undefined, held: Record<string, number> | undefined): T | undefined {
    if (byState === undefined || client.scope === undefined) return byState;
    const inScope = compileFilter(client.scope);
    const visible = (id: string) => {
      const job = this.#engine.get(id);
      return job !== undefined && inScope(job);
    };
    return { ...byState, jobs: byState.jobs.filter((job) => inScope(job)), gone: Object.keys(held ?? {}).filter((id) => !visible(id)) };
  }

  #route(change: JobChange): void {
    let bytes: number | undefined;
    for (const client of this.#clients.values()) {
      for (const sub of client.subs.values()) {
        if (!sub.matches(change.job, change.previousStatus)) continue;
        if (client.lagging !== undefined) {
          let latest = client.lagging.get(sub);
          if (latest === undefined) client.lagging.set(sub, (latest = new Map<string, { change: JobChange; bytes: number }>()));
          const replaced = latest.get(change.job.id);
          if (replaced !== undefined) client.owedBytes -= replaced.bytes;
          bytes ??= wireJson(change, undefined).length;
          client.owedBytes += bytes;
          latest.set(change.job.id, { change, bytes });
          // A reader that has stopped owes more and more (one state per job), or never catches up.
          const stalled = this.#stalled(client);
          if (stalled !== undefined) this.#drop(client, stalled);
        } else {
          if (sub.queue === undefined) sub.queue = [change];
          else sub.queue.push(change);
          this.#dirty.add(client);
        }
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
    // Each change is serialised once per flush, however many clients get it; the strings are
    // dropped afterwards rather than kept alive as long as the change log keeps the changes.
    const serialised = new Map<JobChange, string>();
    // And each message once per (subscription name and filter, changes), encoded once: clients
    // that subscribed alike get the same bytes. Equal filters route the same changes, so a list
    // is told apart by its length and first seq (a later subscription gets a suffix). Looked up
    // by the subscription's own key string (its hash is cached), with no string built per client.
    const messages = new Map<string, SharedMessage[]>();
    for (const client of this.#dirty) {
      for (const sub of client.subs.values()) {
        const changes = sub.queue;
        if (changes === undefined) continue;
        sub.queue = undefined;
        const first = (changes[0] as JobChange).seq;
        let alike = messages.get(sub.key);
        if (alike === undefined) messages.set(sub.key, (alike = []));
        let shared: SharedMessage | undefined;
        for (const candidate of alike) {
          if (candidate.count === changes.length && candidate.first === first) {
            shared = candidate;
            break;
          }
        }
        if (shared === undefined) {
          const bytes = Buffer.from(changeMessage(sub.id, epoch, changes, serialised));
          shared = { count: changes.length, first, bytes, frame: textFrame(bytes) };
          alike.push(shared);
        }
        this.#sendRaw(client, shared.bytes, shared.frame);
      }
    }
    this.#dirty.clear();
  }

  /** Sends what a lagging client missed, latest state per job in seq order, once it drained. */
  #catchUp(client: Client): void {
    const lagging = client.lagging;
    if (lagging === undefined || client.ws.bufferedAmount > this.#limits.lagBytes / 2) return;
    client.lagging = undefined;
    client.owedBytes = 0;
    const epoch = this.#engine.epoch;
    for (const [sub, latest] of lagging) {
      if (latest.size === 0 || !client.subs.has(sub.id)) continue;
      const changes = [...latest.values()].map((pending) => pending.change).sort((a, b) => a.seq - b.seq);
      this.#sendRaw(client, changeMessage(sub.id, epoch, changes));
    }
  }

  #send(client: Client, message: ServerMessage): void {
    this.#sendRaw(client, JSON.stringify(message));
  }

  /**
   * Sends a text frame (a Buffer is sent as UTF-8 text, encoded once for many clients; `frame`,
   * when given, is that Buffer already framed, written as is).
   */
  #sendRaw(client: Client, text: string | Buffer, frame?: Buffer): void {
    const { ws } = client;
    if (ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount > this.#limits.dropBytes) return this.#drop(client, 'slow-consumer');
    if (client.lagging === undefined && ws.bufferedAmount > this.#limits.lagBytes) {
      client.lagging = new Map();
      client.laggingSince = Date.now();
    }
    this.stats.messagesSent += 1;
    // Only a lagging client needs to hear that a send went out (to catch up once drained).
    const sent =
      client.lagging === undefined
        ? undefined
        : (error?: Error | null): void => {
            if ((error === undefined || error === null) && client.lagging !== undefined) this.#catchUp(client);
          };
    if (frame === undefined) ws.send(text, TEXT_FRAME, sent);
    else sendFrame(ws, frame, text as Buffer, sent);
  }

  /** Why a lagging client must be dropped, or `undefined` while it may catch up. */
  #stalled(client: Client): 'slow-consumer' | 'lag-timeout' | undefined {
    if (client.lagging === undefined) return undefined;
    if (client.ws.bufferedAmount + client.owedBytes > this.#limits.dropBytes) return 'slow-consumer';
    return Date.now() - client.laggingSince > this.#limits.lagTimeoutMs ? 'lag-timeout' : undefined;
  }

  #drop(client: Client, reason: 'slow-consumer' | 'lag-timeout'): void {
    if (this.#clients.get(client.ws) !== client) return;
    this.stats.droppedSlowClients += 1;
    this.#forget(client);
    this.#report(client, reason, CLOSE_CODES.tryAgainLater);
    const why = reason === 'lag-timeout' ? `still behind after ${this.#limits.lagTimeoutMs} ms` : `more than ${this.#limits.dropBytes} bytes unsent`;
    client.ws.close(CLOSE_CODES.tryAgainLater, `slow consumer: ${why}`);
    // A stalled reader never reads the close frame either.
    setTimeout(() => client.ws.terminate(), 1000).unref();
  }

  #report(client: Client, reason: WsHubEvent['reason'], closeCode: number | undefined): void {
    this.#events.next({
      type: 'client-dropped',
      reason,
      address: client.socket.remoteAddress,
      port: client.socket.remotePort,
      ...(closeCode === undefined ? {} : { closeCode }),
      bufferedBytes: client.ws.bufferedAmount,
      owedBytes: client.owedBytes,
      connectedForMs: Date.now() - client.connectedAt,
    });
  }

  #error(client: Client, code: WsErrorCode, message: string, sub?: string): void {
    this.stats.protocolErrors += 1;
    this.#send(client, sub === undefined ? { type: 'error', code, message } : { type: 'error', code, message, sub });
  }

  #beat(): void {
    for (const client of this.#clients.values()) {
      if (!client.alive) {
        this.stats.deadPeersTerminated += 1;
        this.#forget(client);
        this.#report(client, 'dead-peer', undefined);
        client.ws.terminate();
        continue;
      }
      const stalled = this.#stalled(client);
      if (stalled !== undefined) {
        this.#drop(client, stalled);
        continue;
      }
      client.alive = false;
      client.ws.ping();
      if (client.lagging !== undefined) this.#catchUp(client);
    }
  }
}

/** Options of every send: a text frame (one object for all sends). */
const TEXT_FRAME = { binary: false } as const;

/** One encoded `change` message and the queue it was built from (its length and first seq). */
interface SharedMessage {
  readonly count: number;
  readonly first: number;
  readonly bytes: Buffer;
  /** `bytes` as a whole WebSocket frame, the same for every client (see {@link textFrame}). */
  readonly frame: Buffer;
}

/** A `change` message built from serialised parts, reusing those already made in `cache`. */
function changeMessage(sub: string, epoch: string, changes: readonly JobChange[], cache?: Map<JobChange, string>): string {
  return `{"type":"change","sub":${JSON.stringify(sub)},"epoch":${JSON.stringify(epoch)},"changes":[${changes.map((c) => wireJson(c, cache)).join(',')}]}`;
}

function wireJson(change: JobChange, cache: Map<JobChange, string> | undefined): string {
  let json = cache?.get(change);
  if (json === undefined) {
    json = JSON.stringify({ seq: change.seq, job: change.job, previousStatus: change.previousStatus });
    cache?.set(change, json);
  }
  return json;
}

function onError(this: WebSocket): void {
  this.terminate();
}

function refuse(socket: Duplex, status: 401 | 503, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  const reason = status === 401 ? 'Unauthorized' : 'Service Unavailable';
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      (status === 401 ? 'WWW-Authenticate: Bearer\r\n' : '') +
      `\r\n${body}`,
  );
}
