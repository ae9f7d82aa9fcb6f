import { Hono } from 'hono';
import type { Engine } from '../streams/engine.js';
import { InvalidWebhookError, UnknownProviderError } from '../streams/errors.js';
import { HttpError } from './api-error.js';
import { readJson } from './read-json.js';

/**
 * `POST /v1/hooks/:provider/:token`: the intake providers call back to. No bearer token: the
 * per-job secret in the path authorises the delivery. The path is checked before the body is
 * read: an unknown provider or token is 404 whatever the body (the server discards it unread),
 * so a delivery nobody is waiting for costs no parse. Then an oversize body is 413, a malformed
 * one 400 naming the problem with nothing stored; the answer is 200 only once the change is
 * durable, and a repeat is 200 with `duplicate`.
 */
export function webhookRoutes(options: { engine: Engine; maxBytes: number }): Hono {
  const app = new Hono();
  app.post('/:provider/:token', async (c) => {
    const provider = c.req.param('provider');
    const token = c.req.param('token');
    if (options.engine.webhookTarget(provider, token) === undefined) throw unknownToken(provider);
    let body: unknown;
    try {
      body = await readJson(c, options.maxBytes);
    } catch (error) {
      if (error instanceof HttpError && error.status === 400) throw new InvalidWebhookError(provider, error.message.replace(/^the /, ''));
      throw error;
    }
    const headers: Record<string, string> = {};
    c.req.raw.headers.forEach((value, key) => (headers[key] = value));
    let result;
    try {
      result = await options.engine.ingestWebhook({ provider, token, body, headers });
    } catch (error) {
      // No such intake: the same 404 as an unknown token.
      if (error instanceof UnknownProviderError) throw unknownToken(provider);
      throw error;
    }
    return c.json({ outcome: result.outcome, jobId: result.job.id, version: result.job.version });
  });
  return app;
}

function unknownToken(provider: string): HttpError {
  return new HttpError(404, 'UNKNOWN_WEBHOOK_TOKEN', `no ${provider} job has this webhook token`);
}
