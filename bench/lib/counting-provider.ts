import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ProviderError } from '../../src/streams/errors.js';
import type { PollPolicy } from '../../src/streams/poll-scheduler.js';
import type { CallContext, CreateJobRequest, CreateJobResult, ProviderAdapter, ProviderJobRef, ProviderReport } from '../../src/streams/provider-port.js';

/** The header that names the engine (cluster member) making a call. */
export const MEMBER_HEADER = 'x-bench-member';

/**
 * A provider adapter that talks HTTP to a {@link CountingProviderServer}: `create` mints a job
 * there, `poll` asks for it (always "running", so the job is polled for ever) and names the
 * calling member in a header, so the server can count every provider call, by job and member,
 * across processes. No webhooks: the job is polled at the policy's plain interval.
 *
 * @example
 * const provider = new CountingProvider({ url: server.url, member: 'm1', pollPolicy });
 */
export class CountingProvider implements ProviderAdapter {
  readonly provider = 'counted';
  readonly kinds = ['transcription'] as const;
  readonly webhooks = false;
  readonly credentialId = 'bench';
  readonly pollPolicy: PollPolicy;
  readonly #url: string;
  readonly #member: string;

  constructor(options: { url: string; member: string; pollPolicy: PollPolicy }) {
    this.#url = options.url;
    this.#member = options.member;
    this.pollPolicy = options.pollPolicy;
  }

  async create(_request: CreateJobRequest, context: CallContext): Promise<CreateJobResult> {
    const answer = JSON.parse(await this.#call('POST', '/jobs', context)) as { id: string };
    return { externalId: answer.id, report: { status: 'running', providerStatus: 'RUNNING', progress: 0.5 } };
  }

  async poll(job: ProviderJobRef, context: CallContext): Promise<ProviderReport> {
    await this.#call('GET', `/jobs/${encodeURIComponent(job.externalId)}`, context);
    return { status: 'running', providerStatus: 'RUNNING', progress: 0.5 };
  }

  #call(method: string, path: string, context: CallContext): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = request(`${this.#url}${path}`, { method, headers: { [MEMBER_HEADER]: this.#member }, signal: context.signal }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          if (res.statusCode === 200) resolve(Buffer.concat(chunks).toString('utf8'));
          else reject(new ProviderError(this.provider, 'unavailable', `HTTP ${res.statusCode}`, { status: res.statusCode ?? 0 }));
        });
        res.on('error', reject);
      });
      req.on('error', (error) => reject(new ProviderError(this.provider, 'unavailable', error.message)));
      req.end();
    });
  }
}

/** One poll as the provider saw it. */
export interface ProviderPoll {
  /** `performance.now()` of this (the server's) process when the request arrived. */
  at: number;
  member: string;
  job: string;
  /** Held by {@link CountingProviderServer.holdPollsOf}: never answered. */
  held: boolean;
}

/**
 * The fake provider's HTTP side, in the benchmark's own process: mints job ids, answers every
 * poll at once (unless the calling member's polls are being held), and records every poll with
 * its arrival time, member and job.
 */
export class CountingProviderServer {
  readonly polls: ProviderPoll[] = [];
  /** Hears every poll as it arrives (after it was recorded). */
  onPoll: ((poll: ProviderPoll) => void) | undefined;
  readonly #server: Server;
  readonly #held = new Set<ServerResponse>();
  #holding: { member: string; onHeld: (poll: ProviderPoll) => void } | undefined;
  #next = 0;
  #url = '';

  private constructor() {
    this.#server = createServer((req, res) => this.#handle(req, res));
    this.#server.keepAliveTimeout = 60_000;
  }

  /** Starts it on 127.0.0.1, port 0. */
  static async start(): Promise<CountingProviderServer> {
    const server = new CountingProviderServer();
    await new Promise<void>((resolve) => server.#server.listen(0, '127.0.0.1', resolve));
    server.#url = `http://127.0.0.1:${(server.#server.address() as AddressInfo).port}`;
    return server;
  }

  /** `http://127.0.0.1:port` */
  get url(): string {
    return this.#url;
  }

  /**
   * From now on, polls by `member` are recorded and held (never answered), and `onHeld` hears
   * each as it arrives. Until {@link release}.
   */
  holdPollsOf(member: string, onHeld: (poll: ProviderPoll) => void): void {
    this.#holding = { member, onHeld };
  }

  /** Stops holding; requests still held are dropped. */
  release(): void {
    this.#holding = undefined;
    for (const res of this.#held) res.destroy();
    this.#held.clear();
  }

  async close(): Promise<void> {
    this.release();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const at = performance.now();
    req.resume();
    if (req.method === 'POST' && req.url === '/jobs') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: `job-${++this.#next}` }));
      return;
    }
    const job = /^\/jobs\/([^/]+)$/.exec(req.url ?? '')?.[1];
    if (req.method !== 'GET' || job === undefined) {
      res.writeHead(404).end();
      return;
    }
    const member = String(req.headers[MEMBER_HEADER] ?? '');
    const holding = this.#holding;
    const poll: ProviderPoll = { at, member, job: decodeURIComponent(job), held: holding?.member === member };
    this.polls.push(poll);
    if (poll.held) {
      this.#held.add(res);
      res.on('close', () => this.#held.delete(res));
      holding!.onHeld(poll);
    } else {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"RUNNING"}');
    }
    this.onPoll?.(poll);
  }
}
