import { createHash, timingSafeEqual } from 'node:crypto';

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
