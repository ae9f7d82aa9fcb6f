import { once } from 'node:events';
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HookAck } from './hook-proxy.js';

/** One answer a target gave through the proxy. */
export interface ProxiedAnswer {
  /** When the answer came back (`Date.now()`). */
  at: number;
  method: string;
  path: string;
  status: number;
  target: string;
  /** The JSON body of a 2xx webhook answer. */
  ack?: HookAck;
}

/** A running {@link startRoundRobinProxy}. */
export interface RoundRobinProxy {
  readonly url: string;
  /** The servers behind it, tried in turn (set once they listen; the proxy's URL comes first). */
  targets: string[];
  readonly stats: {
    /** Requests answered by each target (any status), by target URL. */
    answered: Record<string, number>;
    /** Tries that found a target refusing connections (it was skipped). */
    skipped: number;
    /** 502: a target took the request and did not answer (it died under it). */
    badGateway: number;
    /** 503: every target refused. */
    unavailable: number;
  };
  /** Every answer a target gave, in order: when it came back, the request, the status. */
  readonly answers: ProxiedAnswer[];
  close(): Promise<void>;
}

/**
 * A load balancer for tests: a stable public URL in front of several servers. Each request
 * goes to the next target in turn; a target that refuses the connection is skipped (the next
 * one is tried), so webhooks keep landing while a member is down. It answers 503 when every
 * target refuses, and 502 when a target took the request but did not answer (it was killed
 * under it): the sender retries, nothing is acknowledged. Every 2xx answer to a webhook
 * (`POST /v1/hooks/…`) is reported to `onAck` with the target that gave it: that member
 * promised to keep that version.
 *
 * Each request gets a connection of its own (no keep-alive), so "refused" always means the
 * target is down, never a stale pooled socket.
 *
 * @example
 * const proxy = await startRoundRobinProxy((ack) => ledger.see({ id: ack.jobId, version: ack.version }, 'webhook'));
 * // members run with JOBSTREAM_PUBLIC_URL=proxy.url; once they listen:
 * proxy.targets = [a.url, b.url, c.url];
 */
export async function startRoundRobinProxy(onAck: (ack: HookAck, target: string) => void): Promise<RoundRobinProxy> {
  let next = 0;
  const stats: RoundRobinProxy['stats'] = { answered: {}, skipped: 0, badGateway: 0, unavailable: 0 };

  const attempt = (target: string, req: IncomingMessage, body: Buffer): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer } | 'refused' | 'failed'> =>
    new Promise((resolve) => {
      const url = new URL(target);
      const headers = { ...req.headers, host: url.host, connection: 'close', 'content-length': String(body.length) };
      delete headers['transfer-encoding'];
      const outgoing = request({ host: url.hostname, port: url.port, method: req.method, path: req.url, headers, agent: false }, (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.once('end', () => resolve({ status: answer.statusCode ?? 502, headers: answer.headers, body: Buffer.concat(chunks) }));
        answer.once('error', () => resolve('failed'));
      });
      outgoing.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED' ? 'refused' : 'failed'));
      outgoing.end(body);
    });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    const targets = proxy.targets;
    const first = next % Math.max(1, targets.length);
    next = first + 1;
    for (let i = 0; i < targets.length; i++) {
      const target = targets[(first + i) % targets.length] as string;
      const outcome = await attempt(target, req, body);
      if (outcome === 'refused') {
        stats.skipped += 1;
        continue;
      }
      if (outcome === 'failed') {
        stats.badGateway += 1;
        res.writeHead(502, { 'content-type': 'application/json' }).end('{"error":{"code":"BAD_GATEWAY","message":"the server did not answer"}}');
        return;
      }
      stats.answered[target] = (stats.answered[target] ?? 0) + 1;
      const answer: ProxiedAnswer = { at: Date.now(), method: req.method ?? 'GET', path: req.url ?? '/', status: outcome.status, target };
      if (outcome.status >= 200 && outcome.status < 300 && req.method === 'POST' && (req.url ?? '').startsWith('/v1/hooks/')) {
        answer.ack = JSON.parse(outcome.body.toString('utf8')) as HookAck;
        onAck(answer.ack, target);
      }
      proxy.answers.push(answer);
      const headers = { ...outcome.headers };
      delete headers['transfer-encoding'];
      delete headers.connection;
      res.writeHead(outcome.status, headers).end(outcome.body);
      return;
    }
    stats.unavailable += 1;
    res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' }).end('{"error":{"code":"NO_SERVER","message":"no server is up"}}');
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
  });
  const proxy: RoundRobinProxy = {
    url: '',
    targets: [],
    stats,
    answers: [],
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return Object.assign(proxy, { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
}
