import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** The prefix of a signing secret (Standard Webhooks). */
export const SECRET_PREFIX = 'whsec_';

/** Random bytes in a generated secret (Standard Webhooks asks for 24 to 64). */
const SECRET_BYTES = 32;

/**
 * A new endpoint signing secret: `whsec_` and the base64 of 32 random bytes, the form
 * Standard Webhooks libraries take as it is.
 *
 * @example generateSecret() // 'whsec_q9f…'
 */
export function generateSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(SECRET_BYTES).toString('base64')}`;
}

/**
 * Whether a secret has the accepted form: `whsec_` and the base64 of 24 to 64 bytes. Says why
 * not (without repeating the secret), or `undefined` when it is fine.
 */
export function secretProblem(secret: string): string | undefined {
  if (!secret.startsWith(SECRET_PREFIX)) return `a signing secret starts with ${SECRET_PREFIX}`;
  const body = secret.slice(SECRET_PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body) || body.length % 4 !== 0) return `a signing secret is ${SECRET_PREFIX} and base64`;
  const bytes = Buffer.from(body, 'base64').length;
  if (bytes < 24 || bytes > 64) return `a signing secret holds 24 to 64 random bytes, this one ${bytes}`;
  return undefined;
}

/** The three Standard Webhooks headers of one request. */
export interface SignatureHeaders {
  'webhook-id': string;
  /** Unix seconds of this attempt. */
  'webhook-timestamp': string;
  /** `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` */
  'webhook-signature': string;
}

/**
 * Signs one request body as Standard Webhooks does: HMAC-SHA256, keyed with the secret's bytes,
 * over `<webhook-id>.<webhook-timestamp>.<body>`.
 *
 * @example
 * const headers = signWebhook(secret, 'job_1.v3', Math.floor(Date.now() / 1000), body);
 * // { 'webhook-id': 'job_1.v3', 'webhook-timestamp': '1765000000', 'webhook-signature': 'v1,…' }
 */
export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): SignatureHeaders {
  const key = Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
  const mac = createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': String(timestampSeconds), 'webhook-signature': `v1,${mac}` };
}

/**
 * Checks a signature as a receiver would (constant time; any of the space-separated `v1,`
 * signatures may match). For the tests and the example receiver without a library.
 */
export function verifyWebhook(secret: string, headers: SignatureHeaders, body: string): boolean {
  const want = Buffer.from(signWebhook(secret, headers['webhook-id'], Number(headers['webhook-timestamp']), body)['webhook-signature']);
  return headers['webhook-signature'].split(' ').some((given) => {
    const bytes = Buffer.from(given);
    return bytes.length === want.length && timingSafeEqual(bytes, want);
  });
}
