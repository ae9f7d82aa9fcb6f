import { afterEach, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/server.js';
import type { JobSnapshot } from '../../src/streams/job-snapshot.js';
import { startTestServer } from '../support/test-server.js';

const servers: RunningServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

type Page = { jobs: JobSnapshot[]; nextCursor: string | null; total: number };
const json = (body: unknown): RequestInit => ({ method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
const url = 'https://example.com/a.wav';

async function setup() {
  const started = await startTestServer();
  servers.push(started.server);
  const { api } = started;
  const submit = async (extra: Record<string, unknown> = {}): Promise<JobSnapshot> =>
    ((await (await api('/v1/jobs', json({ provider: 'fake', kind: 'transcription', input: { type: 'url', url }, ...extra }))).json()) as { job: JobSnapshot }).job;
  const list = async (query: string): Promise<Page> => {
    const res = await api(`/v1/jobs?${query}`);
    expect(res.status).toBe(200);
    return (await res.json()) as Page;
  };
  /** Every page of a query, following the cursor; `between` runs before each next page. */
  const pages = async (query: string, between: () => Promise<unknown> = () => Promise.resolve()): Promise<JobSnapshot[]> => {
    const seen: JobSnapshot[] = [];
    let page = await list(query);
    seen.push(...page.jobs);
    while (page.nextCursor !== null) {
      await between();
      page = await list(`${query}&cursor=${page.nextCursor}`);
      seen.push(...page.jobs);
    }
    return seen;
  };
  return { ...started, submit, list, pages };
}

const ids = (jobs: readonly JobSnapshot[]) => jobs.map((job) => job.id);
const byUpdate = (a: JobSnapshot, b: JobSnapshot) => a.updatedAt - b.updatedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

describe('GET /v1/jobs: search, sort, bounds, paging, total', () => {
  it('q matches a substring of the name, id, external id or a metadata value, case-insensitively; total counts all matches', async () => {
    const { submit, list } = await setup();
    const guitar = await submit({ name: 'Guitar Riff', metadata: { user: 'alice' } });
    const piano = await submit({ name: 'piano', metadata: { user: 'Bob', take: 17 } });
    const plain = await submit();
    expect((await list('q=riff')).jobs.map((j) => j.id)).toEqual([guitar.id]);
    expect(ids((await list('q=BOB')).jobs)).toEqual([piano.id]);
    expect(ids((await list('q=17')).jobs)).toEqual([piano.id]);
    expect(ids((await list(`q=${plain.id.slice(-12).toUpperCase()}`)).jobs)).toEqual([plain.id]);
    expect(ids((await list(`q=${encodeURIComponent(plain.externalId!)}`)).jobs)).toEqual([plain.id]);
    // Fields are searched one by one: no match across the end of one and the start of the next.
    expect((await list('q=piano17')).total).toBe(0);
    const all = await list('q=&limit=1');
    expect(all.total).toBe(3);
    expect(all.jobs).toHaveLength(1);
    const narrowed = await list('q=i&kind=transcription&limit=1');
    expect(narrowed.total).toBe(2);
    expect(ids(narrowed.jobs)).toEqual([piano.id]);
  });

  it('sorts by createdAt or updatedAt, either way, paging with a cursor', async () => {
    const { api, submit, list, pages } = await setup();
    const jobs: JobSnapshot[] = [];
    for (let i = 0; i < 7; i++) jobs.push(await submit({ name: `job ${i}` }));
    // Cancelling moves a job's updatedAt on, so the two sorts differ.
    for (const job of [jobs[1]!, jobs[4]!]) await api(`/v1/jobs/${job.id}/cancel`, { method: 'POST' });
    const now = (await list('limit=1000')).jobs;
    expect(ids(now)).toEqual(ids(jobs).reverse());
    expect(ids(await pages('sort=createdAt&order=asc&limit=3'))).toEqual(ids(jobs));
    expect(ids(await pages('sort=createdAt&order=desc&limit=3'))).toEqual(ids(jobs).reverse());
    expect(ids(await pages('order=asc&limit=2'))).toEqual(ids(jobs));
    const updatedAsc = [...now].sort(byUpdate);
    expect(ids(await pages('sort=updatedAt&order=asc&limit=3'))).toEqual(ids(updatedAsc));
    expect(ids(await pages('sort=updatedAt&limit=2'))).toEqual(ids(updatedAsc).reverse());
    const first = await list('sort=updatedAt&limit=2');
    expect(first.total).toBe(7);
    expect(first.jobs.at(-1)).toEqual(updatedAsc.at(-2));
    // A cursor of the id-only kind older servers gave out still works, for the default order.
    const legacy = Buffer.from(jobs[2]!.id).toString('base64url');
    const rest = await list(`cursor=${legacy}`);
    expect(ids(rest.jobs)).toEqual([jobs[1]!.id, jobs[0]!.id]);
    expect(rest.total).toBe(7);
  });

  it('bounds createdAt with from/to, as epoch ms or ISO 8601 (both inclusive)', async () => {
    const { submit, list } = await setup();
    const jobs: JobSnapshot[] = [];
    for (let i = 0; i < 6; i++) jobs.push(await submit());
    const from = jobs[1]!.createdAt;
    const to = jobs[4]!.createdAt;
    const expected = jobs.filter((job) => job.createdAt >= from && job.createdAt <= to);
    expect(expected.length).toBeGreaterThanOrEqual(4);
    const page = await list(`from=${from}&to=${to}&order=asc`);
    expect(ids(page.jobs)).toEqual(ids(expected));
    expect(page.total).toBe(expected.length);
    const iso = await list(`from=${new Date(from).toISOString()}&to=${encodeURIComponent(new Date(to).toISOString())}&order=asc`);
    expect(ids(iso.jobs)).toEqual(ids(expected));
    expect((await list(`from=${to + 1}&to=${to + 1}`)).jobs.filter((job) => job.createdAt !== to + 1)).toEqual([]);
  });

  it('pages with no repeat and no gap while new jobs arrive, in every sort and order', async () => {
    const { submit, pages } = await setup();
    const before: JobSnapshot[] = [];
    for (let i = 0; i < 9; i++) before.push(await submit());
    const arrived: JobSnapshot[] = [];
    // Two new jobs before each of the next three pages (more would outrun an ascending list forever).
    let rounds = 0;
    const arrival = () => {
      rounds = 0;
      return async () => {
        if (rounds++ < 3) arrived.push(await submit(), await submit());
      };
    };

    // Newest first: jobs that arrive while paging are newer than the first page, so not shown.
    expect(ids(await pages('limit=2', arrival()))).toEqual(ids(before).reverse());
    expect(arrived).toHaveLength(6);
    // Oldest first: they come at the end, each once.
    const asc = await pages('sort=createdAt&order=asc&limit=2', arrival());
    expect(new Set(ids(asc)).size).toBe(asc.length);
    expect(ids(asc).slice(0, before.length)).toEqual(ids(before));
    expect(ids(asc)).toEqual([...ids(asc)].sort());
    expect(ids(asc)).toEqual(ids([...before, ...arrived]));
    // Most recently updated first: new jobs are newer than the cursor, so nothing repeats.
    const start = arrived.length;
    const desc = await pages('sort=updatedAt&order=desc&limit=3', arrival());
    expect(arrived.length).toBe(start + 6);
    const known = [...before, ...arrived.slice(0, start)];
    expect(new Set(ids(desc)).size).toBe(desc.length);
    expect(ids(desc)).toEqual(ids([...known].sort(byUpdate).reverse()));
  });

  it('lists the retries of a job with retryOf', async () => {
    const { api, submit, list, server } = await setup();
    const original = await submit();
    await api(`/v1/jobs/${original.id}/cancel`, { method: 'POST' });
    const retry = ((await (await api(`/v1/jobs/${original.id}/retry`, { method: 'POST' })).json()) as { job: JobSnapshot }).job;
    await submit();
    const page = await list(`retryOf=${original.id}`);
    expect(ids(page.jobs)).toEqual([retry.id]);
    expect(page.total).toBe(1);
    expect((await list('retryOf=job_nobody')).total).toBe(0);
    expect(server.engine.query({}, { retryOf: original.id }).jobs).toEqual(page.jobs);
  });

  it('refuses bad parameters with 400 naming each field', async () => {
    const { api, submit, list } = await setup();
    for (let i = 0; i < 3; i++) await submit();
    const updatedCursor = (await list('sort=updatedAt&limit=1')).nextCursor!;
    const cases: [string, string][] = [
      ['sort=name', 'sort'],
      ['order=up', 'order'],
      ['from=yesterday', 'from'],
      ['to=2026-13-45T99:99:99Z', 'to'],
      ['from=10&to=5', 'from'],
      ['limit=0', 'limit'],
      ['limit=1001', 'limit'],
      ['cursor=%%%', 'cursor'],
      [`cursor=${Buffer.from('job_X!').toString('base64url')}`, 'cursor'],
      [`cursor=${Buffer.from('ud.1.job_<script>').toString('base64url')}`, 'cursor'],
      [`cursor=${updatedCursor}`, 'cursor'],
      [`sort=createdAt&cursor=${updatedCursor}`, 'cursor'],
      [`q=${'x'.repeat(201)}`, 'q'],
      ['q=a%00b', 'q'],
    ];
    for (const [query, field] of cases) {
      const res = await api(`/v1/jobs?${query}`);
      expect(res.status, query).toBe(400);
      expect(await res.json(), query).toMatchObject({ error: { code: 'INVALID_REQUEST', issues: [expect.objectContaining({ field })] } });
    }
  });
});
