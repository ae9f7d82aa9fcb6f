import { once } from 'node:events';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the proxy saw. */
export interface SeenRequest {
  method: string;
  /** The path and query, as sent. */
  path: string;
}

/**
 * What the proxy does with a request: pass it on; answer it itself (the target never sees it);
 * pass it on and replace the target's answer with `status` (the target acted on it, the client
 * is told it failed); or pass it on and never answer (a timeout after the request was sent).
 */
export type ProxyAction = { type: 'forward' } | { type: 'answer'; status: number } | { type: 'forward-then-answer'; status: number } | { type: 'forward-then-hang' };

/** A running fault proxy. */
export interface FaultProxy {
  /** Its base URL, e.g. `http://127.0.0.1:41234` (paths are passed on unchanged). */
  readonly url: string;
  /** Every request so far, in arrival order. */
  readonly seen: readonly SeenRequest[];
  close(): Promise<void>;
}

/**
 * An HTTP proxy on 127.0.0.1:0 in front of `target` (a base URL), for injecting faults into
 * chosen calls: `decide` picks a {@link ProxyAction} per request (it may count calls itself).
 *
 * @example
 * let creates = 0;
 * const proxy = await startFaultProxy(sim.url, (r) => (r.method === 'POST' && ++creates <= 2 ? { type: 'answer', status: 503 } : { type: 'forward' }));
 */
export async function startFaultProxy(target: string, decide: (request: SeenRequest) => ProxyAction): Promise<FaultProxy> {
  const seen: SeenRequest[] = [];
  const upstream = new URL(target);
  const server = createServer((req, res) => {
    const one: SeenRequest = { method: req.method ?? 'GET', path: req.url ?? '/' };
    seen.push(one);
    const action = decide(one);
    if (action.type === 'answer') {
      req.resume();
      return void answer(res, action.status);
    }
    forward(upstream, req, (reply) => {
      if (action.type === 'forward') {
        res.writeHead(reply.statusCode ?? 502, reply.headers);
        reply.pipe(res);
        return;
      }
      reply.resume();
      if (action.type === 'forward-then-answer') reply.on('end', () => answer(res, action.status));
      // forward-then-hang: the answer never comes; close() ends the connection.
    }).on('error', () => res.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function forward(upstream: URL, req: IncomingMessage, onReply: (reply: IncomingMessage) => void) {
  const out = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } }, onReply);
  req.pipe(out);
  return out;
}

function answer(res: ServerResponse, status: number): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ message: `injected ${status}` }));
}
