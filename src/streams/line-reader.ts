import { createReadStream } from 'node:fs';
import { StoreCorruptError } from './errors.js';

/** One line of a file, without its `\n`. */
export interface FileLine {
  /** The line's bytes (a view into the read buffer: decode or copy, do not keep). */
  bytes: Buffer;
  /** 1-based line number. */
  number: number;
  /** Byte offset where the line starts. */
  start: number;
  /** Byte offset just past the line's `\n` (or past its last byte when it has none). */
  end: number;
  /** False for a last line that does not end in `\n`. */
  complete: boolean;
}

/**
 * Longest line {@link readLines} accepts. Lines are one job each, with large results in files of
 * their own; the bound keeps a damaged file (or one without newlines) from growing a single
 * string towards V8's limit.
 */
export const MAX_LINE_BYTES = 256 * 1024 * 1024;

/**
 * Reads a file line by line without holding more than one line (and one read buffer) in memory:
 * the way the store loads a snapshot or journal of any size. Lines end at `\n` only; byte offsets
 * are exact, so a caller can cut the file back to a line boundary. Read errors (a directory, a
 * missing file) are thrown as they are; the caller names the file.
 *
 * @example
 * for await (const line of readLines('/data/journal-00000000.jsonl')) console.log(line.number, line.bytes.toString());
 */
export async function* readLines(path: string, maxLineBytes = MAX_LINE_BYTES): AsyncGenerator<FileLine> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let number = 0;
  let offset = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
    let from = 0;
    for (let newline = chunk.indexOf(10, from); newline >= 0; newline = chunk.indexOf(10, from)) {
      const piece = chunk.subarray(from, newline);
      const bytes = pendingBytes === 0 ? piece : Buffer.concat([...pending, piece]);
      pending = [];
      pendingBytes = 0;
      number += 1;
      const start = offset;
      offset += bytes.length + 1;
      if (bytes.length > maxLineBytes) throw tooLong(path, number, maxLineBytes);
      yield { bytes, number, start, end: offset, complete: true };
      from = newline + 1;
    }
    if (from < chunk.length) {
      // Copy: the stream may reuse its buffer.
      pending.push(Buffer.from(chunk.subarray(from)));
      pendingBytes += chunk.length - from;
      if (pendingBytes > maxLineBytes) throw tooLong(path, number + 1, maxLineBytes);
    }
  }
  if (pendingBytes > 0) {
    const bytes = Buffer.concat(pending);
    yield { bytes, number: number + 1, start: offset, end: offset + bytes.length, complete: false };
  }
}

function tooLong(path: string, line: number, max: number): StoreCorruptError {
  return new StoreCorruptError(path, `line ${line} is longer than ${max} bytes`);
}

/**
 * An error met while reading a data file, as a {@link StoreCorruptError} naming the file: kept
 * as it is when it already is one; a directory in the file's place, a missing or unreadable
 * file, with their system error code.
 */
export function asStoreCorrupt(path: string, error: unknown): StoreCorruptError {
  if (error instanceof StoreCorruptError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  const problem =
    code === 'EISDIR' ? 'it is a directory, not a file' : code === 'ENOENT' ? 'it is missing' : `it cannot be read (${code ?? (error as Error).message})`;
  return new StoreCorruptError(path, problem, { cause: error });
}
