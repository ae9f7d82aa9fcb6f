import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';

/** A listening HTTP server. */
export interface Listening {
  /** Base URL such as `http://127.0.0.1:53121`, without a trailing slash. */
  readonly url: string;
  readonly port: number;
  /** Closes idle and active connections and resolves once the server is closed. Idempotent. */
  close(): Promise<void>;
}

/**
 * Serves a hono app over HTTP on 127.0.0.1 (port 0, i.e. any free port, by default).
 *
 * @example
 * const server = await listen(app);
 * await fetch(`${server.url}/health`);
 * await server.close();
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any Hono env/schema is accepted
export async function listen(app: Hono<any, any, any>, opts: { host?: string; port?: number } = {}): Promise<Listening> {
  const host = opts.host ?? '127.0.0.1';
  const { server, port } = await new Promise<{ server: Server; port: number }>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: host, port: opts.port ?? 0 }, (info: AddressInfo) =>
      resolve({ server: s as Server, port: info.port }),
    );
    s.once('error', reject);
  });
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
