import { Hono } from 'hono';
import type { MusicaiJobStore } from './musicai-job-store.js';
import { RESULTS_PATH } from './musicai-job-store.js';
import type { UploadSlots } from './musicai-upload-slots.js';
import { UPLOADS_PATH } from './musicai-upload-slots.js';

/**
 * The storage side of the simulator, outside `/v1`: what the real service keeps in a cloud
 * bucket (signed upload/download URLs) and on its CDN (result files). Like signed URLs, these
 * routes take no API key, only the `signature` query parameter, and answer plain text errors.
 *
 * @example
 * app.route('/', musicaiStorageRoutes(slots, store));
 */
export function musicaiStorageRoutes(slots: UploadSlots, store: MusicaiJobStore): Hono {
  const storage = new Hono();

  storage.put(`${UPLOADS_PATH}/:id`, async (c) => {
    const bytes = Buffer.from(await c.req.arrayBuffer());
    const written = slots.write(c.req.param('id'), c.req.query('signature'), bytes, c.req.header('content-type'));
    return written ? c.body(null, 200) : c.text('AccessDenied: invalid or expired upload URL', 403);
  });

  storage.get(`${UPLOADS_PATH}/:id`, (c) => {
    const slot = slots.read(c.req.param('id'), c.req.query('signature'));
    if (slot?.bytes === undefined) return c.text('NoSuchKey: the specified object does not exist', 404);
    return c.body(new Uint8Array(slot.bytes), 200, { 'content-type': slot.contentType ?? 'application/octet-stream' });
  });

  storage.get(`${RESULTS_PATH}/:jobId/:file`, (c) => {
    const file = store.file(c.req.param('jobId'), c.req.param('file'), c.req.query('signature'));
    if (file === undefined) return c.text('NoSuchKey: the specified object does not exist', 404);
    return c.body(new Uint8Array(file.bytes), 200, { 'content-type': file.contentType });
  });

  return storage;
}
