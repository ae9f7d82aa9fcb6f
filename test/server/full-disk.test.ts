import { open, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { filter, firstValueFrom } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/server/server.js';
import type { EngineEvent } from '../../src/streams/engine.js';
import { FileStore } from '../../src/streams/file-store.js';
import type { JobChange } from '../../src/streams/job-change.js';
import type { JobSnapshot } from '../../src/streams/job-snapshot.js';
import type { StoredJob } from '../../src/streams/job-store.js';
import { FakeProvider, tokenOf } from '../support/fake-provider.js';
import { mountTmpfs, type Tmpfs } from '../support/tmpfs.js';

const TOKEN = 'full-disk-token-0123456789';

/** A real small file system: a 256 KiB tmpfs (skipped without root, except under CI=true). */
let tmpfs: Tmpfs | undefined;

beforeAll(async () => {
  tmpfs = await mountTmpfs('256k');
});

afterAll(async () => {
  await tmpfs?.remove();
});

/** Writes a file until the file system has no space left (the last write is cut short, then ENOSPC). */
async function fill(path: string): Promise<void> {
  const file = await open(path, 'w');
  const chunk = Buffer.alloc(4096, 1);
  try {
    for (;;) await file.write(chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    await file.close();
  }
}

/** Every line of every journal, parsed; fails on a partial line. */
async function journalJobs(dir: string): Promise<StoredJob[]> {
  const out: StoredJob[] = [];
  for (const file of (await readdir(dir)).filter((f) => f.startsWith('journal-')).sort()) {
    const text = await readFile(join(dir, file), 'utf8');
    expect(text === '' || text.endsWith('\n'), `${file} ends with a whole line`).toBe(true);
    for (const line of text.split('\n').slice(0, -1)) out.push(JSON.parse(line) as StoredJob);
  }
  return out;
}

describe('a full disk', () => {
  it('full disk (8 KB free reproduction, on a full tmpfs): webhooks and writes get 503 with Retry-After, nothing unkept is acknowledged, /healthz says why; freeing space recovers by itself and the store loads again', async (ctx) => {
    if (tmpfs === undefined) return ctx.skip();
    const root = tmpfs.dir;
    const dataDir = join(root, 'data');
    const filler = join(root, 'filler');
    const provider = new FakeProvider();
    provider.set('ext-tracked', 'WORKING');
    let server: RunningServer | undefined = await startServer({ providers: [provider], token: TOKEN, port: 0, dataDir });
    const base = server.url;
    const engine = server.engine;
    const api = (path: string, init: RequestInit = {}) =>
      fetch(`${base}${path}`, { ...init, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...(init.headers as Record<string, string> | undefined) } });
    const post = (path: string, body: unknown) => api(path, { method: 'POST', body: JSON.stringify(body) });
    // Every journal line is longer than a page, so no write can fit in what a full disk has left.
    const metadata = { pad: 'x'.repeat(4500) };
    const submitBody = { provider: 'fake', kind: 'transcription', input: { type: 'url', url: 'https://example.com/a.wav' }, metadata };
    const trackBody = { provider: 'fake', kind: 'transcription', externalId: 'ext-tracked', metadata };
    try {
      const a = ((await (await post('/v1/jobs', submitBody)).json()) as { job: JobSnapshot }).job;
      const b = ((await (await post('/v1/jobs', submitBody)).json()) as { job: JobSnapshot }).job;
      const hookA = `${base}/v1/hooks/fake/${tokenOf(provider.created[0]?.webhookUrl)}`;
      const deliver = () => fetch(hookA, { method: 'POST', body: JSON.stringify({ id: 'ext-1', status: 'WORKING', progress: 0.5 }), headers: { 'content-type': 'application/json' } });

      const changes: JobChange[] = [];
      const events: EngineEvent[] = [];
      const watching = [engine.changes$().subscribe((change) => changes.push(change)), engine.events$.subscribe((event) => events.push(event))];
      const recovered = firstValueFrom(engine.events$.pipe(filter((event) => event.type === 'store-recovered')));
      const bCanceled = firstValueFrom(engine.changes$().pipe(filter((change) => change.job.id === b.id && change.job.status === 'canceled')));

      await fill(filler);

      // The webhook is answered at once, 503 with Retry-After, and not acknowledged.
      const refused = await deliver();
      expect(refused.status).toBe(503);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(await refused.json()).toMatchObject({ error: { code: 'STORE_UNAVAILABLE' } });
      // The provider retries while the disk is still full: a duplicate of what is not durable is refused too.
      expect((await deliver()).status).toBe(503);
      expect(((await (await api(`/v1/jobs/${a.id}`)).json()) as { job: JobSnapshot }).job).toMatchObject({ status: 'queued', version: a.version });
      expect(changes).toEqual([]);

      // /healthz: only "not ok" without the token, the reason with it.
      const open = await fetch(`${base}/healthz`);
      expect(open.status).toBe(503);
      expect(await open.json()).toEqual({ status: 'unavailable' });
      const detailed = await api('/healthz');
      expect(detailed.status).toBe(503);
      expect(await detailed.json()).toMatchObject({ status: 'unavailable', reason: 'store: ENOSPC: no space left on device', providers: ['fake'] });

      // REST writes: 503 with Retry-After, promptly.
      for (const answer of [await post('/v1/jobs', submitBody), await post('/v1/jobs/track', trackBody), await api(`/v1/jobs/${b.id}/cancel`, { method: 'POST' })]) {
        expect(answer.status).toBe(503);
        expect(answer.headers.get('retry-after')).toMatch(/^\d+$/);
        expect(await answer.json()).toMatchObject({ error: { code: 'STORE_UNAVAILABLE' } });
      }
      // The refused submission was not recorded, so it never reached the provider.
      expect(provider.created).toHaveLength(2);
      expect(changes).toEqual([]);
      expect(events).toContainEqual(expect.objectContaining({ type: 'store-error', reason: 'ENOSPC: no space left on device' }));

      // Space is back: the server recovers by itself.
      await rm(filler);
      await recovered;
      await bCanceled;
      expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok' });
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      // What was folded in while the disk was full is published once, in order.
      const running = changes.filter((change) => change.job.id === a.id);
      expect(running.map((change) => change.job.status)).toEqual(['running']);
      expect(changes.map((change) => change.seq)).toEqual(changes.map((_, index) => engine.seq - changes.length + index + 1));
      // The provider's next retry is answered 200 from the durable state.
      const retried = await deliver();
      expect(retried.status).toBe(200);
      expect(await retried.json()).toEqual({ outcome: 'duplicate', jobId: a.id, version: running[0]?.job.version });
      // Tracking again now returns the tracked job.
      const tracked = await post('/v1/jobs/track', trackBody);
      expect(tracked.status).toBe(200);
      const trackedId = ((await tracked.json()) as { job: JobSnapshot }).job.id;
      for (const subscription of watching) subscription.unsubscribe();

      await server.close();
      server = undefined;

      // The journal holds whole lines only, and the store loads again with everything acknowledged.
      const lines = await journalJobs(dataDir);
      expect(lines.length).toBeGreaterThan(0);
      const store = await FileStore.open({ dir: dataDir });
      try {
        const jobs = new Map((await store.load()).map(({ job }) => [job.id, job]));
        expect(jobs.get(a.id)).toMatchObject({ status: 'running', progress: 0.5 });
        expect(jobs.get(b.id)).toMatchObject({ status: 'canceled' });
        expect(jobs.get(trackedId)).toMatchObject({ externalId: 'ext-tracked' });
        // The refused submission is kept as failed, never as a submission nobody follows up.
        const refusedSubmit = [...jobs.values()].filter((job) => job.id !== a.id && job.id !== b.id && job.id !== trackedId);
        expect(refusedSubmit.map((job) => [job.status, job.error?.code])).toEqual([['failed', 'STORE_UNAVAILABLE']]);
      } finally {
        await store.close();
      }
    } finally {
      await server?.close();
      await rm(filler, { force: true });
    }
  });
});
