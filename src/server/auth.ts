import { createHash, timingSafeEqual } from 'node:crypto';
import type { ScopedTokens } from './scoped-tokens.js';
import type { TokenScope } from './token-protocol.js';

/** The token of an `Authorization: Bearer <token>` header, or `undefined`. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

/**
 * A checker for the API token that compares in constant time (both sides are hashed first, so
 * not even the length leaks).
 */
export function tokenChecker(expected: string): (given: string | undefined) => boolean {
  const want = createHash('sha256').update(expected).digest();
  return (given) => given !== undefined && timingSafeEqual(want, createHash('sha256').update(given).digest());
}

/**
 * What a request's token may do: everything (`admin`: the API token), read the jobs of a scope
 * until it expires (`scoped`), or nothing (`refused`, a 401 with `code`). The message of a
 * refusal never repeats the token.
 */
export type Access =
  | { type: 'admin' }
  | { type: 'scoped'; scope: TokenScope; expiresAt: number }
  | { type: 'refused'; code: 'UNAUTHORIZED' | 'TOKEN_EXPIRED'; message: string };

declare module 'hono' {
  interface ContextVariableMap {
    /** Set by the `/v1` authentication middleware for every authenticated request. */
    access: Access;
  }
}

/**
 * Tells the API token and scoped read tokens apart and checks them.
 *
 * @example
 * const authenticate = authenticator(tokenChecker(apiToken), scopedTokens);
 * authenticate(bearerToken(request.headers.authorization)).type // 'admin' | 'scoped' | 'refused'
 */
export function authenticator(isApiToken: (token: string | undefined) => boolean, scoped: ScopedTokens | undefined): (token: string | undefined) => Access {
  return (token) => {
    if (isApiToken(token)) return { type: 'admin' };
    const verified = token === undefined || scoped === undefined ? 'invalid' : scoped.verify(token);
    if (verified === 'expired') return { type: 'refused', code: 'TOKEN_EXPIRED', message: 'this scoped token has expired: ask for a new one' };
    if (verified === 'invalid') {
      return { type: 'refused', code: 'UNAUTHORIZED', message: 'a valid bearer token is required (Authorization: Bearer <token>)' };
    }
    return { type: 'scoped', scope: verified.scope, expiresAt: verified.expiresAt };
  };
}

/** The reads a scoped token may make (GET or HEAD): its jobs, their changes and results, their events, their stats, itself. */
const SCOPED_READS = [
  /^\/v1\/jobs\/?$/,
  /^\/v1\/jobs\/[^/]+\/?$/,
  /^\/v1\/jobs\/[^/]+\/(?:changes|results|events)\/?$/,
  /^\/v1\/jobs\/[^/]+\/results\/[^/]+$/,
  /^\/v1\/stats\/jobs\/?$/,
  /^\/v1\/events\/?$/,
  /^\/v1\/token\/?$/,
];

/**
 * Whether a scoped read token may make this request at all (which jobs it then sees is the
 * routes' business). Everything else (submit, adopt, cancel, minting tokens, `/v1/stats`, providers,
 * metrics) is a 403 `SCOPE_FORBIDDEN`.
 */
export function scopedMayRequest(method: string, path: string): boolean {
  return (method === 'GET' || method === 'HEAD') && SCOPED_READS.some((pattern) => pattern.test(path));
}
