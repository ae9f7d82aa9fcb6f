import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { basename, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import { HttpError } from './api-error.js';

/** A file received from a multipart form, stored in a temporary file. */
export interface ReceivedFile {
  path: string;
  filename: string;
  contentType: string;
  bytes: number;
}

/** A parsed multipart form: its text fields and at most one file (the part named `file`). */
export interface ReceivedForm {
  fields: Record<string, string>;
  file: ReceivedFile | undefined;
}

/**
 * Streams a `multipart/form-data` request to disk: the `file` part goes to a new file in `dir`
 * (mode 0600) without being held in memory; text fields are collected. Past `maxFileBytes` the
 * upload is refused with 413 and nothing is kept. A malformed form, or one that breaks off (the
 * client aborts, the body is truncated), is 400; a file that cannot be written (a full disk: our failure, not the client's) is 503.
 *
 * Whatever happens, the promise settles only once the temporary file is closed, and on every
 * failure that file is removed: nothing is left behind and no promise is left unhandled. A form
 * refused part-way through stops being parsed; the rest of the body is read and dropped so the
 * client still gets the answer.
 *
 * @example
 * const form = await receiveForm(request, { dir: join(dataDir, 'uploads'), maxFileBytes: 200 * 1024 * 1024 });
 * try { use(form.file?.path); } finally { if (form.file) await rm(form.file.path, { force: true }); }
 */
export async function receiveForm(request: IncomingMessage, options: { dir: string; maxFileBytes: number }): Promise<ReceivedForm> {
  await mkdir(options.dir, { recursive: true, mode: 0o700 });
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: request.headers,
      limits: { fileSize: options.maxFileBytes, files: 1, fields: 20, fieldSize: 64 * 1024, parts: 21 },
    });
  } catch (error) {
    throw new HttpError(400, 'INVALID_REQUEST', `not a multipart form: ${(error as Error).message}`);
  }
  const fields: Record<string, string> = {};
  let file: ReceivedFile | undefined;
  let upload: Readable | undefined;
  let failure: HttpError | undefined;
  // Settles (never rejects) once the file is closed: with the write's error, if any.
  let stored: Promise<Error | undefined> = Promise.resolve(undefined);

  parser.on('field', (name, value, info) => {
    if (info.valueTruncated) failure ??= new HttpError(413, 'PAYLOAD_TOO_LARGE', `form field "${name}" is over 64 KiB`);
    fields[name] = value;
  });
  parser.on('file', (name, stream, info) => {
    // busboy destroys a part's stream with an error when the form breaks off; an 'error' event
    // without a listener would crash the process.
    stream.on('error', () => undefined);
    if (name !== 'file' || file !== undefined) {
      failure ??= new HttpError(400, 'INVALID_REQUEST', `unexpected file part "${name}": send one file in the part named "file"`);
      stream.resume();
      return;
    }
    const path = join(options.dir, `${Date.now()}-${randomBytes(6).toString('hex')}`);
    const received: ReceivedFile = { path, filename: basename(info.filename || 'upload'), contentType: info.mimeType, bytes: 0 };
    file = received;
    upload = stream;
    stream.on('data', (chunk: Buffer) => (received.bytes += chunk.length));
    stream.on('limit', () => {
      failure ??= new HttpError(413, 'PAYLOAD_TOO_LARGE', `the file is larger than the ${options.maxFileBytes}-byte limit`);
    });
    stored = storeFile(stream, path).then((error) => {
      if (error !== undefined) {
        failure ??= new HttpError(503, 'UPLOAD_NOT_STORED', 'the server could not store the upload (its disk is full or failing); try again later');
        // busboy waits for a destroyed part to be read: stop it, or the request would hang.
        parser.destroy(error);
      }
      return error;
    });
  });
  parser.on('filesLimit', () => {
    failure ??= new HttpError(400, 'INVALID_REQUEST', 'send one file in the part named "file"');
  });

  try {
    await parseForm(request, parser);
  } catch (error) {
    failure ??= new HttpError(400, 'INVALID_REQUEST', `the form could not be read: ${(error as Error).message}`);
    // The part may still be flowing into its file: stop it (the write stream is destroyed with it).
    upload?.destroy(error as Error);
  }
  await stored;
  if (failure !== undefined) {
    if (file !== undefined) await rm(file.path, { force: true });
    throw failure;
  }
  return { fields, file };
}

/**
 * Removes everything in the upload directory: files left by a process that stopped while an
 * upload was in flight. Call it once at start, after the data directory is ours.
 */
export async function clearUploads(dir: string): Promise<void> {
  const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  await Promise.all(names.map((name) => rm(join(dir, name), { recursive: true, force: true })));
}

/**
 * Feeds the request into the parser. Resolves once the parser has read the whole form; rejects on
 * the first error of either (a malformed form, a client that went away). On error the parser is
 * destroyed (which ends its file stream with the error) and the rest of the request is drained,
 * not destroyed, so an answer can still reach a client that is there to read it.
 */
function parseForm(request: IncomingMessage, parser: busboy.Busboy): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const stop = (error: Error): void => {
      if (settled) return;
      settled = true;
      request.unpipe(parser);
      request.resume();
      parser.destroy(error);
      reject(error);
    };
    // These listeners stay: busboy and the request may emit more errors after the first one.
    parser.on('error', stop);
    request.on('error', stop);
    request.on('close', () => {
      if (!request.complete) stop(new Error('the connection closed before the form was complete'));
    });
    parser.on('finish', () => {
      settled = true;
      resolve();
    });
    request.pipe(parser);
  });
}

/** Writes a part to a new file; settles once the file is closed, with the error if the write failed. */
async function storeFile(part: Readable, path: string): Promise<Error | undefined> {
  const output = createWriteStream(path, { flags: 'wx', mode: 0o600 });
  const closed = new Promise<void>((resolve) => output.once('close', () => resolve()));
  try {
    await pipeline(part, output);
    return undefined;
  } catch (error) {
    output.destroy();
    await closed;
    return error instanceof Error ? error : new Error(String(error));
  }
}
