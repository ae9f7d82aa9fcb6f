import { JobstreamError } from './errors.js';

/**
 * Part of a file: bytes `start` to `end` inclusive (`end` omitted: to the end of the file), or
 * the last `suffix` bytes. The shapes of an HTTP `Range: bytes=…` single range.
 */
export type ByteRange = { start: number; end?: number } | { suffix: number };

/** A range no byte of the file satisfies (it starts past the end, or asks for no bytes). */
export class RangeNotSatisfiableError extends JobstreamError {
  /** The file's size, for `Content-Range: bytes *\/<size>`. */
  readonly size: number;
  constructor(size: number) {
    super('RANGE_NOT_SATISFIABLE', `the requested range is outside the file (${size} bytes)`);
    this.size = size;
  }
}

/**
 * The inclusive byte positions a range covers in a file of `size` bytes: `end` is clamped to
 * the last byte, a suffix longer than the file is the whole file.
 *
 * @throws RangeNotSatisfiableError when it covers no byte (start at or past the end, an empty
 *   suffix, an empty file).
 * @example resolveByteRange({ suffix: 10 }, 100) // { start: 90, end: 99 }
 */
export function resolveByteRange(range: ByteRange, size: number): { start: number; end: number } {
  if ('suffix' in range) {
    if (range.suffix <= 0 || size === 0) throw new RangeNotSatisfiableError(size);
    return { start: Math.max(0, size - range.suffix), end: size - 1 };
  }
  if (range.start >= size || (range.end !== undefined && range.end < range.start)) throw new RangeNotSatisfiableError(size);
  return { start: range.start, end: Math.min(size - 1, range.end ?? size - 1) };
}
