import { StoreCorruptError } from './errors.js';
import { readLines } from './line-reader.js';
import { parseJournalRecord, type RemovalRecord, type StoredRecord } from './stored-record.js';

/**
 * The journal's framing (format 2). Every `append` is one batch of lines, written with one
 * `write` and one `fsync`, and each line says where it stands in its batch and carries a
 * checksum of itself:
 *
 * ```
 * {"job":{…},"secret":"…","frame":{"i":1,"n":2,"crc":"8c736521"}}
 * {"job":{…},"secret":"…","resultFile":{"name":"job_….7.json","bytes":598016},"frame":{"i":2,"n":2,"crc":"0a9b1f3e"}}
 * ```
 *
 * `crc` is the CRC-32 of the line's bytes before `,"frame":`. Each line is still a JSON object
 * with `job` and `secret`, so `jq` and format-1 readers keep working.
 *
 * What the frames prove: a crash in mid-append leaves a prefix of the last batch (some of its
 * lines, perhaps half a line): that is the *torn tail*, never acknowledged, and dropped whole.
 * Anything else (a line missing, repeated or changed inside a batch, a batch cut short before
 * another one starts, an invalid line that is not the last) cannot come from a crash and is
 * reported as damage. What they cannot prove: a file whose tail was cut off looks like a crash,
 * wherever the cut falls (at a batch boundary nothing is missing from the file's point of view;
 * inside a batch it is a torn tail). That case is caught by the clean-shutdown record instead
 * (see `CleanShutdown`), when there is one: after a clean `close`, not after a crash.
 *
 * A line may also remove a job (`{"removed":{"id":…,"version":…},"atSeq":…,"frame":…}`, see
 * `RemovalRecord`): retention writes all the removals of one sweep as one batch, so a crash
 * leaves them all or none.
 *
 * Lines without a frame are format-1 lines, read as before: they may only precede the first
 * framed line of a file (a journal written by format 1 and continued by format 2).
 */
export interface JournalScan {
  /** Bytes up to the end of the last whole batch (or format-1 line): what is kept. */
  validBytes: number;
  /** The file's size as read. */
  size: number;
  /** What the torn tail past `validBytes` is, when there is one; `undefined` when the file ends cleanly. */
  tail: string | undefined;
}

const FRAME_MARK = Buffer.from(',"frame":');

/**
 * Frames one append batch: one line per serialised record (`JSON.stringify` of an object), each
 * given its position and checksum. The result is written with a single write.
 */
export function encodeJournalBatch(records: readonly string[]): Buffer {
  const n = records.length;
  const parts: Buffer[] = [];
  records.forEach((json, index) => {
    if (!json.startsWith('{"') || !json.endsWith('}')) throw new TypeError('a journal record must be a non-empty JSON object');
    const body = Buffer.from(json.slice(0, -1));
    const frame = `,"frame":{"i":${index + 1},"n":${n},"crc":"${crc32Hex(body)}"}}\n`;
    parts.push(body, Buffer.from(frame));
  });
  return Buffer.concat(parts);
}

/**
 * Streams a journal, checks its frames and hands each record of each *whole* batch to
 * `onRecord` in file order (a batch's records only once its last line is read). Damage that a
 * crash cannot explain throws a {@link StoreCorruptError} naming the file and line; a torn tail
 * is reported in the result for the caller to judge (it is only acceptable in the last journal).
 */
export async function readJournal(path: string, onRecord: (record: StoredRecord | RemovalRecord, line: number) => void): Promise<JournalScan> {
  let validBytes = 0;
  let size = 0;
  let framed = false;
  let batch: { firstLine: number; n: number; records: { record: StoredRecord | RemovalRecord; line: number }[] } | undefined;
  const incomplete = (b: NonNullable<typeof batch>): string =>
    `the batch that starts at line ${b.firstLine} has ${b.records.length} of its ${b.n} lines`;

  for await (const line of readLines(path)) {
    size = line.end;
    if (!line.complete) {
      // Half a line at the very end: the last write was cut short.
      return { validBytes, size, tail: batch === undefined ? `line ${line.number} is incomplete` : `${incomplete(batch)} and line ${line.number} is incomplete` };
    }
    const record = parseJournalRecord(line.bytes.toString('utf8'), path, line.number);
    const frame = record.frame;
    if (frame === undefined) {
      if (framed) throw new StoreCorruptError(path, `line ${line.number} has no batch frame, but earlier lines have`);
      onRecord(record, line.number);
      validBytes = line.end;
      continue;
    }
    framed = true;
    const mark = line.bytes.lastIndexOf(FRAME_MARK);
    if (mark < 0 || crc32Hex(line.bytes.subarray(0, mark)) !== frame.crc) {
      throw new StoreCorruptError(path, `line ${line.number} does not match its checksum: it was changed or spliced`);
    }
    if (frame.i === 1) {
      if (batch !== undefined) throw new StoreCorruptError(path, `${incomplete(batch)}, but line ${line.number} starts another`);
      batch = { firstLine: line.number, n: frame.n, records: [] };
    } else if (batch === undefined || frame.n !== batch.n || frame.i !== batch.records.length + 1) {
      const expected = batch === undefined ? 'the first line of a batch' : `line ${batch.records.length + 1} of ${batch.n}`;
      throw new StoreCorruptError(path, `line ${line.number} is line ${frame.i} of a batch of ${frame.n}, where ${expected} should be`);
    }
    batch.records.push({ record, line: line.number });
    if (frame.i === frame.n) {
      for (const entry of batch.records) onRecord(entry.record, entry.line);
      batch = undefined;
      validBytes = line.end;
    }
  }
  return { validBytes, size, tail: batch === undefined ? undefined : incomplete(batch) };
}

const CRC_TABLE = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
})();

/** CRC-32 (IEEE, as zlib and `cksum -a crc32b` compute it) as 8 hex digits. */
export function crc32Hex(bytes: Uint8Array): string {
  let crc = -1;
  for (let i = 0; i < bytes.length; i++) crc = (CRC_TABLE[(crc ^ (bytes[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  return ((crc ^ -1) >>> 0).toString(16).padStart(8, '0');
}
