import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { asyncScheduler, type SchedulerLike } from 'rxjs';
import { z } from 'zod';
import { UnknownJobError } from '../streams/errors.js';
import { compileFilter, type JobFilter } from '../streams/job-filter.js';
import type { JobSnapshot } from '../streams/job-snapshot.js';
import { writeFileDurably } from '../streams/snapshot-file.js';
import { HttpError } from './api-error.js';
import type { Access } from './auth.js';
import { TokenScope, type MintedToken } from './token-protocol.js';

/** Every scoped token starts with this (format version 1): it tells them from the API token. */
export const SCOPED_TOKEN_PREFIX = 'jsr1.';

/** Longest token minted: it must fit in a URL (`?token=`) and a header everywhere. */
export const MAX_SCOPED_TOKEN_LENGTH = 4096;

/** The file in the data directory that holds the signing secret of scoped tokens (mode 0600). */
export const TOKEN_SECRET_FILE = 'scoped-token-secret';

/** Options of {@link ScopedTokens}. */
export interface ScopedTokensOptions {
  /** The HMAC-SHA256 key tokens are signed with (32 bytes or more). */
  secret: Uint8Array;
  /** Lifetime of a token minted without `ttlSeconds`. @default 3600 */
  defaultTtlSeconds?: number;
  /** Longest lifetime a token may be minted with. @default 86400 (24 hours) */
  maxTtlSeconds?: number;
  /** Where the time comes from (`now()`). @default rxjs `asyncScheduler` (the system clock) */
  clock?: SchedulerLike;
}

/** A token that checked out: the jobs it may read, until when. */
export interface VerifiedToken {
  scope: TokenScope;
  /** Epoch milliseconds. */
  expiresAt: number;
}

const Payload = z.strictObject({ v: z.literal(1), f: TokenScope, iat: z.number(), exp: z.number() });

/**
 * Mints and checks scoped read tokens. Stateless: a token is its scope and expiry, signed with
 * HMAC-SHA256 (`jsr1.<payload>.<signature>`, base64url), so any server holding the secret checks
 * it without a lookup, and it ends by expiry only (replace the secret to end all of them at once).
 * The payload is readable by whoever holds the token: it says which jobs it reaches, nothing more.
 *
 * @example
 * const tokens = new ScopedTokens({ secret: await loadTokenSecret('./data') });
 * const { token } = tokens.mint({ metadata: { userId: '42' } }, 600);
 * tokens.verify(token) // { scope: { metadata: { userId: '42' } }, expiresAt }
 */
export class ScopedTokens {
  readonly #secret: Buffer;
  readonly #defaultTtlSeconds: number;
  readonly #maxTtlSeconds: number;
  readonly clock: SchedulerLike;

  constructor(options: ScopedTokensOptions) {
    if (options.secret.byteLength < 32) throw new Error('a scoped-token secret needs at least 32 bytes');
    this.#secret = Buffer.from(options.secret);
    this.#maxTtlSeconds = options.maxTtlSeconds ?? 86_400;
    this.#defaultTtlSeconds = Math.min(options.defaultTtlSeconds ?? 3600, this.#maxTtlSeconds);
    this.clock = options.clock ?? asyncScheduler;
  }

  /** The longest lifetime a token may be minted with, in seconds. */
  get maxTtlSeconds(): number {
    return this.#maxTtlSeconds;
  }

  /**
   * A token that may read the jobs of `scope` for `ttlSeconds`.
   *
   * @throws HttpError 400 `INVALID_REQUEST` when `ttlSeconds` is over the maximum, or the scope
   *   too large for a token that must fit in a URL ({@link MAX_SCOPED_TOKEN_LENGTH}).
   */
  mint(scope: TokenScope, ttlSeconds = this.#defaultTtlSeconds): MintedToken {
    if (ttlSeconds > this.#maxTtlSeconds) {
      throw new HttpError(400, 'INVALID_REQUEST', `ttlSeconds: at most ${this.#maxTtlSeconds} on this server`, [
        { field: 'ttlSeconds', reason: `at most ${this.#maxTtlSeconds}` },
      ]);
    }
    const now = this.clock.now();
    const expiresAt = now + ttlSeconds * 1000;
    const payload = Buffer.from(JSON.stringify({ v: 1, f: scope, iat: now, exp: expiresAt })).toString('base64url');
    const token = `${SCOPED_TOKEN_PREFIX}${payload}.${this.#sign(payload)}`;
    if (token.length > MAX_SCOPED_TOKEN_LENGTH) {
      throw new HttpError(400, 'INVALID_REQUEST', `filter: too large for a token (${token.length} characters, at most ${MAX_SCOPED_TOKEN_LENGTH}); name fewer jobs, or scope by metadata`, [
        { field: 'filter', reason: 'too large' },
      ]);
    }
    return { token, filter: scope, expiresAt };
  }

  /**
   * What a scoped token may read, or why not: `invalid` (not a token this secret signed, or
   * malformed) or `expired`.
   */
  verify(token: string): VerifiedToken | 'invalid' | 'expired' {
    if (!token.startsWith(SCOPED_TOKEN_PREFIX)) return 'invalid';
    const parts = token.slice(SCOPED_TOKEN_PREFIX.length).split('.');
    if (parts.length !== 2) return 'invalid';
    const [payload, signature] = parts as [string, string];
    const given = Buffer.from(signature, 'base64url');
    const wanted = Buffer.from(this.#sign(payload), 'base64url');
    if (given.length !== wanted.length || !timingSafeEqual(given, wanted)) return 'invalid';
    let parsed: z.infer<typeof Payload>;
    try {
      // Signed by us, and still checked: a secret shared with an older version must not widen anything.
      parsed = Payload.parse(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')));
    } catch {
      return 'invalid';
    }
    if (this.clock.now() >= parsed.exp) return 'expired';
    return { scope: parsed.f, expiresAt: parsed.exp };
  }

  #sign(payload: string): string {
    return createHmac('sha256', this.#secret).update(`${SCOPED_TOKEN_PREFIX}${payload}`).digest('base64url');
  }
}

/**
 * The signing secret of a single server: 32 random bytes in `<dataDir>/scoped-token-secret`
 * (mode 0600), made at the first start and kept, so tokens outlive restarts. Delete the file
 * (server stopped) to end every token minted so far. Call it while holding the directory's lock.
 *
 * @throws when the file exists but does not hold a secret (it names the file).
 */
export async function loadTokenSecret(dataDir: string): Promise<Buffer> {
  const path = join(dataDir, TOKEN_SECRET_FILE);
  let text: string | undefined;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (text !== undefined) {
    const secret = Buffer.from(text.trim(), 'base64url');
    if (secret.length < 32) throw new Error(`${path} does not hold a scoped-token secret (32 bytes, base64url); delete it to have a new one made`);
    return secret;
  }
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const secret = randomBytes(32);
  await writeFileDurably(path, `${secret.toString('base64url')}\n`, true);
  return secret;
}

/**
 * The signing secret of a cluster member: derived from the API token (HKDF-SHA256), so every
 * member that shares `JOBSTREAM_TOKEN` checks the others' tokens, with nothing stored. Changing
 * the API token ends every scoped token.
 */
export function deriveTokenSecret(apiToken: string): Buffer {
  return Buffer.from(hkdfSync('sha256', apiToken, 'jobstream scoped read tokens', 'jsr1 signing key', 32));
}

/**
 * The part of `requested` a scope lets through: each field is the intersection of both (a field
 * one side leaves open is the other's), metadata requirements add up. The result never matches a
 * job outside `scope`; when the two cannot both hold it matches nothing (`ids: []`).
 *
 * @example narrowFilter({ statuses: ['running'] }, { ids: ['job_1'] }) // { ids: ['job_1'], statuses: ['running'] }
 */
export function narrowFilter(requested: JobFilter | undefined, scope: TokenScope): JobFilter {
  const wanted = requested ?? {};
  const both = (a: readonly string[] | undefined, b: readonly string[] | undefined): string[] | undefined =>
    a === undefined ? b && [...b] : b === undefined ? [...a] : a.filter((value) => b.includes(value));
  const narrowed: JobFilter = { ...wanted };
  const ids = both(wanted.ids, scope.ids);
  const providers = both(wanted.providers, scope.providers);
  const kinds = both(wanted.kinds, scope.kinds);
  if (ids !== undefined) narrowed.ids = ids;
  if (providers !== undefined) narrowed.providers = providers;
  if (kinds !== undefined) narrowed.kinds = kinds;
  if (scope.metadata !== undefined) {
    for (const [key, value] of Object.entries(scope.metadata)) {
      if (wanted.metadata !== undefined && Object.hasOwn(wanted.metadata, key) && wanted.metadata[key] !== value) return { ...narrowed, ids: [] };
    }
    narrowed.metadata = { ...wanted.metadata, ...scope.metadata };
  }
  return narrowed;
}

/**
 * The filter a request reads with: `requested` itself with the API token, narrowed to the scope
 * with a scoped token (see {@link narrowFilter}).
 */
export function readableFilter(access: Access | undefined, requested: JobFilter | undefined): JobFilter | undefined {
  return access?.type === 'scoped' ? narrowFilter(requested, access.scope) : requested;
}

/**
 * Throws the same 404 `UNKNOWN_JOB` as for a job that does not exist when a scoped token asks
 * for a job outside its scope: a scoped token cannot even learn that another job exists.
 */
export function assertReadable(access: Access | undefined, job: JobSnapshot | undefined, id: string): void {
  if (access?.type !== 'scoped') return;
  if (job === undefined || !compileFilter(access.scope)(job)) throw new UnknownJobError(id);
}
