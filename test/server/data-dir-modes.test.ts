import { chmod, lstat, mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/server/server.js';
import type { JobSnapshot } from '../../src/streams/job-snapshot.js';
import { eventually } from '../reliability/eventually.js';
import { FakeProvider } from '../support/fake-provider.js';

const TOKEN = 'modes-token-0123456789';

let root: string | undefined;
let server: RunningServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
  if (root !== undefined) await rm(root, { recursive: true, force: true });
  root = undefined;
});

/** Every entry under `dir` (itself included) with its permission bits, as `path: mode` in octal. */
async function modesUnder(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = { '.': ((await stat(dir)).mode & 0o777).toString(8) };
  for (const entry of await readdir(dir, { recursive: true })) {
    const path = join(dir, entry);
    out[relative(dir, path)] = ((await lstat(path)).mode & 0o777).toString(8);
  }
  return out;
}

describe('the data directory holds webhook secrets: files 0600, directories 0700', () => {
  it('after a run with an upload, webhooks, a compaction and a result copy, under umask 022, from a data directory made 0755 beforehand', async () => {
    const umask = process.umask(0o022);
    try {
      root = await mkdtemp(join(tmpdir(), 'jobstream-modes-'));
      const dataDir = join(root, 'data');
      await mkdir(dataDir);
      await chmod(dataDir, 0o755);

      const provider = new FakeProvider({ pollPolicy: { intervalMs: 3_600_000 } });
      const uploadModes: string[] = [];
      provider.beforeCreate = async (request) => {
        if (request.input?.type === 'file') {
          uploadModes.push(((await stat(request.input.path)).mode & 0o777).toString(8), ((await stat(join(dataDir, 'uploads'))).mode & 0o777).toString(8));
        }
      };
      server = await startServer({ providers: [provider], token: TOKEN, port: 0, dataDir });
      const api = (path: string, init: RequestInit = {}) => fetch(`${server!.url}${path}`, { ...init, headers: { authorization: `Bearer ${TOKEN}`, ...(init.headers as Record<string, string> | undefined) } });

      const form = new FormData();
      form.set('provider', 'fake');
      form.set('kind', 'transcription');
      // Every journal line repeats the job, so ~60 KB of metadata grows the journal past the
      // 1 MiB at which it is compacted into jobs.json within a few dozen webhooks.
      form.set('metadata', JSON.stringify({ note: 'm'.repeat(60_000) }));
      form.set('file', new Blob([new Uint8Array(4096).fill(7)], { type: 'audio/wav' }), 'riff.wav');
      const created = await api('/v1/jobs', { method: 'POST', body: form });
      expect(created.status).toBe(201);
      const { job } = (await created.json()) as { job: JobSnapshot };
      expect(uploadModes).toEqual(['600', '700']);

      const hook = provider.created[0]?.webhookUrl as string;
      const deliver = async (body: object) => {
        const answer = await fetch(hook, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        expect(answer.status).toBe(200);
      };
      for (let step = 1; step <= 24; step++) await deliver({ id: 'ext-1', status: 'WORKING', progress: step / 25 });
      await deliver({ id: 'ext-1', status: 'DONE', result: 'r1' });
      await eventually(
        async () => ((await (await api(`/v1/jobs/${job.id}`)).json()) as { job: JobSnapshot }).job.artifacts?.state,
        (state) => state === 'complete',
        { timeoutMs: 10_000, what: 'the result copy' },
      );
      await server.close();
      server = undefined;

      const modes = await modesUnder(dataDir);
      // The run wrote what this test means to cover.
      expect(Object.keys(modes)).toEqual(
        expect.arrayContaining(['.', 'LOCK', 'jobs.json', 'uploads', 'results', join('results', job.id), join('results', job.id, 'result.txt')]),
      );
      expect(Object.keys(modes).some((name) => /^journal-\d+\.jsonl$/.test(name))).toBe(true);
      const isDir = async (name: string) => (await lstat(join(dataDir, name))).isDirectory();
      const wrong: Record<string, string> = {};
      for (const [name, mode] of Object.entries(modes)) if (mode !== ((await isDir(name)) ? '700' : '600')) wrong[name] = mode;
      expect(wrong).toEqual({});
    } finally {
      process.umask(umask);
    }
  });
});
