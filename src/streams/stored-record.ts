import { z } from 'zod';
import { StoreCorruptError } from './errors.js';
import { JobSnapshot, type JsonValue } from './job-snapshot.js';
import { StoredJob } from './job-store.js';
import { tooDeepAt } from './json-depth.js';

/**
 * How deeply a JSON value read back from the data directory may nest. More lenient than what
 * new values may have ({@link MAX_JSON_DEPTH}), so that data written before that limit existed
 * still loads; still far from the depth at which recursive code overflows the stack.
 */
export const STORED_JSON_DEPTH = 256;

/** The name of a result file in `results-data/`: `<job id>.<version>.json`. */
export const RESULT_FILE_NAME = /^[A-Za-z0-9_-]{1,128}\.[1-9]\d{0,15}\.json$/;

/** Where a job's result is kept when it is too large to sit in its journal line or snapshot line. */
export const ResultFileRef = z.object({
  /** The file in `<data>/results-data/`. */
  name: z.string().regex(RESULT_FILE_NAME, 'not a result file name'),
  /** Its exact size: a shorter or longer file is damage. */
  bytes: z.number().int().nonnegative(),
});
export type ResultFileRef = z.infer<typeof ResultFileRef>;

/**
 * A JSON value that `JSON.parse` produced: JSON by construction, so only its depth is checked
 * (iteratively). Walking a multi-megabyte result with zod's recursive `z.json()` on every load is
 * what made a restart with large results take minutes.
 */
const ParsedJson = z.custom<JsonValue>((value) => value !== undefined && tooDeepAt(value, STORED_JSON_DEPTH) === undefined, {
  message: `missing, or nested deeper than ${STORED_JSON_DEPTH} levels`,
});

/** The position of a journal line in its append batch, and the checksum of the line. */
export const BatchFrame = z.object({
  /** 1-based position of this line in its batch. */
  i: z.number().int().positive(),
  /** How many lines the batch has. */
  n: z.number().int().positive(),
  /** CRC-32 (hex) of the line's bytes before `,"frame":`. */
  crc: z.string().regex(/^[0-9a-f]{8}$/),
});
export type BatchFrame = z.infer<typeof BatchFrame>;

/**
 * One job as a line of `jobs.json` or of a journal: a {@link StoredJob} whose result may live in
 * a file of its own (`resultFile`; `job.result` is then `null` in the line), and, in a journal
 * written since format 2, the line's {@link BatchFrame}. Lines written by format 1 have neither
 * and still parse.
 */
export const StoredRecord = StoredJob.extend({
  job: JobSnapshot.extend({ options: z.record(z.string(), ParsedJson), result: ParsedJson.nullable() }),
  resultFile: ResultFileRef.optional(),
  frame: BatchFrame.optional(),
});
export type StoredRecord = z.infer<typeof StoredRecord>;

/**
 * A journal line that removes a job (retention): the job's id and the version that was removed
 * (a newer version, should there be one, stays), and the change log's seq at the removal, which
 * the log continues after (a removed job's changes may have been the newest). Format 2 framing.
 */
export const RemovalRecord = z.object({
  removed: z.object({ id: z.string().min(1).max(256), version: z.number().int().positive() }),
  atSeq: z.number().int().nonnegative(),
  frame: BatchFrame.optional(),
});
export type RemovalRecord = z.infer<typeof RemovalRecord>;

/**
 * Parses one line of a data file into a {@link StoredRecord}; any problem, a stack overflow in
 * the parser included, is a {@link StoreCorruptError} naming the file and the line.
 */
export function parseStoredRecord(text: string, file: string, line: number): StoredRecord {
  return parseLine(StoredRecord, parseJson(text, file, line), file, line);
}

/** Parses one journal line: a job version ({@link StoredRecord}) or a {@link RemovalRecord}. */
export function parseJournalRecord(text: string, file: string, line: number): StoredRecord | RemovalRecord {
  const raw = parseJson(text, file, line);
  if (typeof raw === 'object' && raw !== null && 'removed' in raw) return parseLine(RemovalRecord, raw, file, line);
  return parseLine(StoredRecord, raw, file, line);
}

function parseJson(text: string, file: string, line: number): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new StoreCorruptError(file, `line ${line} is not valid JSON`, { cause: error });
  }
}

function parseLine<T extends z.ZodType>(schema: T, raw: unknown, file: string, line: number): z.infer<T> {
  let parsed: ReturnType<T['safeParse']>;
  try {
    parsed = schema.safeParse(raw) as ReturnType<T['safeParse']>;
  } catch (error) {
    // Only a pathological value gets here (the depth checks run first): still name the place.
    throw new StoreCorruptError(file, `line ${line} cannot be checked (${(error as Error).message})`, { cause: error });
  }
  if (!parsed.success) throw new StoreCorruptError(file, `line ${line}: ${describeIssue(parsed.error)}`);
  return parsed.data as z.infer<T>;
}

/** The first zod issue as "path: message". */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return 'invalid content';
  const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
  return path ? `${path}: ${issue.message}` : issue.message;
}
