import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';

/** A 2xx answer of the webhook intake: `{ outcome, jobId, version }`. */
export interface HookAck {
  outcome: string;
  jobId: string;
  version: number;
}

/** A running {@link startHookProxy}. */
export interface HookProxy {
  readonly url: string;
  /** Where deliveries go now; `undefined` while the server is down. */
  target: string | undefined;
  /** Deliveries forwarded, and those answered 503 for want of a server. */
  readonly stats: { forwarded: number; refused: number };
  close(): Promise<void>;
}

/**
 * A stable public URL in front of a server that restarts on another port (as a load balancer
 * would be): forwards every `POST /v1/hooks/…` to the current target and passes the answer
 * back; answers 503 while there is no target or the target does not answer, so the provider
 * retries later. Every 2xx answer the target gave is reported to `onAck`: the server promised
 * to keep that version.
 *
 * @example
 * const proxy = await startHookProxy((ack) => ledger.see({ id: ack.jobId, version: ack.version }, 'webhook'));
 * proxy.target = server.url; // the server runs with JOBSTREAM_PUBLIC_URL=proxy.url
 */
export async function startHookProxy(onAck: (ack: HookAck, via: string) => void): Promise<HookProxy> {
  const agent = new Agent({ connections: 32 });
  const proxy = {
    url: '',
    target: undefined as string | undefined,
    stats: { forwarded: 0, refused: 0 },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await agent.close();
    },
  };
  const forward = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const target = proxy.target;
    if (target === undefined || req.method !== 'POST' || !(req.url ?? '').startsWith('/v1/hooks/')) {
      proxy.stats.refused += 1;
      res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":{"code":"NO_SERVER","message":"the server is down"}}');
      return;
    }
    try {
      const answer = await request(`${target}${req.url}`, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
        body: Buffer.concat(chunks),
      });
      const text = await answer.body.text();
      proxy.stats.forwarded += 1;
      if (answer.statusCode >= 200 && answer.statusCode < 300) onAck(JSON.parse(text) as HookAck, `webhook answer via the proxy (${req.url})`);
      res.writeHead(answer.statusCode, { 'content-type': 'application/json' }).end(text);
    } catch {
      proxy.stats.refused += 1;
      if (!res.headersSent) res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":{"code":"NO_SERVER","message":"the server did not answer"}}');
    }
  };
  const server = createServer((req, res) => void forward(req, res));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}
