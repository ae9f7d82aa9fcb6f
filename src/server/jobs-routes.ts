import { rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { HttpBindings } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { Engine } from '../streams/engine.js';
import { NetworkSubmitRequest, parseRequest } from '../streams/engine-requests.js';
import type { JobFilter } from '../streams/job-filter.js';
import { JobStatus } from '../streams/job-status.js';
import { SEARCH_SEPARATOR } from '../streams/job-query.js';
import { RangeNotSatisfiableError, type ByteRange } from '../streams/byte-range.js';
import { EngineClosedError, JobstreamError } from '../streams/errors.js';
import type { JobSnapshot } from '../streams/job-snapshot.js';
import { HttpError } from './api-error.js';
import { attachmentDisposition } from './content-disposition.js';
import { readJson } from './read-json.js';
import { assertReadable, readableFilter } from './scoped-tokens.js';
import { receiveForm } from './upload.js';

/** What the job routes need. */
export interface JobsRoutesOptions {
  engine: Engine;
  /** Where uploads wait while they are handed to the provider. */
  uploadDir: string;
  maxUploadBytes: number;
  maxJsonBytes: number;
}

const ListQuery = z.object({
  provider: z.array(z.string().min(1)).optional(),
  kind: z.array(z.string().min(1)).optional(),
  status: z.array(JobStatus).optional(),
  id: z.array(z.string().min(1)).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  cursor: z.string().min(1).optional(),
  q: z
    .string()
    .max(200)
    .refine((q) => !q.includes(SEARCH_SEPARATOR), { message: 'must not contain NUL' })
    .optional(),
  sort: z.enum(['createdAt', 'updatedAt']).optional(),
  order: z.enum(['asc', 'desc']).optional(),
  from: z.string().transform(toEpochMs).optional(),
  to: z.string().transform(toEpochMs).optional(),
  retryOf: z.string().min(1).max(200).optional(),
});

/** The single-valued parameters of `GET /v1/jobs` (the last one counts when repeated). */
const SINGLE_LIST_PARAMS = ['limit', 'cursor', 'q', 'sort', 'order', 'from', 'to', 'retryOf'] as const;

/** A time bound: epoch milliseconds, or an ISO 8601 date or date-time. */
function toEpochMs(text: string, ctx: z.core.$RefinementCtx<string>): number {
  const ms = /^-?\d{1,16}$/.test(text) ? Number(text) : /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text) ? Date.parse(text) : Number.NaN;
  if (!Number.isFinite(ms)) {
    ctx.addIssue({ code: 'custom', message: 'epoch milliseconds or an ISO 8601 date (e.g. 2026-01-31T12:00:00Z)', input: text });
    return z.NEVER;
  }
  return ms;
}

/** `POST /v1/jobs/cancel`: the ids to cancel. */
const BulkCancel = z.object({ ids: z.array(z.string().min(1).max(200)).min(1).max(500) });

/** Cancels of one bulk request that run at once (each may be a provider call). */
const BULK_CANCEL_CONCURRENCY = 8;

/** Content types a result may be shown inline (`?disposition=inline`) rather than downloaded. */
function isInlineType(contentType: string): boolean {
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  // The type comes from the provider: never one a browser would run script in (SVG is an image).
  if (type.includes('svg') || type.includes('xml') || type.includes('html')) return false;
  return type.startsWith('audio/') || type.startsWith('image/') || type === 'text/plain' || type === 'application/json';
}

/**
 * The one byte range of a `Range` header, or `undefined` to send the whole file: no header, a
 * unit other than bytes, several ranges, or a malformed one (RFC 9110 lets a server ignore it).
 */
export function parseRangeHeader(header: string | undefined): ByteRange | undefined {
  const match = /^\s*bytes\s*=\s*(\d{0,15})\s*-\s*(\d{0,15})\s*$/i.exec(header ?? '');
  if (match === null) return undefined;
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return undefined;
  if (first === '') return { suffix: Number(last) };
  return last === '' ? { start: Number(first) } : { start: Number(first), end: Number(last) };
}

const FormFields = z.object({
  provider: z.string().min(1),
  kind: z.string().min(1),
  name: z.string().optional(),
  url: z.string().optional(),
  metadata: z.string().optional(),
  options: z.string().optional(),
});

/**
 * `/v1/jobs`: create (JSON with a URL input, or a multipart upload), adopt, list with filters,
 * search, sort and a cursor, get, cancel, retry, list and download results. A JSON body never
 * names a server file (`input.type: "file"` is a 400, see {@link NetworkSubmitRequest}); uploads
 * become file inputs here, in a temporary file the engine moves into its kept inputs (for
 * retries), or removed when it does not keep it.
 */
export function jobsRoutes(options: JobsRoutesOptions): Hono<{ Bindings: HttpBindings }> {
  const { engine } = options;
  const app = new Hono<{ Bindings: HttpBindings }>();

  app.post('/', async (c) => {
    const type = c.req.header('content-type') ?? '';
    if (type.startsWith('multipart/form-data')) return c.json({ job: await submitUpload(c, options) }, 201);
    // Over the network an input is a URL or an upload, never a path on this server.
    const request = parseRequest(NetworkSubmitRequest, await readJson(c, options.maxJsonBytes));
    return c.json({ job: await engine.submit(request) }, 201);
  });

  app.post('/track', async (c) => {
    const body = await readJson(c, options.maxJsonBytes);
    return c.json({ job: await engine.track(body as never) }, 200);
  });

  // Cancels up to 500 jobs, each on its own: one that fails does not stop the others.
  app.post('/cancel', async (c) => {
    const { ids } = parseRequest(BulkCancel, await readJson(c, options.maxJsonBytes));
    // An id named twice is cancelled once (one provider call) and answered at each place.
    const unique = [...new Set(ids)];
    const answers = new Map<string, { job: JobSnapshot } | { error: { code: string; message: string } }>();
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < unique.length; i = next++) {
        const id = unique[i] as string;
        try {
          answers.set(id, { job: await engine.cancel(id) });
        } catch (error) {
          // Shutting down answers the whole request 503; anything else is this id's answer.
          if (error instanceof EngineClosedError) throw error;
          answers.set(id, { error: error instanceof JobstreamError ? { code: error.code, message: error.message } : { code: 'INTERNAL', message: 'internal error' } });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(BULK_CANCEL_CONCURRENCY, unique.length) }, worker));
    return c.json({ results: ids.map((id) => ({ id, ...answers.get(id) })) });
  });

  app.get('/', (c) => {
    const lists: Record<string, string[] | string | undefined> = { ...c.req.queries() };
    for (const name of SINGLE_LIST_PARAMS) lists[name] = (lists[name] as string[] | undefined)?.at(-1);
    const query = parseRequest(ListQuery, lists);
    if (query.from !== undefined && query.to !== undefined && query.from > query.to) {
      throw new HttpError(400, 'INVALID_REQUEST', 'from: after to', [{ field: 'from', reason: 'after to' }]);
    }
    const requested: JobFilter = {
      ...(query.provider === undefined ? {} : { providers: query.provider }),
      ...(query.kind === undefined ? {} : { kinds: query.kind }),
      ...(query.status === undefined ? {} : { statuses: query.status }),
      ...(query.id === undefined ? {} : { ids: query.id }),
    };
    // A scoped token lists only its jobs, whatever it asks for.
    const filter = readableFilter(c.get('access'), requested);
    const { limit, cursor, q, sort, order, from, to, retryOf } = query;
    const page = engine.query(filter, { limit, cursor, q, sort, order, from, to, retryOf });
    return c.json({ jobs: page.jobs, nextCursor: page.next ?? null, total: page.total });
  });

  // A job outside a scoped token's scope is answered like an unknown one (404).
  app.use('/:id/*', async (c, next) => {
    assertReadable(c.get('access'), engine.get(c.req.param('id')), c.req.param('id'));
    await next();
  });

  app.get('/:id', (c) => {
    const job = engine.get(c.req.param('id'));
    assertReadable(c.get('access'), job, c.req.param('id'));
    if (job === undefined) throw new HttpError(404, 'UNKNOWN_JOB', `no job with id "${c.req.param('id')}"`);
    return c.json({ job });
  });

  app.post('/:id/cancel', async (c) => c.json({ job: await engine.cancel(c.req.param('id')) }));

  // A new job with the old one's input (an upload from the kept copy); 409 NOT_RETRYABLE says why not.
  app.post('/:id/retry', async (c) => c.json({ job: await engine.retry(c.req.param('id')) }, 201));

  app.get('/:id/changes', (c) => c.json({ epoch: engine.epoch, changes: engine.history(c.req.param('id')) }));

  app.get('/:id/results', (c) => c.json({ files: engine.resultFiles(c.req.param('id')) }));

  // One byte range (`Range: bytes=a-b`, `a-`, `-n`) of a local copy is a 206; a multi-range or
  // unreadable Range, or a file streamed from the provider, gets the whole file (200).
  app.get('/:id/results/:name', async (c) => {
    const name = c.req.param('name');
    const disposition = c.req.query('disposition') ?? 'attachment';
    if (disposition !== 'inline' && disposition !== 'attachment') {
      throw new HttpError(400, 'INVALID_REQUEST', 'disposition: inline or attachment', [{ field: 'disposition', reason: 'inline or attachment' }]);
    }
    const range = parseRangeHeader(c.req.header('range'));
    let download;
    try {
      download = await engine.openResult(c.req.param('id'), name, { range });
    } catch (error) {
      if (!(error instanceof RangeNotSatisfiableError)) throw error;
      return c.json({ error: { code: error.code, message: error.message } }, 416, { 'content-range': `bytes */${error.size}`, 'accept-ranges': 'bytes' });
    }
    const inline = disposition === 'inline' && isInlineType(download.contentType);
    const headers: Record<string, string> = {
      'content-type': download.contentType,
      'content-disposition': inline ? attachmentDisposition(name).replace(/^attachment/, 'inline') : attachmentDisposition(name),
      'accept-ranges': 'bytes',
      // A result opened as a page (inline, or a download a browser shows) runs nothing.
      'content-security-policy': "default-src 'none'; sandbox",
    };
    if (download.range !== undefined && download.size !== undefined) {
      headers['content-range'] = `bytes ${download.range.start}-${download.range.end}/${download.size}`;
      headers['content-length'] = String(download.range.end - download.range.start + 1);
    } else if (download.size !== undefined) {
      headers['content-length'] = String(download.size);
    }
    return new Response(Readable.toWeb(download.body) as ReadableStream, { status: download.range === undefined ? 200 : 206, headers });
  });

  return app;
}

async function submitUpload(c: Context<{ Bindings: HttpBindings }>, options: JobsRoutesOptions) {
  const form = await receiveForm(c.env.incoming, { dir: options.uploadDir, maxFileBytes: options.maxUploadBytes });
  try {
    const fields = parseRequest(FormFields, form.fields);
    if (form.file === undefined && fields.url === undefined) {
      throw new HttpError(400, 'INVALID_REQUEST', 'send the audio in a part named "file", or a "url" field', [
        { field: 'file', reason: 'required (or a url)' },
      ]);
    }
    const input =
      form.file !== undefined
        ? { type: 'file' as const, path: form.file.path, filename: form.file.filename, contentType: form.file.contentType }
        : { type: 'url' as const, url: fields.url as string };
    // An upload without a name is named after its file.
    const name = fields.name ?? form.file?.filename.slice(0, 200);
    return await options.engine.submit(
      {
        provider: fields.provider,
        kind: fields.kind,
        input,
        ...(name === undefined ? {} : { name }),
        ...(fields.metadata === undefined ? {} : { metadata: jsonField('metadata', fields.metadata) as never }),
        ...(fields.options === undefined ? {} : { options: jsonField('options', fields.options) as never }),
      },
      // The engine keeps the upload (for retries) by moving it out of the upload directory.
      { moveInput: true },
    );
  } finally {
    // The provider has the bytes (or refused them) once submit returns; a kept upload was moved away.
    if (form.file !== undefined) await rm(form.file.path, { force: true });
  }
}

function jsonField(field: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'INVALID_REQUEST', `${field}: not valid JSON`, [{ field, reason: 'not valid JSON' }]);
  }
}

