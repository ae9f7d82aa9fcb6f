import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { InvalidRequestError, JobstreamError, ProviderError, StoreUnavailableError } from '../streams/errors.js';

/** The body of every error answer: `{ error: { code, message, issues? } }`. */
export interface ApiErrorBody {
  error: { code: string; message: string; issues?: { field: string; reason: string }[] };
}

/** An error raised by the HTTP layer itself, with its status. */
export class HttpError extends JobstreamError {
  readonly status: ContentfulStatusCode;
  readonly issues: { field: string; reason: string }[] | undefined;
  constructor(status: ContentfulStatusCode, code: string, message: string, issues?: { field: string; reason: string }[]) {
    super(code, message);
    this.status = status;
    this.issues = issues;
  }
}

const STATUS_BY_CODE: Record<string, ContentfulStatusCode> = {
  INVALID_REQUEST: 400,
  INVALID_WEBHOOK: 400,
  WEBHOOK_SIGNATURE_INVALID: 401,
  UNKNOWN_PROVIDER: 400,
  UNKNOWN_JOB: 404,
  UNKNOWN_WEBHOOK_TOKEN: 404,
  UNKNOWN_RESULT: 404,
  RESULT_NOT_READY: 409,
  NOT_RETRYABLE: 409,
  ENGINE_CLOSED: 503,
  STORE_UNAVAILABLE: 503,
  WAIT_TIMEOUT: 504,
};

/**
 * Answers any error as JSON with the right status; unexpected errors become a 500 without
 * internals. A store that cannot write is a 503 with `Retry-After` (seconds): providers and
 * clients retry, and the retry is answered once the change is durable.
 */
export function errorResponse(c: Context, error: unknown): Response {
  if (error instanceof HttpError) {
    // A body refused part-way through was not read to its end: the connection cannot be reused.
    if (error.status === 413) c.header('connection', 'close');
    // Our own failure (a full disk): worth retrying once the operator has made room.
    if (error.status === 503) c.header('retry-after', '5');
    return c.json(body(error.code, error.message, error.issues), error.status);
  }
  if (error instanceof InvalidRequestError) return c.json(body(error.code, error.message, [...error.issues]), 400);
  if (error instanceof ProviderError) return c.json(body(error.code, error.message), error.failure === 'rejected' ? 422 : 502);
  if (error instanceof StoreUnavailableError) c.header('retry-after', String(Math.max(1, Math.ceil(error.retryAfterMs / 1000))));
  if (error instanceof JobstreamError) return c.json(body(error.code, error.message), STATUS_BY_CODE[error.code] ?? 500);
  console.error('jobstream: unexpected error', error);
  return c.json(body('INTERNAL', 'internal error'), 500);
}

function body(code: string, message: string, issues?: { field: string; reason: string }[]): ApiErrorBody {
  return { error: issues === undefined ? { code, message } : { code, message, issues } };
}
