import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Engine } from '../../src/streams/engine.js';
import { JobstreamError } from '../../src/streams/errors.js';

/** A running intake: its base URL (no trailing slash) and how to stop it. */
export interface WebhookIntake {
  readonly url: string;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 1024 * 1024;

/** Answer status per jobstream error code; anything else is a 500. */
const STATUS_OF: Record<string, number> = {
  UNKNOWN_WEBHOOK_TOKEN: 404,
  UNKNOWN_PROVIDER: 404,
  INVALID_WEBHOOK: 400,
  ENGINE_CLOSED: 503,
};

/**
 * A tiny webhook intake for tests: `POST /v1/hooks/:provider/:token` on 127.0.0.1, port 0. It
 * reads the JSON body, hands it to `engine.ingestWebhook` and answers 200 once the change is
 * durable; 404/400/503 by the error's `code`; 400 for a body that is not JSON; 413 above 1 MiB.
 * Build the engine first with a `webhookUrl` that reads the intake URL lazily.
 *
 * @example
 * let intakeUrl = '';
 * const engine = await createEngine({ providers, store: new MemoryStore(), webhookUrl: (p, t) => `${intakeUrl}/v1/hooks/${p}/${t}` });
 * const intake = await startWebhookIntake(engine);
 * intakeUrl = intake.url;
 */
export async function startWebhookIntake(engine: Engine): Promise<WebhookIntake> {
  const server = createServer((req, res) => {
    handle(engine, req, res).catch((error: unknown) => answer(res, 500, { error: error instanceof Error ? error.message : String(error) }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

async function handle(engine: Engine, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const match = /^\/v1\/hooks\/([^/]+)\/([^/?]+)$/.exec(new URL(req.url ?? '/', 'http://intake').pathname);
  if (req.method !== 'POST' || match === null) return answer(res, 404, { error: 'not found' });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return answer(res, 413, { error: 'body too large' });
    chunks.push(chunk);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return answer(res, 400, { error: 'the body is not JSON' });
  }
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(req.headers)) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  try {
    const result = await engine.ingestWebhook({
      provider: decodeURIComponent(match[1] ?? ''),
      token: decodeURIComponent(match[2] ?? ''),
      body,
      headers,
    });
    return answer(res, 200, { outcome: result.outcome });
  } catch (error) {
    if (error instanceof JobstreamError) return answer(res, STATUS_OF[error.code] ?? 500, { code: error.code, error: error.message });
    throw error;
  }
}

function answer(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json', connection: status === 413 ? 'close' : 'keep-alive' });
  res.end(JSON.stringify(body));
}
