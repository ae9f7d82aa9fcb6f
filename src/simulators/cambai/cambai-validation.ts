/** FastAPI-style error answers of the Camb.ai simulator: 422 validation issues and `{ detail }` bodies. */
import type { CambaiValidationIssue } from './cambai-schemas.js';

/** Where a value came from, FastAPI style: `['body', 'language']`, `['query', 'run_id']`. */
export type Loc = (string | number)[];

/** Either a parsed value or the FastAPI issue describing why it could not be parsed. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; issue: CambaiValidationIssue };

/**
 * Builders of FastAPI/pydantic v2 validation issues, with their `type` codes and messages.
 *
 * @example
 * issues.missing(['body', 'language']); // { type: 'missing', loc: [...], msg: 'Field required', input: null }
 */
export const issues = {
  missing: (loc: Loc, input: unknown = null): CambaiValidationIssue => ({ type: 'missing', loc, msg: 'Field required', input }),
  intParsing: (loc: Loc, input: unknown): CambaiValidationIssue => ({
    type: 'int_parsing',
    loc,
    msg: 'Input should be a valid integer, unable to parse string as an integer',
    input,
  }),
  intType: (loc: Loc, input: unknown): CambaiValidationIssue => ({ type: 'int_type', loc, msg: 'Input should be a valid integer', input }),
  boolParsing: (loc: Loc, input: unknown): CambaiValidationIssue => ({
    type: 'bool_parsing',
    loc,
    msg: 'Input should be a valid boolean, unable to interpret input',
    input,
  }),
  listType: (loc: Loc, input: unknown): CambaiValidationIssue => ({ type: 'list_type', loc, msg: 'Input should be a valid list', input }),
  enumValue: (loc: Loc, input: unknown, values: readonly string[]): CambaiValidationIssue => {
    const expected = `${values.slice(0, -1).map((v) => `'${v}'`).join(', ')} or '${values.at(-1) ?? ''}'`;
    return { type: 'enum', loc, msg: `Input should be ${expected}`, input, ctx: { expected } };
  },
  valueError: (loc: Loc, input: unknown, message: string): CambaiValidationIssue => ({
    type: 'value_error',
    loc,
    msg: `Value error, ${message}`,
    input,
    ctx: { error: {} },
  }),
  jsonInvalid: (): CambaiValidationIssue => ({
    type: 'json_invalid',
    loc: ['body', 0],
    msg: 'JSON decode error',
    input: {},
    ctx: { error: 'Expecting value' },
  }),
};

/**
 * The 422 answer FastAPI gives for invalid requests: `{ detail: [issue, ...] }`.
 *
 * @example
 * return validationError([issues.missing(['body', 'language'])]);
 */
export function validationError(list: CambaiValidationIssue[]): Response {
  return Response.json({ detail: list }, { status: 422 });
}

/**
 * FastAPI's `HTTPException` answer: `{ detail: "<message>" }` with any status.
 *
 * @example
 * return detail(404, 'Task not found');
 */
export function detail(status: number, message: string, headers?: Record<string, string>): Response {
  return Response.json({ detail: message }, { status, headers: { ...headers } });
}

/**
 * Parses an integer the way pydantic does for form, query and path values (decimal digits
 * with an optional sign).
 *
 * @example
 * parseInteger('54', ['body', 'language']); // { ok: true, value: 54 }
 */
export function parseInteger(raw: unknown, loc: Loc): Parsed<number> {
  if (typeof raw === 'number' && Number.isInteger(raw)) return { ok: true, value: raw };
  if (typeof raw === 'string' && /^\s*[+-]?\d+\s*$/.test(raw)) return { ok: true, value: Number.parseInt(raw, 10) };
  return { ok: false, issue: typeof raw === 'string' ? issues.intParsing(loc, raw) : issues.intType(loc, raw) };
}

const TRUE = new Set(['1', 'on', 't', 'true', 'y', 'yes']);
const FALSE = new Set(['0', 'off', 'f', 'false', 'n', 'no']);

/**
 * Parses a boolean query value with pydantic's accepted spellings (`true`/`false`, `1`/`0`,
 * `yes`/`no`, `on`/`off`, `t`/`f`, `y`/`n`, any case).
 *
 * @example
 * parseBoolean('True', ['query', 'word_level_timestamps']); // { ok: true, value: true }
 */
export function parseBoolean(raw: string, loc: Loc): Parsed<boolean> {
  const v = raw.trim().toLowerCase();
  if (TRUE.has(v)) return { ok: true, value: true };
  if (FALSE.has(v)) return { ok: true, value: false };
  return { ok: false, issue: issues.boolParsing(loc, raw) };
}
