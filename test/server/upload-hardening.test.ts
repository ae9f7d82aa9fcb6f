import { mkdir, mkdtemp, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/server.js';
import { eventually } from '../reliability/eventually.js';
import { startTestServer, TOKEN } from '../support/test-server.js';
import { mountTmpfs, type Tmpfs } from '../support/tmpfs.js';
import { multipartBody, rawRequest, uploadHead } from './raw-upload.js';

const BOUNDARY = 'jobstream-test-boundary';
const FIELDS = [
  { name: 'provider', data: 'fake' },
  { name: 'kind', data: 'transcription' },
];
const fileBody = (bytes: number) => multipartBody(BOUNDARY, [...FIELDS, { name: 'file', filename: 'take.wav', contentType: 'audio/wav', data: Buffer.alloc(bytes, 7) }]);
const head = (contentLength: number, boundary = BOUNDARY) =>
  uploadHead({ token: TOKEN, contentType: `multipart/form-data; boundary=${boundary}`, contentLength });

// Every rejection nobody handled, seen by this file's tests (vitest would also fail the run).
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
beforeAll(() => {
  process.on('unhandledRejection', onUnhandled);
});
afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
});

const dirs: string[] = [];
const servers: RunningServer[] = [];
const mounts: Tmpfs[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  for (const tmpfs of mounts.splice(0)) await tmpfs.remove();
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  unhandled.length = 0;
});

async function setup(options: Parameters<typeof startTestServer>[0] = {}) {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'jobstream-upload-')));
  dirs.push(dataDir);
  const started = await startTestServer({ ...options, dataDir });
  servers.push(started.server);
  const uploads = join(dataDir, 'uploads');
  const leftovers = () => readdir(uploads).catch(() => [] as string[]);
  /** Files in uploads/ this process still holds open (a write never finished, even if unlinked). */
  const openUploads = async () => {
    const fds = await readdir('/proc/self/fd').catch(() => [] as string[]);
    const targets = await Promise.all(fds.map((fd) => readlink(join('/proc/self/fd', fd)).catch(() => '')));
    return targets.filter((target) => target.startsWith(uploads));
  };
  /** The server still answers, takes a normal upload, and nothing is left in uploads/. */
  const stillServing = async () => {
    expect((await fetch(`${started.server.url}/healthz`)).status).toBe(200);
    const form = new FormData();
    form.set('provider', 'fake');
    form.set('kind', 'transcription');
    form.set('file', new Blob([Buffer.alloc(100, 1)], { type: 'audio/wav' }), 'after.wav');
    const res = await started.api('/v1/jobs', { method: 'POST', body: form });
    expect(res.status).toBe(201);
    expect(await eventually(leftovers, (names) => names.length === 0, { timeoutMs: 5000, what: 'uploads/ to be empty' })).toEqual([]);
    expect(await eventually(openUploads, (open) => open.length === 0, { timeoutMs: 5000, what: 'no upload to be held open' })).toEqual([]);
    expect(unhandled).toEqual([]);
  };
  return { ...started, dataDir, uploads, leftovers, stillServing };
}

describe('multipart uploads that break off', () => {
  it('a client that aborts mid-file (socket destroyed) ends only its request: no crash, no partial file, the next upload works', async () => {
    const { server, provider, leftovers, stillServing } = await setup();
    const body = fileBody(256 * 1024);
    const outcome = await rawRequest(server.port, head(body.length), body.subarray(0, 100 * 1024), 'destroy', async () => {
      // The server has started writing the file: the abort hits a write in progress.
      await eventually(leftovers, (names) => names.length === 1, { timeoutMs: 5000, what: 'the partial upload to appear' });
    });
    expect(outcome.status).toBeUndefined();
    await eventually(leftovers, (names) => names.length === 0, { timeoutMs: 5000, what: 'the partial upload to be removed' });
    await stillServing();
    expect(provider.created).toHaveLength(1);
    expect(server.engine.list({}).jobs).toHaveLength(1);
  });

  it('a truncated body (Content-Length larger than sent, then half-close) is answered 400 or closed, and leaves no file', async () => {
    const { server, provider, leftovers, stillServing } = await setup();
    const body = fileBody(256 * 1024);
    const outcome = await rawRequest(server.port, head(body.length), body.subarray(0, 100 * 1024), 'half-close', async () => {
      await eventually(leftovers, (names) => names.length === 1, { timeoutMs: 5000, what: 'the partial upload to appear' });
    });
    expect([400, undefined]).toContain(outcome.status);
    await stillServing();
    expect(provider.created).toHaveLength(1);
  });

  it('a body that ends mid-file without its closing boundary (Unexpected end of form) is 400 and leaves no file', async () => {
    const { server, provider, stillServing } = await setup();
    const body = fileBody(64 * 1024).subarray(0, 40 * 1024);
    const outcome = await rawRequest(server.port, head(body.length), body, 'wait');
    expect(outcome.status).toBe(400);
    expect(outcome.text).toContain('INVALID_REQUEST');
    await stillServing();
    expect(provider.created).toHaveLength(1);
  });

  it('malformed boundaries and part headers (a closing boundary that does not match, so the file never ends; a declared boundary the body does not use; a broken part header mid-body) are 400 and leave no file', async () => {
    const { server, stillServing } = await setup();
    const closing = `--${BOUNDARY}--\r\n`;
    const cases: [string, string, Buffer][] = [
      ['closing boundary', BOUNDARY, Buffer.from(fileBody(8 * 1024).toString('latin1').replace(closing, `--${BOUNDARY.slice(0, -3)}--\r\n`), 'latin1')],
      ['declared boundary', 'another-boundary', fileBody(8 * 1024)],
      [
        'part header',
        BOUNDARY,
        Buffer.concat([
          fileBody(1024).subarray(0, -closing.length),
          Buffer.from(`--${BOUNDARY}\r\nthis line is not a header\r\n\r\n`),
          Buffer.alloc(1024 * 1024, 9),
        ]),
      ],
    ];
    for (const [what, boundary, body] of cases) {
      const outcome = await rawRequest(server.port, head(body.length, boundary), body, 'wait');
      expect({ what, status: outcome.status }).toEqual({ what, status: 400 });
      expect(outcome.text).toMatch(/the form could not be read/);
    }
    await stillServing();
  });

  it('a write that fails part-way (disk full: ENOSPC on a 256 KiB tmpfs) is 503 with Retry-After and without a path, leaves no file and does not hang the request', async (context) => {
    const tmpfs = await mountTmpfs('256k');
    if (tmpfs === undefined) return context.skip('mounting a tmpfs needs root');
    mounts.push(tmpfs);
    const dataDir = tmpfs.dir;
    const { api, stillServing } = await setup({ dataDir });
    const form = new FormData();
    form.set('provider', 'fake');
    form.set('kind', 'transcription');
    form.set('file', new Blob([Buffer.alloc(2 * 1024 * 1024, 3)]), 'big.wav');
    const res = await api('/v1/jobs', { method: 'POST', body: form, signal: AbortSignal.timeout(5000) });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    const text = await res.text();
    expect(JSON.parse(text)).toMatchObject({ error: { code: 'UPLOAD_NOT_STORED' } });
    expect(text).not.toContain(dataDir);
    await stillServing();
  });

  it('removes leftovers in <data>/uploads/ when the server starts', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'jobstream-upload-'));
    await mkdir(join(dataDir, 'uploads', 'nested'), { recursive: true });
    await writeFile(join(dataDir, 'uploads', '1700000000000-abcdef'), 'partial');
    await writeFile(join(dataDir, 'uploads', 'nested', 'x'), 'partial');
    const { leftovers, stillServing } = await setup({ dataDir });
    expect(await leftovers()).toEqual([]);
    await stillServing();
  });
});
