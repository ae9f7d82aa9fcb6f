import { once } from 'node:events';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request that went through a {@link RequestRecorder}. */
export interface RecordedRequest {
  /** Which caller's recorder it went through (one recorder per caller). */
  caller: string;
  method: string;
  /** Path and query, as sent. */
  url: string;
  /** When the request arrived and when the answer was passed back (`Date.now()`). */
  startedAt: number;
  endedAt: number;
  /** The upstream status; 502 when upstream did not answer. */
  status: number;
}

/** A running {@link startRequestRecorder}. */
export interface RequestRecorder {
  /** Use this instead of the upstream's URL (same paths). */
  readonly url: string;
  /** Every request that has been answered, in the order their answers ended. */
  readonly requests: RecordedRequest[];
  close(): Promise<void>;
}

/**
 * A pass-through HTTP proxy in front of one server (a provider simulator) that records each
 * request of one caller: method, path, and when it started and ended. Bodies stream through
 * untouched both ways (uploads, result files). It is the simulator's request log, with the
 * caller known: give each cluster member its own recorder.
 *
 * @example
 * const recorder = await startRequestRecorder(sim.url, 'member-1');
 * // member 1 runs with KLANGIO_BASE_URL=recorder.url
 * recorder.requests.filter((r) => r.url.endsWith('/status'));
 */
export async function startRequestRecorder(upstream: string, caller: string): Promise<RequestRecorder> {
  const target = new URL(upstream);
  const requests: RecordedRequest[] = [];
  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    const startedAt = Date.now();
    let recorded = false;
    const record = (status: number): void => {
      if (recorded) return;
      recorded = true;
      requests.push({ caller, method: req.method ?? 'GET', url: req.url ?? '/', startedAt, endedAt: Date.now(), status });
    };
    // A caller that goes away mid-request (killed) ends it too.
    res.once('close', () => record(res.statusCode));
    const outgoing = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        answer.once('end', () => record(answer.statusCode ?? 502));
      },
    );
    outgoing.once('error', () => {
      record(502);
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' }).end('{"error":"upstream did not answer"}');
      else res.destroy();
    });
    req.pipe(outgoing);
  };
  const server = createServer(forward);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
