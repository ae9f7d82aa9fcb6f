import { mkdtemp, readdir, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../reliability/eventually.js';
import { startTestServer, TOKEN } from '../support/test-server.js';
import { multipartBody, rawRequest, uploadHead, type RawOutcome, type RawPart } from './raw-upload.js';

const MAX_UPLOAD = 2048;
const BOUNDARY = 'fuzz-boundary-7f3a';

/** Bytes that break a multipart body when dropped in at a random place. */
const GARBAGE = [
  `--${BOUNDARY}\r\n`,
  `--${BOUNDARY}--\r\n`,
  `\r\n--${BOUNDARY}\r\nno colon in this header\r\n\r\n`,
  `\r\n--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="x.wav"\r\n\r\n`,
  `\r\n--${BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\n`,
  '\r\n\r\n',
  '--',
  `\r\n--${BOUNDARY.slice(0, 5)}`,
  'Content-Type: \u0000\r\n',
];

const Part = fc.oneof(
  fc.record({ name: fc.constantFrom('name', 'metadata', 'options', 'junk'), data: fc.string({ maxLength: 40 }) }),
  fc.record({ name: fc.constant('other'), filename: fc.constant('o.bin'), data: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)) }),
);

function mostly<T>(value: T): fc.Arbitrary<T | boolean> {
  return fc.oneof({ weight: 4, arbitrary: fc.constant(value) }, { weight: 1, arbitrary: fc.boolean() });
}

/** A form: the usual fields, a file (sometimes over the limit, sometimes absent) and extra parts. */
const Form = fc.record({
  fileBytes: fc.oneof(fc.integer({ min: 0, max: 1500 }), fc.integer({ min: MAX_UPLOAD + 1, max: 3 * MAX_UPLOAD })),
  withFile: mostly(true),
  extra: fc.array(Part, { maxLength: 2 }),
  validKind: mostly(true),
});

type FormCase = { fileBytes: number; withFile: boolean; extra: RawPart[]; validKind: boolean };

/** Where in the body to cut or insert, as a fraction of its length: spread evenly (no bias to the ends). */
const Fraction = fc.noBias(fc.integer({ min: 0, max: 10_000 })).map((n) => n / 10_000);

/** What happens to the request on the way. */
const Damage = fc.oneof(
  fc.constant({ type: 'none' as const }),
  fc.record({ type: fc.constant('truncate' as const), at: Fraction }),
  fc.record({ type: fc.constant('half-close' as const), at: Fraction }),
  fc.record({ type: fc.constant('abort' as const), at: Fraction }),
  fc.record({ type: fc.constant('insert' as const), at: Fraction, garbage: fc.constantFrom(...GARBAGE) }),
  fc.record({
    type: fc.constant('content-type' as const),
    header: fc.constantFrom('multipart/form-data', 'multipart/form-data; boundary=', `multipart/form-data; boundary="${BOUNDARY}`, 'multipart/form-data; boundary=other'),
  }),
);

function build(form: FormCase): Buffer {
  const parts: RawPart[] = [
    { name: 'provider', data: 'fake' },
    { name: 'kind', data: form.validKind ? 'transcription' : 'nonsense' },
    ...form.extra,
  ];
  if (form.withFile) parts.push({ name: 'file', filename: 'take.wav', contentType: 'audio/wav', data: Buffer.alloc(form.fileBytes, 5) });
  return multipartBody(BOUNDARY, parts);
}

const ACCEPTED = new Set([201, 400, 413]);

describe('multipart upload fuzzing', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>['server'];
  let api: Awaited<ReturnType<typeof startTestServer>>['api'];
  let dataDir: string;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    dataDir = await mkdtemp(join(tmpdir(), 'jobstream-upload-fuzz-'));
    ({ server, api } = await startTestServer({ dataDir, maxUploadBytes: MAX_UPLOAD }));
  });
  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('1,000 truncated, aborted, half-closed, damaged, oversize and extra-part uploads: each is 201/400/413 or a closed connection, and the server ends alive with uploads/ empty', async () => {
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(Form, Damage, async (form, damage) => {
        const body = build(form);
        const cut = (at: number) => Math.floor(at * body.length);
        let outcome: RawOutcome;
        const contentType = damage.type === 'content-type' ? damage.header : `multipart/form-data; boundary=${BOUNDARY}`;
        const head = (length: number) => uploadHead({ token: TOKEN, contentType, contentLength: length });
        switch (damage.type) {
          case 'none':
          case 'content-type':
            outcome = await rawRequest(server.port, head(body.length), body, 'wait');
            break;
          case 'truncate': {
            const sent = body.subarray(0, cut(damage.at));
            outcome = await rawRequest(server.port, head(sent.length), sent, 'wait');
            break;
          }
          case 'half-close':
            outcome = await rawRequest(server.port, head(body.length), body.subarray(0, cut(damage.at)), 'half-close');
            break;
          case 'abort':
            outcome = await rawRequest(server.port, head(body.length), body.subarray(0, cut(damage.at)), 'destroy');
            break;
          case 'insert': {
            const damaged = Buffer.concat([body.subarray(0, cut(damage.at)), Buffer.from(damage.garbage, 'latin1'), body.subarray(cut(damage.at))]);
            outcome = await rawRequest(server.port, head(damaged.length), damaged, 'wait');
            break;
          }
        }
        const key = `${damage.type}:${outcome.status ?? 'closed'}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
        if (outcome.status !== undefined) expect(ACCEPTED, `${damage.type} answered ${outcome.text.slice(0, 300)}`).toContain(outcome.status);
        if (damage.type === 'none') {
          const expected = form.extra.some((p) => p.name === 'other') || !form.withFile ? 400 : form.fileBytes > MAX_UPLOAD ? 413 : form.validKind ? 201 : 400;
          // Random metadata or options are mostly not what the schema wants: 400 as well.
          const free = form.extra.some((p) => p.name === 'metadata' || p.name === 'options');
          expect(expected === 201 && free ? [201, 400] : [expected], outcome.text.slice(0, 300)).toContain(outcome.status);
        }
        if (damage.type === 'content-type') expect(outcome.status).toBe(400);
      }),
      { numRuns: 1000 },
    );

    // Every kind of damage was tried, and some uploads went through.
    expect([...seen.keys()].map((k) => k.split(':')[0])).toEqual(expect.arrayContaining(['none', 'truncate', 'half-close', 'abort', 'insert', 'content-type']));
    expect(seen.get('none:201') ?? 0).toBeGreaterThan(0);

    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const form = new FormData();
    form.set('provider', 'fake');
    form.set('kind', 'transcription');
    form.set('file', new Blob([Buffer.alloc(100, 1)]), 'after.wav');
    expect((await api('/v1/jobs', { method: 'POST', body: form })).status).toBe(201);

    const uploads = join(dataDir, 'uploads');
    await eventually(() => readdir(uploads), (names) => names.length === 0, { timeoutMs: 5000, what: 'uploads/ to be empty' });
    const held = async () => {
      const fds = await readdir('/proc/self/fd').catch(() => [] as string[]);
      return (await Promise.all(fds.map((fd) => readlink(join('/proc/self/fd', fd)).catch(() => '')))).filter((t) => t.startsWith(uploads));
    };
    await eventually(held, (open) => open.length === 0, { timeoutMs: 5000, what: 'no upload to be held open' });
    expect(unhandled).toEqual([]);
  }, 60_000);
});
