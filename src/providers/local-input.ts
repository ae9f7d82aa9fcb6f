import type { Blob } from 'node:buffer';
import { openAsBlob } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { JobInput } from '../streams/provider-port.js';

/**
 * A local file to read: a `file` job input (the in-process API, or an upload's temporary file),
 * or anything with its path and, optionally, the name and type to give it.
 */
export type LocalJobInput = Pick<Extract<JobInput, { type: 'file' }>, 'path'> & { filename?: string | undefined; contentType?: string | undefined };

/** A local input checked by {@link checkLocalInput}: a regular file, its size, and a name to show. */
export interface CheckedLocalInput {
  path: string;
  /** Size in bytes when checked. */
  size: number;
  /** The input's `filename`, or the last segment of its path: what messages and uploads call it. */
  name: string;
  contentType: string | undefined;
}

/**
 * Why a local input cannot be read. Its message names the file by {@link localInputName} only:
 * never by its path (an upload's temporary path is the server's business, and a message naming
 * the path of a file that is missing would tell a client which files exist).
 */
export class LocalInputError extends Error {
  override readonly name = 'LocalInputError';
}

/** What a message may call a local input: its `filename`, else the last segment of its path. */
export function localInputName(input: LocalJobInput): string {
  return input.filename ?? basename(input.path);
}

/**
 * Checks a `file` input before an adapter reads it: it must be a regular file. A FIFO, a device,
 * a socket or a directory is refused, since opening one can block (a FIFO waits for a writer; a
 * blocking open in `openAsBlob` would freeze the whole process) or never end.
 *
 * @throws LocalInputError naming the file by its name, with a reason (never the path, nor the
 *   system error's message, which contains the path).
 * @example
 * const checked = await checkLocalInput({ type: 'file', path: '/tmp/take.wav', filename: 'take.wav' });
 * console.log(checked.size);
 */
export async function checkLocalInput(input: LocalJobInput): Promise<CheckedLocalInput> {
  const name = localInputName(input);
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(input.path);
  } catch (error) {
    throw new LocalInputError(`cannot read the input file "${name}": ${reasonOf(error)}`, { cause: error });
  }
  if (!info.isFile()) throw new LocalInputError(`cannot read the input file "${name}": not a regular file (${kindOf(info)})`);
  return { path: input.path, size: info.size, name, contentType: input.contentType };
}

/**
 * Opens a checked regular file ({@link checkLocalInput}) as a Blob read lazily while a request
 * streams it, typed with the input's `contentType`.
 *
 * @throws LocalInputError as {@link checkLocalInput} does.
 * @example
 * const { blob, name } = await openLocalInput(input);
 * form.append('file', blob, name);
 */
export async function openLocalInput(input: LocalJobInput): Promise<CheckedLocalInput & { blob: Blob }> {
  const checked = await checkLocalInput(input);
  try {
    const blob = await openAsBlob(checked.path, checked.contentType === undefined ? undefined : { type: checked.contentType });
    return { ...checked, blob };
  } catch (error) {
    throw new LocalInputError(`cannot read the input file "${checked.name}": ${reasonOf(error)}`, { cause: error });
  }
}

const REASONS: Record<string, string> = {
  ENOENT: 'it does not exist',
  ENOTDIR: 'it does not exist',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the path is too long',
};

/** A system error as words: its code, never its message (which names the path). */
function reasonOf(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === undefined ? 'it cannot be opened' : (REASONS[code] ?? `it cannot be opened (${code})`);
}

function kindOf(info: Awaited<ReturnType<typeof stat>>): string {
  if (info.isDirectory()) return 'a directory';
  if (info.isFIFO()) return 'a FIFO';
  if (info.isSocket()) return 'a socket';
  if (info.isCharacterDevice() || info.isBlockDevice()) return 'a device';
  return 'not a file';
}
