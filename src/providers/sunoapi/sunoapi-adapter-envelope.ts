import { z } from 'zod';
import { ProviderError } from '../../streams/errors.js';
import { parseRetryAfter } from '../retry-after.js';
import { callProvider, expectShape, joinUrl, jsonOf, type ProviderConnection } from '../provider-http.js';

/**
 * The `{ code, msg, data }` envelope of every sunoapi.org answer, read tolerantly (`code` may
 * come as a numeric string, `msg` may be missing or null).
 */
export const SunoapiEnvelopeAnswer = z.looseObject({
  code: z.union([z.number().int(), z.string().regex(/^\d+$/).transform(Number)]),
  msg: z.string().nullish(),
  data: z.unknown().optional(),
});

/**
 * The window to wait after body code 430 when no `Retry-After` is given: the documented budget
 * is 20 requests per 10 s (a third-party summary; the official page was not retrieved).
 */
export const SUNOAPI_RATE_WINDOW_MS = 10_000;

/** One call to the sunoapi.org API. */
export interface SunoapiCall {
  method: 'GET' | 'POST';
  /** Path below the base URL, e.g. `/api/v1/midi/record-info`. */
  path: string;
  query?: Record<string, string>;
  /** Sent as JSON. */
  json?: unknown;
  signal: AbortSignal;
}

/**
 * Calls sunoapi.org and returns the envelope's `data`. The body code decides, also on HTTP 200:
 * 200 ok; 430 (too frequent) and 405 (rate limit exceeded) → `rate-limited`, waiting `Retry-After` or
 * {@link SUNOAPI_RATE_WINDOW_MS}; 429 (out of credits) → `rejected` with provider code
 * `INSUFFICIENT_CREDITS` (retrying cannot help); 401 → `unauthorized`; 455 (maintenance) and
 * 500 → `unavailable` (455 marked `notCreated`); 400, 404, 413 and any other code → `rejected`
 * with the provider's `msg`.
 * HTTP errors are classified by `callProvider`, except HTTP 430 and 455, read as the body
 * codes they mirror. An HTTP 429 stays `rate-limited` (the generic meaning: sunoapi.org does
 * not document HTTP-level 429s, so one would come from a proxy in front of it).
 */
export async function callSunoapi(connection: ProviderConnection, call: SunoapiCall): Promise<unknown> {
  const what = `${call.method} ${call.path}`;
  let answer;
  try {
    answer = await callProvider('sunoapi', connection.dispatcher, {
      method: call.method,
      url: joinUrl(connection.baseUrl, call.path, call.query),
      headers: {
        authorization: `Bearer ${connection.apiKey}`,
        accept: 'application/json',
        ...(call.json === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(call.json === undefined ? {} : { body: JSON.stringify(call.json) }),
      signal: call.signal,
    });
  } catch (error) {
    throw reclassified(error);
  }
  const envelope = expectShape('sunoapi', SunoapiEnvelopeAnswer, jsonOf('sunoapi', answer, what), what);
  if (envelope.code === 200) return envelope.data;
  throw envelopeError(envelope.code, envelope.msg ?? '', what, parseRetryAfter(answer.headers['retry-after'], Date.now()));
}

/**
 * The error for a non-200 body code (see {@link callSunoapi}).
 *
 * @example envelopeError(429, 'Insufficient credits', 'POST /api/v1/midi/generate', undefined).providerCode // 'INSUFFICIENT_CREDITS'
 */
export function envelopeError(code: number, msg: string, what: string, retryAfterMs: number | undefined): ProviderError {
  const text = `${what} answered code ${code}${msg === '' ? '' : `: ${msg}`}`;
  switch (code) {
    // 430 is the documented "call frequency too high"; 405 is listed as "rate limit exceeded" too.
    case 430:
    case 405:
      return new ProviderError('sunoapi', 'rate-limited', text, { retryAfterMs: retryAfterMs ?? SUNOAPI_RATE_WINDOW_MS });
    case 429:
      return new ProviderError('sunoapi', 'rejected', text, { providerCode: 'INSUFFICIENT_CREDITS' });
    case 401:
      return new ProviderError('sunoapi', 'unauthorized', text);
    // 455 is maintenance: the task was not taken. 500 may come after the work began.
    case 455:
      return new ProviderError('sunoapi', 'unavailable', text, { retryAfterMs, notCreated: true });
    case 500:
      return new ProviderError('sunoapi', 'unavailable', text, { retryAfterMs });
    default:
      return code > 500 ? new ProviderError('sunoapi', 'unavailable', text, { retryAfterMs }) : new ProviderError('sunoapi', 'rejected', text);
  }
}

function reclassified(error: unknown): unknown {
  if (!(error instanceof ProviderError)) return error;
  // ProviderError prefixes the provider name; do not repeat it.
  const message = error.message.replace(/^sunoapi: /, '');
  if (error.status === 430) {
    return new ProviderError('sunoapi', 'rate-limited', message, { status: 430, retryAfterMs: error.retryAfterMs ?? SUNOAPI_RATE_WINDOW_MS, cause: error });
  }
  if (error.status === 455) return new ProviderError('sunoapi', 'unavailable', message, { status: 455, notCreated: true, cause: error });
  return error;
}
