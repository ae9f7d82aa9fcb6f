import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { basename, join } from 'node:path';
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
 * without being held in memory; text fields are collected. Past `maxFileBytes` the upload is
 * refused with 413 and nothing is kept. Malformed forms are 400.
 */
export async function receiveForm(request: IncomingMessage, options: { dir: string; maxFileBytes: number }): Promise<ReceivedForm> {
  await mkdir(options.dir, { recursive: true });
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
  let failure: HttpError | undefined;
  const writes: Promise<void>[] = [];

  parser.on('field', (name, value, info) => {
    if (info.valueTruncated) failure ??= new HttpError(413, 'PAYLOAD_TOO_LARGE', `form field "${name}" is over 64 KiB`);
    fields[name] = value;
  });
  parser.on('file', (name, stream, info) => {
    if (name !== 'file' || file !== undefined) {
      failure ??= new HttpError(400, 'INVALID_REQUEST', `unexpected file part "${name}": send one file in the part named "file"`);
      stream.resume();
      return;
    }
    const path = join(options.dir, `${Date.now()}-${randomBytes(6).toString('hex')}`);
    const received: ReceivedFile = { path, filename: basename(info.filename || 'upload'), contentType: info.mimeType, bytes: 0 };
    file = received;
    stream.on('data', (chunk: Buffer) => (received.bytes += chunk.length));
    stream.on('limit', () => {
      failure ??= new HttpError(413, 'PAYLOAD_TOO_LARGE', `the file is larger than the ${options.maxFileBytes}-byte limit`);
    });
    writes.push(pipeline(stream, createWriteStream(path)));
  });
  parser.on('filesLimit', () => {
    failure ??= new HttpError(400, 'INVALID_REQUEST', 'send one file in the part named "file"');
  });

  try {
    await pipeline(request, parser);
    await Promise.all(writes);
  } catch (error) {
    failure ??= new HttpError(400, 'INVALID_REQUEST', `the form could not be read: ${(error as Error).message}`);
  }
  if (failure !== undefined) {
    if (file !== undefined) await rm(file.path, { force: true });
    throw failure;
  }
  return { fields, file };
}
