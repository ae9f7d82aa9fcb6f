import { Hono } from 'hono';
import { TRANSCRIPT_FILES_PATH } from './cambai-api-routes.js';
import { CambaiTranscriptFormat } from './cambai-schemas.js';
import type { CambaiTaskStore } from './cambai-task-store.js';
import { renderTranscript } from './cambai-transcript-file.js';
import { wordLevel } from './cambai-transcript.js';

/**
 * Serves the transcript files that `data_type=file` answers point to, outside `/apis`. Like
 * pre-signed storage URLs they need no API key, only the `signature` from the answer.
 *
 * @example
 * app.route('/', cambaiFileRoutes(store));
 */
export function cambaiFileRoutes(store: CambaiTaskStore): Hono {
  const files = new Hono();
  files.get(`${TRANSCRIPT_FILES_PATH}/:file`, (c) => {
    const match = /^(\d+)\.(\w+)$/.exec(c.req.param('file'));
    const format = CambaiTranscriptFormat.safeParse(match?.[2]);
    const runId = Number(match?.[1]);
    const transcript = store.transcript(runId);
    const signature = store.fileSignature(runId);
    if (!format.success || transcript === undefined || signature === undefined || c.req.query('signature') !== signature) {
      return c.text('NoSuchKey: the specified key does not exist', 404);
    }
    const words = c.req.query('word_level_timestamps') === 'true';
    const rendered = renderTranscript(words ? wordLevel(transcript) : transcript, format.data);
    return c.body(rendered.text, 200, { 'content-type': rendered.contentType });
  });
  return files;
}
