import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Agent, request, type Dispatcher } from 'undici';
import type { z } from 'zod';
import { ProviderError } from '../streams/errors.js';
import { parseRetryAfter } from '../streams/retry-after.js';
import { describeIssue } from '../streams/snapshot-file.js';

/** Timeouts and pool size of the one outbound HTTP dispatcher. */
export interface HttpOptions {
  /** Time to establish a connection. @default 10000 */
  connectTimeoutMs?: number;
  /** Time from sending a request to receiving the response headers. @default 30000 */
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
}

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
 * non-2xx → `rejected`, with the provider's own message where its body has one.
 * An abort by `signal` is rethrown as it is.
 */
export async function callProvider(provider: string, dispatcher: Dispatcher, call: ProviderCall): Promise<ProviderAnswer> {
  const response = await send(provider, dispatcher, call);
  let body: Buffer;
  try {
    body = Buffer.from(await response.body.arrayBuffer());
  } catch (error) {
    if (call.signal.aborted) throw error;
    throw new ProviderError(provider, 'unavailable', `the answer broke off (${(error as Error).message})`, { cause: error, status: response.statusCode });
  }
  const status = response.statusCode;
  if (status >= 200 && status < 300) return { status, headers: response.headers, body };
  return classify(provider, call, status, response.headers, body);
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
    });
  } catch (error) {
    if (call.signal.aborted) throw error;
    const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    throw new ProviderError(provider, 'unavailable', `no answer from ${new URL(call.url).host} (${detail})`, { cause: error });
  }
}

function classify(
  provider: string,
  call: ProviderCall,
  status: number,
  headers: Record<string, string | string[] | undefined>,
  body: Buffer,
): never {
  const retryAfterMs = parseRetryAfter(headers['retry-after'], Date.now());
  const said = messageOf(body);
  const what = `${call.method} ${new URL(call.url).pathname} answered ${status}${said ? `: ${said}` : ''}`;
  if (status === 429) throw new ProviderError(provider, 'rate-limited', what, { status, retryAfterMs });
  if (status >= 500) throw new ProviderError(provider, 'unavailable', what, { status, retryAfterMs });
  if (status === 401 || status === 403) throw new ProviderError(provider, 'unauthorized', what, { status });
  throw new ProviderError(provider, 'rejected', what, { status });
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
  const body = Buffer.from(await response.body.arrayBuffer().catch(() => new ArrayBuffer(0)));
  return classify(provider, call, status, response.headers, body);
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
