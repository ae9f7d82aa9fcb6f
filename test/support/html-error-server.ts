import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A server on 127.0.0.1:0 that answers every request with the same HTML error page and `status`,
 * like a proxy or a misconfigured gateway in front of a provider.
 *
 * @example
 * const server = await startHtmlErrorServer(502);
 * createKlangioAdapter({ apiKey, baseUrl: server.url, dispatcher });
 * await server.close();
 */
export async function startHtmlErrorServer(status: number): Promise<{ url: string; close(): Promise<void> }> {
  const page = '<!DOCTYPE html><html><head><title>Error</title></head><body><h1>Something went wrong</h1></body></html>';
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
    res.end(page);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
