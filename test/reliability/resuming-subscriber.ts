import { WebSocket } from 'ws';
import { ServerMessage } from '../../src/server/ws-protocol.js';
import type { JobSnapshot } from '../../src/streams/job-snapshot.js';

/** What a subscriber keeps of one change: where it is in the log and which version it carries. */
export interface SeenChange {
  seq: number;
  id: string;
  version: number;
  status: string;
  /** The status before this change (`null`: the job is new). */
  previousStatus: string | null;
  /** Which server sent it. */
  from: string;
}

/**
 * A WebSocket subscriber to every job (`sub: 'all'`) that records each change it is sent,
 * remembers where it stopped (`{epoch, seq}`), and resumes from there on a new connection,
 * to the same server or another one. It never sleeps: tests wait on its messages with
 * {@link until}. What it records:
 *
 * - `answers`: how each subscription was answered (`snapshot:<reason>` or `resumed`);
 * - `seen`: every change, in the order received; `versions(id)`: the versions of one job;
 * - `hellos`: the epoch of each server's `hello`;
 * - `problems`: seq disorder, an epoch that changed on resume, `error` messages.
 *
 * @example
 * const s = new ResumingSubscriber('s1', token);
 * await s.connect(a.url);
 * // a dies
 * await s.connect(b.url); // resumes at b with exactly what it missed
 */
export class ResumingSubscriber {
  readonly seen: SeenChange[] = [];
  readonly answers: string[] = [];
  readonly hellos: string[] = [];
  readonly problems: string[] = [];
  /** Versions of each job from snapshots (none are expected: it subscribes before any job exists). */
  readonly snapshotJobs: string[] = [];
  epoch: string | undefined;
  seq = 0;
  /** The server of the current connection. */
  server = '';
  #ws: WebSocket | undefined;
  readonly #waiters = new Set<() => void>();
  readonly #versions = new Map<string, number[]>();
  readonly #jobs = new Map<string, JobSnapshot>();

  constructor(
    readonly name: string,
    readonly token: string,
  ) {}

  /** Whether the current connection is open. */
  get open(): boolean {
    return this.#ws?.readyState === WebSocket.OPEN;
  }

  /** The versions of job `id` this subscriber was sent, in order. */
  versions(id: string): readonly number[] {
    return this.#versions.get(id) ?? [];
  }

  /** The newest state of job `id` it was sent (from a change or a snapshot), if any. */
  job(id: string): JobSnapshot | undefined {
    return this.#jobs.get(id);
  }

  /** The newest version of job `id` it was sent (0: none). */
  latest(id: string): number {
    return this.#versions.get(id)?.at(-1) ?? 0;
  }

  /**
   * Connects to `url`, subscribes (resuming from where it stopped, once it has been anywhere)
   * and resolves when the subscription is answered.
   */
  async connect(url: string): Promise<void> {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/stream`, { headers: { authorization: `Bearer ${this.token}` } });
    this.#ws = ws;
    this.server = url;
    ws.on('message', (data: Buffer) => this.#receive(ServerMessage.parse(JSON.parse(data.toString('utf8'))), url));
    ws.on('close', () => this.#wake());
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.on('error', () => undefined);
    const resume = this.epoch === undefined ? {} : { resume: { epoch: this.epoch, seq: this.seq } };
    const answered = this.answers.length;
    ws.send(JSON.stringify({ type: 'subscribe', sub: 'all', ...resume }));
    await this.until(() => this.answers.length > answered, `${this.name}: the answer to its subscription at ${url}`);
  }

  /** Resolves once the current connection has closed (the server went away). */
  closed(): Promise<void> {
    return this.until(() => !this.open, `${this.name}: its connection to close`);
  }

  /** Closes its side. */
  async leave(): Promise<void> {
    const ws = this.#ws;
    if (ws === undefined || ws.readyState === WebSocket.CLOSED) return;
    const gone = new Promise((resolve) => ws.once('close', resolve));
    ws.close();
    await gone;
  }

  /** Resolves once `test` holds, checked after every message and close. */
  until(test: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}; at seq ${this.seq}, answers ${this.answers.join(',')}`));
      }, timeoutMs);
      const check = (): void => {
        if (!test()) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve();
      };
      this.#waiters.add(check);
    });
  }

  #receive(message: ServerMessage, from: string): void {
    switch (message.type) {
      case 'hello':
        this.hellos.push(message.epoch);
        break;
      case 'snapshot':
        this.answers.push(`snapshot:${message.reason}`);
        if (this.epoch !== undefined && message.epoch !== this.epoch) this.problems.push(`${this.name}: snapshot in epoch ${message.epoch}, was ${this.epoch}`);
        this.epoch = message.epoch;
        this.seq = message.seq;
        for (const job of message.jobs) {
          this.snapshotJobs.push(`${job.id}@${job.version}`);
          this.#jobs.set(job.id, job);
        }
        break;
      case 'resumed':
        this.answers.push('resumed');
        if (message.epoch !== this.epoch) this.problems.push(`${this.name}: resumed in epoch ${message.epoch}, was ${this.epoch}`);
        break;
      case 'change':
        for (const { seq, job, previousStatus } of message.changes) {
          if (seq <= this.seq) this.problems.push(`${this.name}: seq ${seq} after ${this.seq} (from ${from})`);
          this.seq = seq;
          this.seen.push({ seq, id: job.id, version: job.version, status: job.status, previousStatus, from });
          this.#jobs.set(job.id, job);
          const versions = this.#versions.get(job.id);
          if (versions === undefined) this.#versions.set(job.id, [job.version]);
          else versions.push(job.version);
        }
        break;
      case 'error':
        this.problems.push(`${this.name}: error ${message.code}: ${message.message}`);
        break;
      default:
        break;
    }
    this.#wake();
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}
