import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Agent, request, type Dispatcher } from 'undici';
import { z } from 'zod';
import { ProviderError } from '../streams/errors.js';
import { parseRateLimitReset, parseRetryAfter } from './retry-after.js';
import { describeIssue } from '../streams/snapshot-file.js';
import { UrlRefusedError } from './url-guard.js';

/** Timeouts and pool size of the one outbound HTTP dispatcher. */
export interface HttpOptions {
  /** Time to establish a connection. @default 10000 */
  connectTimeoutMs?: number;
  /**
   * Time from sending a request to receiving the response headers. Create calls wait longer:
   * their adapter's `createTimeoutMs` (see {@link CREATE_TIMEOUT_MS}). @default 30000
   */
  headersTimeoutMs?: number;
  /** Longest silence while a response body streams in. @default 60000 */
  bodyTimeoutMs?: number;
  /** Connections per origin. @default 16 */
  connections?: number;
}

/**
 * Builds the single undici dispatcher all provider calls go through, with explicit connect,
 * header and body timeouts. Build it once and hand it to every adapter.
 *
 * @example const dispatcher = createDispatcher({ headersTimeoutMs: 15_000 });
 */
export function createDispatcher(options: HttpOptions = {}): Dispatcher {
  return new Agent({
    connect: { timeout: options.connectTimeoutMs ?? 10_000 },
    headersTimeout: options.headersTimeoutMs ?? 30_000,
    bodyTimeout: options.bodyTimeoutMs ?? 60_000,
    connections: options.connections ?? 16,
  });
}

/**
 * How long a create call waits for its answer by default: 300 s, what the newer official SDKs
 * wait (the Camb.ai SDK's create call; providers.md Round 2), against the dispatcher's 30 s
 * for polls. A provider that takes an upload and answers late has still made (and bills) the
 * job, so giving up early loses a job that exists.
 */
export const CREATE_TIMEOUT_MS = 300_000;

/**
 * The `createTimeoutMs` adapter option, for the adapters whose create call may answer slowly:
 * whole milliseconds, at most an hour, {@link CREATE_TIMEOUT_MS} by default.
 */
export const CreateTimeoutOption = z
  .number({ error: 'must be a number of milliseconds' })
  .int('must be whole milliseconds')
  .positive('must be positive')
  .max(3_600_000, 'must be at most an hour (3600000)')
  .default(CREATE_TIMEOUT_MS);

/** What every adapter is built from. */
export interface ProviderConnection {
  /** The provider's API key. */
  apiKey: string;
  /** The provider's base URL (its real API, or a simulator). No trailing slash needed. */
  baseUrl: string;
  /** The shared dispatcher (see {@link createDispatcher}). */
  dispatcher: Dispatcher;
}

/** A short, stable, non-reversible id of an API key, for rate-budget lanes and logs. */
export function credentialIdOf(apiKey: string): string {
  return createHash('sha256').update(apiKey).digest('hex').slice(0, 12);
}

/** Joins a base URL and a path without doubling or dropping the slash. */
export function joinUrl(baseUrl: string, path: string, query?: Record<string, string | readonly string[] | undefined>): string {
  const url = new URL(baseUrl.replace(/\/+$/, '') + '/' + path.replace(/^\/+/, ''));
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value === undefined) continue;
    for (const one of typeof value === 'string' ? [value] : value) url.searchParams.append(key, one);
  }
  return url.toString();
}

/** One HTTP call to a provider. */
export interface ProviderCall {
  method: Dispatcher.HttpMethod;
  url: string;
  headers?: Record<string, string>;
  body?: Dispatcher.DispatchOptions['body'];
  signal: AbortSignal;
  /**
   * Longest wait for the answer's headers after the request was sent, for this call only
   * (`headersTimeout` of undici's request): create calls wait long (a provider may take minutes
   * to take an upload and answer), polls keep the dispatcher's short default. When it passes,
   * the call fails `unavailable` and not `notCreated`: the provider may have made the job.
   * @default the dispatcher's `headersTimeoutMs`
   */
  headersTimeoutMs?: number;
  /**
   * Largest 2xx answer {@link callProvider} reads into memory; a larger one is `invalid-response`,
   * so a broken or hostile endpoint cannot exhaust the memory. @default MAX_ANSWER_BYTES (8 MiB)
   */
  maxAnswerBytes?: number;
}

/** Default of {@link ProviderCall.maxAnswerBytes}: 8 MiB. */
export const MAX_ANSWER_BYTES = 8 * 1024 * 1024;

/** How much of an error answer is read for its message; the rest is dropped. */
const ERROR_BODY_BYTES = 64 * 1024;

/** A 2xx answer. */
export interface ProviderAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/**
 * Sends one request and classifies every failure as a {@link ProviderError}:
 * no answer (connect, timeout, reset) → `unavailable`; 429 → `rate-limited` with `Retry-After`;
 * 5xx → `unavailable` (with `Retry-After` where given); 401/403 → `unauthorized`; any other
 * non-2xx → `rejected`, with the provider's own message where its body has one. A failure to
 * connect, a 429 and a 503 are marked `notCreated` (the request was not acted on).
 * An abort by `signal` is rethrown as it is.
 */
export async function callProvider(provider: string, dispatcher: Dispatcher, call: ProviderCall): Promise<ProviderAnswer> {
  const response = await send(provider, dispatcher, call);
  const status = response.statusCode;
  const ok = status >= 200 && status < 300;
  const limit = ok ? (call.maxAnswerBytes ?? MAX_ANSWER_BYTES) : ERROR_BODY_BYTES;
  let read: { bytes: Buffer; complete: boolean };
  try {
    read = await readUpTo(response, limit);
  } catch (error) {
    if (call.signal.aborted) throw error;
    throw new ProviderError(provider, 'unavailable', `the answer broke off (${(error as Error).message})`, { cause: error, status });
  }
  if (ok && !read.complete) {
    throw new ProviderError(provider, 'invalid-response', `${call.method} ${new URL(call.url).pathname} answered more than ${limit} bytes (maxAnswerBytes)`, { status });
  }
  if (ok) return { status, headers: response.headers, body: read.bytes };
  return classify(provider, call, status, response.headers, read.bytes);
}

/**
 * Reads at most `limit` bytes of a response body; past that (by `Content-Length` or as it
 * streams) the body is destroyed and `complete` is false.
 */
async function readUpTo(response: Dispatcher.ResponseData, limit: number): Promise<{ bytes: Buffer; complete: boolean }> {
  const declared = Number(response.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    discard(response);
    return { bytes: Buffer.alloc(0), complete: false };
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    if (size + chunk.length > limit) {
      chunks.push(chunk.subarray(0, limit - size));
      discard(response);
      return { bytes: Buffer.concat(chunks), complete: false };
    }
    chunks.push(chunk);
    size += chunk.length;
  }
  return { bytes: Buffer.concat(chunks), complete: true };
}

/** Drops the rest of a body: closes the connection (its abort error is expected, not a failure). */
function discard(response: Dispatcher.ResponseData): void {
  response.body.on('error', () => undefined);
  response.body.destroy();
}

/** Sends the request; no answer at all (connect, timeout, reset) is `unavailable`. */
async function send(provider: string, dispatcher: Dispatcher, call: ProviderCall): Promise<Dispatcher.ResponseData> {
  try {
    return await request(call.url, {
      method: call.method,
      signal: call.signal,
      dispatcher,
      ...(call.headers === undefined ? {} : { headers: call.headers }),
      ...(call.body === undefined ? {} : { body: call.body }),
      ...(call.headersTimeoutMs === undefined ? {} : { headersTimeout: call.headersTimeoutMs }),
    });
  } catch (error) {
    if (call.signal.aborted) throw error;
    const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    const waited = call.headersTimeoutMs !== undefined && isHeadersTimeout(error) ? ` within ${call.headersTimeoutMs} ms` : '';
    throw new ProviderError(provider, 'unavailable', `no answer from ${new URL(call.url).host}${waited} (${detail})`, {
      cause: error,
      notCreated: neverConnected(error),
    });
  }
}

/** Whether undici gave up waiting for the answer's headers (the request was sent). */
function isHeadersTimeout(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'UND_ERR_HEADERS_TIMEOUT';
}

/** Error codes of a connection that was never made: the request cannot have been sent. */
const CONNECT_FAILURES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

/** Whether a request failed while connecting (see {@link CONNECT_FAILURES}), looking through causes. */
function neverConnected(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECT_FAILURES.has(code)) return true;
  }
  return false;
}

function classify(
  provider: string,
  call: ProviderCall,
  status: number,
  headers: Record<string, string | string[] | undefined>,
  body: Buffer,
): never {
  const retryAfterMs = parseRetryAfter(headers['retry-after'], Date.now()) ?? parseRateLimitReset(headers['x-ratelimit-reset'], Date.now());
  const said = messageOf(body);
  const what = `${call.method} ${new URL(call.url).pathname} answered ${status}${said ? `: ${said}` : ''}`;
  // 429 and 503 say the request was not handled (RFC 9110); another 5xx may come after the work.
  if (status === 429) throw new ProviderError(provider, 'rate-limited', what, { status, retryAfterMs, notCreated: true });
  if (status >= 500) throw new ProviderError(provider, 'unavailable', what, { status, retryAfterMs, notCreated: status === 503 });
  if (status === 401 || status === 403) throw new ProviderError(provider, 'unauthorized', what, { status });
  // Kept for adapters whose provider uses another status for rate limits (sunoapi.org: 430).
  throw new ProviderError(provider, 'rejected', what, { status, retryAfterMs });
}

/**
 * Like {@link callProvider} but leaves a 2xx body streaming, for large downloads. Failures are
 * classified the same way (their bodies are small and read whole).
 */
export async function openProvider(
  provider: string,
  dispatcher: Dispatcher,
  call: ProviderCall,
): Promise<{ status: number; contentType: string; body: Readable }> {
  const response = await send(provider, dispatcher, call);
  const status = response.statusCode;
  if (status >= 200 && status < 300) {
    const type = response.headers['content-type'];
    return { status, contentType: (Array.isArray(type) ? type[0] : type) ?? 'application/octet-stream', body: response.body };
  }
  const body = await readUpTo(response, ERROR_BODY_BYTES).then(
    (read) => read.bytes,
    () => Buffer.alloc(0),
  );
  return classify(provider, call, status, response.headers, body);
}

/**
 * Opens a URL that came from outside (a job's input URL, a result URL from a webhook or poll
 * answer) through a guarded dispatcher (see `guardedDispatcher`), leaving a 2xx body streaming.
 * Failures name the status and the host only, never the body, path, query or credentials:
 * a refused address → `rejected` with provider code `URL_REFUSED`; no answer → `unavailable`;
 * 429 → `rate-limited`; 5xx → `unavailable`; any other status → `rejected`.
 *
 * @example const { body } = await openOutside('klangio', guardedDispatcher(dispatcher), { method: 'GET', url, signal });
 */
export async function openOutside(
  provider: string,
  dispatcher: Dispatcher,
  call: Omit<ProviderCall, 'body' | 'maxAnswerBytes'>,
): Promise<{ status: number; contentType: string; body: Readable }> {
  const host = new URL(call.url).host;
  let response: Dispatcher.ResponseData;
  try {
    response = await request(call.url, { method: call.method, signal: call.signal, dispatcher, ...(call.headers === undefined ? {} : { headers: call.headers }) });
  } catch (error) {
    if (call.signal.aborted) throw error;
    if (error instanceof UrlRefusedError) throw new ProviderError(provider, 'rejected', error.message, { providerCode: 'URL_REFUSED', cause: error });
    const detail = error instanceof Error ? ((error as NodeJS.ErrnoException).code ?? error.name) : String(error);
    throw new ProviderError(provider, 'unavailable', `no answer from ${host} (${detail})`, { cause: error });
  }
  const status = response.statusCode;
  if (status >= 200 && status < 300) {
    const type = response.headers['content-type'];
    return { status, contentType: (Array.isArray(type) ? type[0] : type) ?? 'application/octet-stream', body: response.body };
  }
  // The body is not read: it is not the provider's, and nothing of it goes into a job.
  discard(response);
  const what = `${host} answered ${status}${status >= 300 && status < 400 ? ' (a redirect past the limit, or without a Location)' : ''}`;
  const retryAfterMs = parseRetryAfter(response.headers['retry-after'], Date.now());
  if (status === 429) throw new ProviderError(provider, 'rate-limited', what, { status, retryAfterMs });
  if (status >= 500) throw new ProviderError(provider, 'unavailable', what, { status, retryAfterMs });
  throw new ProviderError(provider, 'rejected', what, { status });
}

/** Parses a 2xx body as JSON, or fails with `invalid-response` quoting the start of it. */
export function jsonOf(provider: string, answer: ProviderAnswer, what: string): unknown {
  const text = answer.body.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ProviderError(provider, 'invalid-response', `${what}: the answer is not JSON (${snippet(text)})`, { status: answer.status });
  }
}

/** Validates a provider answer, or fails with `invalid-response` naming the first problem. */
export function expectShape<S extends z.ZodType>(provider: string, schema: S, value: unknown, what: string): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new ProviderError(provider, 'invalid-response', `${what}: ${describeIssue(parsed.error)}`);
}

/** The human message inside an error body: `detail`, `message`, `msg` or `error`, else the text. */
export function messageOf(body: Buffer): string {
  const text = body.toString('utf8').trim();
  if (text === '') return '';
  try {
    const json = JSON.parse(text) as unknown;
    if (typeof json === 'object' && json !== null) {
      const record = json as Record<string, unknown>;
      for (const key of ['detail', 'message', 'msg', 'error']) {
        const value = record[key];
        if (typeof value === 'string' && value !== '') return value;
        if (Array.isArray(value)) {
          const first = value[0] as { msg?: unknown; loc?: unknown } | undefined;
          if (typeof first?.msg === 'string') return Array.isArray(first.loc) ? `${first.loc.join('.')}: ${first.msg}` : first.msg;
        }
      }
    }
  } catch {
    // not JSON: fall through to the text
  }
  return snippet(text);
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 120 ? `${flat.slice(0, 117)}...` : flat;
}
