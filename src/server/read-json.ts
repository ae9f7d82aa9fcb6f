import type { ReadableStreamDefaultReader, ReadableStreamReadResult } from 'node:stream/web';
import type { Context } from 'hono';
import { MAX_JSON_DEPTH, tooDeepAt } from '../streams/json-depth.js';
import { HttpError } from './api-error.js';

/**
 * Reads a request body as JSON, refusing more than `maxBytes` with 413 (checked while the body
 * streams in, not only from Content-Length) and malformed JSON with 400.
 */
export async function readJson(c: Context, maxBytes: number): Promise<unknown> {
  const declared = Number(c.req.header('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes);
  const body = c.req.raw.body;
  if (body === null) throw new HttpError(400, 'INVALID_REQUEST', 'the request has no body; send JSON');
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = (body as ReadableStream<Uint8Array>).getReader();
  for (;;) {
    const { done, value }: ReadableStreamReadResult<Uint8Array> = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await discard(reader);
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (error) {
    throw new HttpError(400, 'INVALID_REQUEST', `the body is not valid JSON (${(error as Error).message})`);
  }
  // JSON.parse copes with any depth; the recursive code after it (zod, structuredClone,
  // JSON.stringify) does not, so a deeply nested body stops here as a 400 naming where.
  const at = tooDeepAt(value, MAX_BODY_DEPTH);
  if (at !== undefined) {
    const field = at.slice(0, 2).map(String).join('.');
    const reason = `nested deeper than ${MAX_BODY_DEPTH} levels`;
    throw new HttpError(400, 'INVALID_REQUEST', `the body is ${reason}${field ? ` (at ${field})` : ''}`, [{ field, reason }]);
  }
  return value;
}

/**
 * How deeply a request body may nest: room for an envelope around values of
 * {@link MAX_JSON_DEPTH} levels (job options sit two levels down), far below the depth at which
 * recursive code overflows the stack.
 */
const MAX_BODY_DEPTH = MAX_JSON_DEPTH * 2;

/** How much of a refused body is still read and thrown away before giving up on it. */
const LINGER_BYTES = 1024 * 1024;

/**
 * Reads and discards the rest of a refused body (up to {@link LINGER_BYTES}), so the client
 * receives the 413 instead of a connection reset caused by unread data; a longer body is cut.
 */
async function discard(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
  let read = 0;
  while (read < LINGER_BYTES) {
    const { done, value }: ReadableStreamReadResult<Uint8Array> = await reader.read();
    if (done) return;
    read += value.byteLength;
  }
  await reader.cancel();
}

function tooLarge(maxBytes: number): HttpError {
  return new HttpError(413, 'PAYLOAD_TOO_LARGE', `the body is larger than the ${maxBytes}-byte limit`);
}
