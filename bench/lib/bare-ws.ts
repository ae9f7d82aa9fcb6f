import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';

/** The baseline server: `ws` on a plain node:http server, nothing else. */
export interface BareWsServer {
  readonly http: Server;
  readonly wss: WebSocketServer;
  /** `ws://127.0.0.1:port/` */
  readonly url: string;
  readonly port: number;
  /** ws's documented broadcast: the same bytes to every open client. */
  broadcast(data: Buffer): void;
  close(): Promise<void>;
}

/**
 * Starts a bare `ws` server on 127.0.0.1, port 0, optionally with an HTTP request handler (the
 * B2 relay). Compression is off, as in the hub.
 */
export async function startBareWsServer(onRequest?: (request: IncomingMessage, response: ServerResponse) => void): Promise<BareWsServer> {
  const http = createServer(onRequest);
  http.keepAliveTimeout = 60_000;
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;
  return {
    http,
    wss,
    port,
    url: `ws://127.0.0.1:${port}/`,
    broadcast(data) {
      for (const client of wss.clients) if (client.readyState === WebSocket.OPEN) client.send(data, { binary: false });
    },
    async close() {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

/** Waits (bounded) until a condition holds, checking every 10 ms. */
export async function until(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
