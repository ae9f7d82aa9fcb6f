import type { HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import { parseRequest } from '../streams/engine-requests.js';
import { readJson } from './read-json.js';
import type { ScopedTokens } from './scoped-tokens.js';
import { MintTokenRequest, type TokenInfo } from './token-protocol.js';

/** What the token routes need. */
export interface TokenRoutesOptions {
  tokens: ScopedTokens;
  maxJsonBytes: number;
}

/**
 * `POST /v1/tokens` mints a scoped read token (API token only: the authentication middleware
 * refuses scoped tokens with 403, so a token can never mint a wider one); `GET /v1/token` says
 * what the token sent may do (any valid token).
 *
 * @example
 * curl -s -X POST $JS/v1/tokens -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
 *   -d '{"filter":{"metadata":{"userId":"42"}},"ttlSeconds":600}'
 */
export function tokenRoutes(options: TokenRoutesOptions): Hono<{ Bindings: HttpBindings }> {
  const app = new Hono<{ Bindings: HttpBindings }>();

  app.post('/tokens', async (c) => {
    const request = parseRequest(MintTokenRequest, await readJson(c, options.maxJsonBytes));
    const minted = options.tokens.mint(request.filter, request.ttlSeconds);
    // A credential: no cache may keep it.
    return c.json(minted, 201, { 'cache-control': 'no-store' });
  });

  app.get('/token', (c) => {
    const access = c.get('access');
    const info: TokenInfo = access.type === 'scoped' ? { type: 'scoped', filter: access.scope, expiresAt: access.expiresAt } : { type: 'admin' };
    return c.json(info);
  });

  return app;
}
