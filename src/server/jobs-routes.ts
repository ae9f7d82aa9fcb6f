import { rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { HttpBindings } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { Engine } from '../streams/engine.js';
import { NetworkSubmitRequest, parseRequest } from '../streams/engine-requests.js';
import type { JobFilter } from '../streams/job-filter.js';
import { JobStatus } from '../streams/job-status.js';
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
});

const FormFields = z.object({
  provider: z.string().min(1),
  kind: z.string().min(1),
  name: z.string().optional(),
  url: z.string().optional(),
  metadata: z.string().optional(),
  options: z.string().optional(),
});

/**
 * `/v1/jobs`: create (JSON with a URL input, or a multipart upload), adopt, list with filters
 * and a cursor, get, cancel, list and download results. A JSON body never names a server file
 * (`input.type: "file"` is a 400, see {@link NetworkSubmitRequest}); uploads become file inputs
 * here, in a temporary file removed once the provider has the bytes.
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

  app.get('/', (c) => {
    const { limit, cursor, ...lists } = c.req.queries();
    const query = parseRequest(ListQuery, { ...lists, limit: limit?.at(-1), cursor: cursor?.at(-1) });
    const requested: JobFilter = {
      ...(query.provider === undefined ? {} : { providers: query.provider }),
      ...(query.kind === undefined ? {} : { kinds: query.kind }),
      ...(query.status === undefined ? {} : { statuses: query.status }),
      ...(query.id === undefined ? {} : { ids: query.id }),
    };
    // A scoped token lists only its jobs, whatever it asks for.
    const filter = readableFilter(c.get('access'), requested);
    const page = engine.list(filter, {
      ...(query.limit === undefined ? {} : { limit: query.limit }),
      ...(query.cursor === undefined ? {} : { after: decodeCursor(query.cursor) }),
    });
    return c.json({ jobs: page.jobs, nextCursor: page.next === undefined ? null : encodeCursor(page.next) });
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

  app.get('/:id/changes', (c) => c.json({ epoch: engine.epoch, changes: engine.history(c.req.param('id')) }));

  app.get('/:id/results', (c) => c.json({ files: engine.resultFiles(c.req.param('id')) }));

  app.get('/:id/results/:name', async (c) => {
    const download = await engine.openResult(c.req.param('id'), c.req.param('name'));
    return new Response(Readable.toWeb(download.body) as ReadableStream, {
      headers: { 'content-type': download.contentType, 'content-disposition': attachmentDisposition(c.req.param('name')) },
    });
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
    return await options.engine.submit({
      provider: fields.provider,
      kind: fields.kind,
      input,
      ...(fields.name === undefined ? {} : { name: fields.name }),
      ...(fields.metadata === undefined ? {} : { metadata: jsonField('metadata', fields.metadata) as never }),
      ...(fields.options === undefined ? {} : { options: jsonField('options', fields.options) as never }),
    });
  } finally {
    // The provider has the bytes (or refused them) once submit returns.
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

function encodeCursor(id: string): string {
  return Buffer.from(id).toString('base64url');
}

function decodeCursor(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^job_[0-9a-z]+$/.test(id)) throw new HttpError(400, 'INVALID_REQUEST', 'cursor: not a cursor this server gave out', [{ field: 'cursor', reason: 'invalid' }]);
  return id;
}
