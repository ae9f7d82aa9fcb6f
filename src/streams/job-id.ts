import { randomBytes, timingSafeEqual } from 'node:crypto';

const BASE32 = '0123456789abcdefghjkmnpqrstvwxyz';

function base32(bytes: Uint8Array, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += BASE32[(bytes[i] ?? 0) & 31];
  return out;
}

/**
 * A new job id: `job_` + 10 characters of millisecond time (so ids sort by creation) + 16 random
 * characters (80 bits).
 *
 * @example newJobId(Date.now()) // 'job_01jd5x3k2a7m9q0c4w8e6r2t5y'
 */
export function newJobId(now: number): string {
  let time = '';
  let rest = Math.max(0, Math.floor(now));
  for (let i = 0; i < 10; i++) {
    time = BASE32[rest % 32] + time;
    rest = Math.floor(rest / 32);
  }
  return `job_${time}${base32(randomBytes(16), 16)}`;
}

/** A fresh webhook secret: 128 random bits, base64url. */
export function newSecret(): string {
  return randomBytes(16).toString('base64url');
}

/**
 * The token a provider calls back with: `<jobId>.<secret>`. The id only locates the job; the
 * secret is what authorises the delivery.
 */
export function webhookToken(jobId: string, secret: string): string {
  return `${jobId}.${secret}`;
}

/** Splits a webhook token; `undefined` when it does not have the shape of one. */
export function parseWebhookToken(token: string): { jobId: string; secret: string } | undefined {
  const dot = token.lastIndexOf('.');
  if (dot <= 0 || dot === token.length - 1 || token.length > 200) return undefined;
  return { jobId: token.slice(0, dot), secret: token.slice(dot + 1) };
}

/** Compares two secrets in time that does not depend on where they differ. */
export function secretsEqual(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A fresh change-log epoch: creation time (base 36) and 48 random bits. */
export function mintEpoch(now = Date.now()): string {
  return `${now.toString(36)}-${newSecret().slice(0, 8)}`;
}
