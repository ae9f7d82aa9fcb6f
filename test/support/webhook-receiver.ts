import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a {@link WebhookReceiver} got, and what it answered. */
export interface ReceivedWebhook {
  headers: IncomingHttpHeaders;
  body: string;
  /** The status it answered with. */
  status: number;
  /** 1 for the first request to this receiver. */
  n: number;
}

/** Decides the answer to a request: a status (or a promise of one, to hold the request). */
export type ReceiverPolicy = (request: Omit<ReceivedWebhook, 'status'>) => number | Promise<number>;

/**
 * A real HTTP receiver on 127.0.0.1:0 for outbound-webhook tests: records every request and
 * answers by `policy` (200 by default). Tests wait on it with {@link until}, which re-checks
 * its condition at each request (no polling, no sleeps).
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  /** Requests read to their end, answered or not yet (a policy may hold one). */
  arrivals = 0;
  policy: ReceiverPolicy;
  readonly #server: Server;
  readonly #waiters = new Set<() => void>();
  #count = 0;

  private constructor(policy: ReceiverPolicy) {
    this.policy = policy;
    this.#server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const seen = { headers: request.headers, body: Buffer.concat(chunks).toString('utf8'), n: ++this.#count };
        this.arrivals += 1;
        for (const wake of [...this.#waiters]) wake();
        void Promise.resolve(this.policy(seen)).then((status) => {
          response.writeHead(status, { 'content-type': 'text/plain' }).end(`answered ${status}`);
          this.received.push({ ...seen, status });
          for (const wake of [...this.#waiters]) wake();
        });
      });
    });
  }

  /** Starts a receiver on 127.0.0.1 and a free port. */
  static async start(policy: ReceiverPolicy = () => 200): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver(policy);
    await new Promise<void>((resolve) => receiver.#server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/hook`;
  }

  /** The requests answered 2xx, parsed. */
  accepted<T = { data: { job: { id: string; version: number; status: string } } }>(): (T & { webhookId: string })[] {
    return this.received
      .filter((r) => r.status >= 200 && r.status < 300)
      .map((r) => ({ ...(JSON.parse(r.body) as T), webhookId: String(r.headers['webhook-id']) }));
  }

  /** Resolves once `done()` holds (checked now, at every arrival and after every answer); rejects after `timeoutMs`. */
  until(done: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`${what}: not within ${timeoutMs} ms; received ${this.received.length} requests: ${this.received.map((r) => `${String(r.headers['webhook-id'])}=${r.status}`).join(' ')}`));
      }, timeoutMs);
      const check = (): void => {
        if (!done()) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve();
      };
      this.#waiters.add(check);
    });
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
