import { z } from 'zod';

/**
 * The wire side of scoped read tokens (`POST /v1/tokens`, `GET /v1/token`): zod schemas only, so
 * that browser code (the remote client, the dashboard) can use them. Minting and checking
 * tokens is in `scoped-tokens.ts`; docs/protocol.md, "Scoped read tokens", has the examples.
 */

/** Most job ids one token may name. */
export const MAX_SCOPE_IDS = 50;
/** Most metadata keys one token may require. */
export const MAX_SCOPE_METADATA_KEYS = 10;

const Names = (max: number) => z.array(z.string().min(1).max(256)).min(1).max(max);

/**
 * Which jobs a scoped read token may read. Every given field narrows (AND); within a field, any
 * listed value matches (OR): `{ metadata: { userId: '42' } }` is every job submitted with
 * `metadata.userId` exactly `"42"` (the string; `42` the number is another value). At least one
 * field is required, so a scoped token never reads everything. There is no `statuses` field: a
 * job's status changes, and a token's reach must not.
 *
 * @example TokenScope.parse({ ids: ['job_01jd5x3k2a7m9q0c4w8e6r2t5y'] })
 */
export const TokenScope = z
  .strictObject({
    ids: Names(MAX_SCOPE_IDS).optional(),
    metadata: z
      .record(z.string().min(1).max(256), z.union([z.string().max(1024), z.number(), z.boolean()]))
      .refine((metadata) => {
        const keys = Object.keys(metadata).length;
        return keys >= 1 && keys <= MAX_SCOPE_METADATA_KEYS;
      }, { message: `between 1 and ${MAX_SCOPE_METADATA_KEYS} keys` })
      .optional(),
    providers: Names(20).optional(),
    kinds: Names(50).optional(),
  })
  .refine((scope) => Object.values(scope).some((field) => field !== undefined), {
    message: 'name the jobs the token may read: ids, metadata, providers and/or kinds',
  });
export type TokenScope = z.infer<typeof TokenScope>;

/** `POST /v1/tokens` body: the scope and, optionally, how long the token lasts. */
export const MintTokenRequest = z.strictObject({
  filter: TokenScope,
  /** Seconds until it expires. @default 3600, at most the server's maximum (24 hours unless configured) */
  ttlSeconds: z.number().int().min(1).optional(),
});
export type MintTokenRequest = z.infer<typeof MintTokenRequest>;

/** `POST /v1/tokens` answer (201). */
export const MintedToken = z.object({
  /** The token: send it as `Authorization: Bearer <token>` or `?token=` (SSE and WebSocket). */
  token: z.string(),
  filter: TokenScope,
  /** When it stops working, epoch milliseconds. */
  expiresAt: z.number(),
});
export type MintedToken = z.infer<typeof MintedToken>;

/**
 * `GET /v1/token`: what the token sent may do: everything (`admin`, the API token) or read the
 * jobs of `filter` until `expiresAt` (`scoped`).
 */
export const TokenInfo = z.discriminatedUnion('type', [
  z.object({ type: z.literal('admin') }),
  z.object({ type: z.literal('scoped'), filter: TokenScope, expiresAt: z.number() }),
]);
export type TokenInfo = z.infer<typeof TokenInfo>;
