import type { Context, MiddlewareHandler } from 'hono';

/** Options of {@link apiKeyMiddleware}. */
export interface ApiKeyMiddlewareOptions {
  /** The request header that carries the key, e.g. `kl-api-key` or `authorization`. */
  header: string;
  /** The exact header value to accept, e.g. the key itself or `Bearer <key>`. */
  expected: string;
  /**
   * Builds the provider's 401 answer. `missing` when the header is absent or empty, `invalid`
   * when it holds another value.
   */
  unauthorized: (c: Context, reason: 'missing' | 'invalid') => Response;
}

/**
 * A hono middleware that lets a request through only when its key header holds exactly
 * `expected`; any other request gets the provider's 401 answer and never reaches a handler.
 *
 * @example
 * app.use('*', apiKeyMiddleware({
 *   header: 'kl-api-key',
 *   expected: apiKey,
 *   unauthorized: (c, reason) => c.json({ detail: reason === 'missing' ? 'Missing API key' : 'Invalid API key' }, 401),
 * }));
 */
export function apiKeyMiddleware(opts: ApiKeyMiddlewareOptions): MiddlewareHandler {
  return async (c, next) => {
    const sent = c.req.header(opts.header);
    if (sent !== opts.expected) return opts.unauthorized(c, sent === undefined || sent === '' ? 'missing' : 'invalid');
    await next();
    return undefined;
  };
}
