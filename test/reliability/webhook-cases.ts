import fc from 'fast-check';
import { parseKlangioWebhook } from '../../src/providers/klangio/klangio-adapter-status.js';
import type { ParsedWebhook, WebhookDelivery } from '../../src/streams/provider-port.js';
import { parseSunoapiWebhook } from '../../src/providers/sunoapi/sunoapi-adapter-webhook.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A job a fuzzed delivery can be aimed at. */
export interface HookTarget {
  id: string;
  provider: string;
  externalId: string;
  token: string;
}

/** How the body of one fuzzed delivery is made and sent. */
export interface WebhookBody {
  /** What kind of case this is, for failure messages. */
  kind: 'json' | 'near-miss' | 'valid' | 'bytes' | 'empty' | 'huge' | 'padded';
  bytes: Buffer;
  /** Sent without Content-Length (chunked), so a size limit must be found while streaming. */
  chunked: boolean;
}

/** One fuzzed delivery: body, content type and extra headers. */
export interface WebhookCase {
  body: WebhookBody;
  contentType: string | undefined;
  headers: Record<string, string>;
}

/** What the intake must answer, as docs/protocol.md says. */
export type ExpectedAnswer =
  | { status: 200 }
  | { status: 400; code: 'INVALID_WEBHOOK' }
  | { status: 404; code: 'UNKNOWN_WEBHOOK_TOKEN' }
  | { status: 413; code: 'PAYLOAD_TOO_LARGE' };

/** The webhook parsers of the providers that send webhooks, used as the oracle for valid bodies. */
const PARSERS: Record<string, (delivery: WebhookDelivery) => ParsedWebhook> = {
  klangio: parseKlangioWebhook,
  sunoapi: parseSunoapiWebhook,
};

/**
 * The documented answer to a delivery. The path is checked before the body is read: 404
 * `UNKNOWN_WEBHOOK_TOKEN` when it names no job (`target` undefined), whatever the body. Then
 * 413 past the size limit; 400 `INVALID_WEBHOOK` for a body that is not JSON; 400 when the
 * provider sends no webhooks or the body cannot be understood or names another provider job;
 * else 200.
 */
export function expectedAnswer(target: HookTarget | undefined, body: Buffer, limit: number): ExpectedAnswer {
  if (target === undefined) return { status: 404, code: 'UNKNOWN_WEBHOOK_TOKEN' };
  if (body.length > limit) return { status: 413, code: 'PAYLOAD_TOO_LARGE' };
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return { status: 400, code: 'INVALID_WEBHOOK' };
  }
  const parse = PARSERS[target.provider];
  if (parse === undefined) return { status: 400, code: 'INVALID_WEBHOOK' };
  try {
    const parsed = parse({ body: value, headers: {} });
    if (parsed.externalId !== undefined && parsed.externalId !== target.externalId) return { status: 400, code: 'INVALID_WEBHOOK' };
  } catch {
    return { status: 400, code: 'INVALID_WEBHOOK' };
  }
  return { status: 200 };
}

/** Bodies the provider really sends (or could), for a job with this external id. */
export function realBodies(provider: string, externalId: string): Json[] {
  switch (provider) {
    case 'klangio':
      return ['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED', 'FAILED'].flatMap((status) => [
        { job_id: externalId, status },
        { id: externalId, status },
      ]);
    case 'sunoapi':
      return [
        {
          code: 200,
          msg: 'vocal Removal generated successfully.',
          data: {
            task_id: externalId,
            vocal_removal_info: { vocal_url: 'http://127.0.0.1:9/files/t/vocal.wav', instrumental_url: 'http://127.0.0.1:9/files/t/instrumental.wav' },
          },
        },
        { code: 500, msg: 'Separation failed', data: { task_id: externalId, vocal_removal_info: null } },
        { code: 200, msg: 'success', task_id: externalId, data: { state: 'complete', instruments: [] } },
        { code: '200', msg: null, taskId: externalId, data: null },
        { code: 501, msg: 'MIDI generation failed', task_id: externalId, data: { task_id: externalId, state: 'failed' } },
      ];
    default:
      // Poll-only providers send nothing; a body in the shape of their poll answers.
      return [{ id: externalId, status: 'SUCCEEDED' }, { task_id: externalId, status: 'SUCCESS', run_id: 7 }];
  }
}

type Path = (string | number)[];

function pathsOf(value: Json, at: Path = []): Path[] {
  const here = at.length === 0 ? [] : [at];
  if (Array.isArray(value)) return [...here, ...value.flatMap((item, i) => pathsOf(item, [...at, i]))];
  if (value !== null && typeof value === 'object') return [...here, ...Object.entries(value).flatMap(([key, item]) => pathsOf(item, [...at, key]))];
  return here;
}

function parentOf(root: Json, path: Path): Json | undefined {
  let node: Json | undefined = root;
  for (const step of path.slice(0, -1)) node = node !== null && typeof node === 'object' ? (node as Record<string | number, Json>)[step] : undefined;
  return node;
}

const ID_KEYS = ['job_id', 'id', 'task_id', 'taskId'];
const STATUS_KEYS = ['status', 'code', 'state'];

/** One small edit of a valid body. */
type Mutation =
  | { op: 'delete'; at: number }
  | { op: 'replace'; at: number; value: Json }
  | { op: 'add'; key: string; value: Json }
  | { op: 'id'; value: Json }
  | { op: 'status'; value: Json }
  | { op: 'wrap'; how: 'array' | 'string' | 'data' };

function mutate(body: Json, mutation: Mutation): Json {
  const copy = structuredClone(body);
  const paths = pathsOf(copy);
  switch (mutation.op) {
    case 'delete':
    case 'replace': {
      const path = paths[mutation.at % Math.max(1, paths.length)];
      if (path === undefined) return mutation.op === 'replace' ? mutation.value : copy;
      const parent = parentOf(copy, path);
      const key = path.at(-1)!;
      if (parent === null || typeof parent !== 'object') return copy;
      if (mutation.op === 'replace') (parent as Record<string | number, Json>)[key] = mutation.value;
      else if (Array.isArray(parent)) parent.splice(Number(key), 1);
      else delete (parent as Record<string, Json>)[key];
      return copy;
    }
    case 'add':
      if (copy !== null && typeof copy === 'object' && !Array.isArray(copy)) copy[mutation.key] = mutation.value;
      return copy;
    case 'id':
    case 'status': {
      const keys = mutation.op === 'id' ? ID_KEYS : STATUS_KEYS;
      for (const path of paths) {
        const parent = parentOf(copy, path);
        if (keys.includes(String(path.at(-1))) && parent !== null && typeof parent === 'object') {
          (parent as Record<string | number, Json>)[path.at(-1)!] = mutation.value;
        }
      }
      return copy;
    }
    case 'wrap':
      return mutation.how === 'array' ? [copy] : mutation.how === 'string' ? JSON.stringify(copy) : { data: copy };
  }
}

const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)), maxLength: 60 });
const json = fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>;

/** Content types a delivery may come with: right, wrong, odd or none. */
export const contentTypes: fc.Arbitrary<string | undefined> = fc.oneof(
  fc.constantFrom(
    undefined,
    'application/json',
    'application/json; charset=utf-8',
    'APPLICATION/JSON;charset=UTF-16',
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=----jobstream',
    'application/octet-stream',
    'application/xml',
    'application/json, text/plain',
  ),
  printable,
);

/** Extra request headers (signatures, user agents, junk), never ones that change HTTP framing. */
export const extraHeaders: fc.Arbitrary<Record<string, string>> = fc.dictionary(
  fc.oneof(fc.stringMatching(/^x-[a-z0-9-]{1,16}$/), fc.constantFrom('user-agent', 'x-signature', 'authorization', 'accept', 'content-encoding', 'x-forwarded-for')),
  printable,
  { maxKeys: 3 },
);

/**
 * Bodies for a delivery aimed at `target` (or, for unknown tokens, at nothing in particular):
 * arbitrary JSON, real bodies, near misses mutated from real ones, non-JSON bytes, an empty
 * body, bodies past `limit` (declared or streamed), and real bodies padded to just under it.
 */
export function webhookBodies(realOnes: readonly Json[], otherIds: readonly string[], limit: number): fc.Arbitrary<WebhookBody> {
  const real = fc.constantFrom(...realOnes);
  const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
    fc.record({ op: fc.constant('replace' as const), at: fc.nat(), value: json }),
    fc.record({ op: fc.constant('add' as const), key: fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom(...ID_KEYS, ...STATUS_KEYS, 'data', 'msg')), value: json }),
    fc.record({ op: fc.constant('id' as const), value: fc.oneof(fc.constantFrom<Json>(...otherIds, '', ' ', 0, -1, null), fc.string({ maxLength: 30 }), fc.integer()) }),
    fc.record({
      op: fc.constant('status' as const),
      value: fc.oneof(
        fc.constantFrom<Json>('in_progress', ' COMPLETED ', 'SUCCESS', 'FAILED', 'PENDING', 'complete', 'failed', 200, '200', 399, 400, 430, 500, '5e2', 200.5, -200, null),
        fc.string({ maxLength: 20 }),
        fc.integer(),
      ),
    }),
    fc.record({ op: fc.constant('wrap' as const), how: fc.constantFrom('array' as const, 'string' as const, 'data' as const) }),
  );
  const text = (kind: WebhookBody['kind'], value: Json, chunked = false): WebhookBody => ({ kind, bytes: Buffer.from(JSON.stringify(value)), chunked });
  return fc.oneof(
    { weight: 3, arbitrary: json.map((value) => text('json', value)) },
    { weight: 2, arbitrary: real.map((value) => text('valid', value)) },
    { weight: 6, arbitrary: fc.tuple(real, fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([value, edits]) => text('near-miss', edits.reduce(mutate, value))) },
    {
      weight: 2,
      arbitrary: fc
        .oneof(
          fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
          fc.string({ maxLength: 200 }).map((s) => Buffer.from(s)),
          real.map((value) => Buffer.from(JSON.stringify(value).slice(0, -1))),
          real.map((value) => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(value))])),
        )
        .map((bytes) => ({ kind: 'bytes' as const, bytes, chunked: false })),
    },
    { weight: 1, arbitrary: fc.boolean().map((chunked) => ({ kind: 'empty' as const, bytes: Buffer.alloc(0), chunked })) },
    {
      weight: 1,
      arbitrary: fc
        .record({ size: fc.integer({ min: limit + 1, max: limit * 3 }), valid: fc.boolean(), value: real, chunked: fc.boolean() })
        .map(({ size, valid, value, chunked }) => ({ kind: 'huge' as const, bytes: padded(value, size, valid), chunked })),
    },
    {
      weight: 1,
      arbitrary: fc
        .record({ size: fc.integer({ min: limit - 64, max: limit }), value: real, chunked: fc.boolean() })
        .map(({ size, value, chunked }) => ({ kind: 'padded' as const, bytes: padded(value, size, true), chunked })),
    },
  );
}

/** `value` as JSON grown to `size` bytes with a padding field (or plain junk when not `valid`). */
function padded(value: Json, size: number, valid: boolean): Buffer {
  if (!valid) return Buffer.alloc(size, 'x');
  const base = value !== null && typeof value === 'object' && !Array.isArray(value) ? { ...value, pad: '' } : { value, pad: '' };
  const empty = JSON.stringify(base).length;
  return Buffer.from(JSON.stringify({ ...base, pad: 'p'.repeat(Math.max(0, size - empty)) }));
}
