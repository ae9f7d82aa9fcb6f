import { Hono } from 'hono';
import type { Engine } from '../streams/engine.js';
import { InvalidWebhookError, UnknownProviderError } from '../streams/errors.js';
import { HttpError } from './api-error.js';
import { readJson } from './read-json.js';

/**
 * `POST /v1/hooks/:provider/:token`: the intake providers call back to. No bearer token: the
 * per-job secret in the path authorises the delivery. The answer is 200 only once the change
 * is durable; a repeat is 200 with `duplicate`; a malformed body is 400 naming the problem with
 * nothing stored; an unknown token 404; an oversize body 413.
 */
export function webhookRoutes(options: { engine: Engine; maxBytes: number }): Hono {
  const app = new Hono();
  app.post('/:provider/:token', async (c) => {
    const provider = c.req.param('provider');
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
      result = await options.engine.ingestWebhook({ provider, token: c.req.param('token'), body, headers });
    } catch (error) {
      // No such intake: the same 404 as an unknown token.
      if (error instanceof UnknownProviderError) throw new HttpError(404, 'UNKNOWN_WEBHOOK_TOKEN', `no ${provider} job has this webhook token`);
      throw error;
    }
    return c.json({ outcome: result.outcome, jobId: result.job.id, version: result.job.version });
  });
  return app;
}
