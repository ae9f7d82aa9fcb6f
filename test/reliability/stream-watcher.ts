import { WebSocket } from 'ws';
import { ServerMessage } from '../../src/server/ws-protocol.js';
import type { JobFilter } from '../../src/streams/job-filter.js';
import type { JobStatus } from '../../src/streams/job-status.js';
import { StreamOrder, type JobMark } from './job-ledger.js';

/** One subscription a watcher opens. */
export interface WatchedSubscription {
  sub: string;
  filter?: JobFilter;
}

/** Options of {@link StreamWatcher.open}. */
export interface StreamWatcherOptions {
  /** Validate every message against the exported `ServerMessage` schema. @default true */
  validate?: boolean;
  /** Called with every job snapshot received, from a `snapshot` or a `change` message. */
  onJob?: (sub: string, job: JobMark & { provider: string; kind: string }, from: 'snapshot' | 'change') => void;
}

interface WireJob {
  id: string;
  version: number;
  status: JobStatus;
  provider: string;
  kind: string;
}

/**
 * A WebSocket subscriber for the reliability suite: opens subscriptions, checks every one as an
 * ordered stream (per job, versions strictly increase and status never goes back; change `seq`s
 * strictly increase), and lets a test wait for a condition without sleeping.
 */
export class StreamWatcher {
  readonly ws: WebSocket;
  readonly orders = new Map<string, StreamOrder>();
  /** Anything the server sent that breaks the protocol: schema failures, `error` messages, seq disorder. */
  readonly problems: string[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  messages = 0;
  #lastSeq = new Map<string, number>();
  #snapshotsDone = new Set<string>();
  #waiters = new Set<() => void>();

  private constructor(ws: WebSocket, subs: readonly WatchedSubscription[], options: StreamWatcherOptions) {
    this.ws = ws;
    for (const { sub } of subs) this.orders.set(sub, new StreamOrder(sub));
    const validate = options.validate ?? true;
    ws.on('message', (data: Buffer, isBinary) => {
      this.messages += 1;
      if (isBinary) this.problems.push('the server sent a binary frame');
      let message: { type: string; sub?: string; seq?: number; more?: boolean; jobs?: WireJob[]; changes?: { seq: number; job: WireJob }[] };
      try {
        const raw: unknown = JSON.parse(data.toString('utf8'));
        if (validate) {
          const parsed = ServerMessage.safeParse(raw);
          if (!parsed.success) this.problems.push(`a message does not match ServerMessage: ${parsed.error.message.slice(0, 300)}`);
        }
        message = raw as typeof message;
      } catch {
        this.problems.push('the server sent a frame that is not JSON');
        return;
      }
      const sub = message.sub ?? '';
      const order = this.orders.get(sub);
      if (message.type === 'error') this.problems.push(`error message: ${JSON.stringify(message)}`);
      if (message.type === 'snapshot' && order !== undefined) {
        for (const job of message.jobs ?? []) {
          order.next(job);
          options.onJob?.(sub, job, 'snapshot');
        }
        this.#lastSeq.set(sub, message.seq ?? 0);
        if (message.more === false) this.#snapshotsDone.add(sub);
      }
      if (message.type === 'change' && order !== undefined) {
        for (const change of message.changes ?? []) {
          const last = this.#lastSeq.get(sub) ?? 0;
          if (change.seq <= last) this.problems.push(`${sub}: change seq ${change.seq} after ${last}`);
          this.#lastSeq.set(sub, change.seq);
          order.next(change.job);
          options.onJob?.(sub, change.job, 'change');
        }
      }
      for (const wake of [...this.#waiters]) wake();
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    this.closed.then(
      () => {
        for (const wake of [...this.#waiters]) wake();
      },
      () => undefined,
    );
  }

  /** Connects with a bearer token, subscribes, and resolves once every snapshot has arrived. */
  static async open(wsUrl: string, token: string, subs: readonly WatchedSubscription[], options: StreamWatcherOptions = {}): Promise<StreamWatcher> {
    const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${token}` } });
    const watcher = new StreamWatcher(ws, subs, options);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_request, response) => reject(new Error(`WebSocket upgrade answered HTTP ${response.statusCode}`)));
      ws.once('error', reject);
    });
    ws.on('error', () => undefined);
    for (const { sub, filter } of subs) ws.send(JSON.stringify(filter === undefined ? { type: 'subscribe', sub } : { type: 'subscribe', sub, filter }));
    await watcher.until(() => subs.every(({ sub }) => watcher.#snapshotsDone.has(sub)), 15_000, 'the subscription snapshots');
    return watcher;
  }

  /** Every problem found by the watcher and its subscriptions. */
  allProblems(): string[] {
    return [...this.problems, ...[...this.orders.values()].flatMap((order) => order.problems)];
  }

  /** Resolves once `done()` holds, checked after every message; rejects after `timeoutMs`. */
  until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (done()) {
          finish();
          resolve();
        } else if (this.ws.readyState === WebSocket.CLOSED) {
          finish();
          reject(new Error(`the WebSocket closed while waiting for ${what}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** Closes the connection and waits for the close handshake (bounded by ws itself). */
  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close();
    const timer = setTimeout(() => this.ws.terminate(), 2000);
    await this.closed;
    clearTimeout(timer);
  }
}
