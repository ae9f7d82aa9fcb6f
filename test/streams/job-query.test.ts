import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../../src/streams/errors.js';
import { compileFilter } from '../../src/streams/job-filter.js';
import { newJobId } from '../../src/streams/job-id.js';
import { JobIndex, queryJobs, type JobQuery } from '../../src/streams/job-query.js';
import { createSnapshot } from '../../src/streams/job-reducer.js';
import type { JobSnapshot } from '../../src/streams/job-snapshot.js';

const T0 = 1_736_000_000_000;

/** A seeded generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function jobsAt(count: number, next: () => number): JobSnapshot[] {
  const jobs: JobSnapshot[] = [];
  for (let i = 0; i < count; i++) {
    // Several jobs per millisecond, and update times that do not follow creation.
    const createdAt = T0 + Math.floor(i / 3);
    const job = createSnapshot({ id: newJobId(createdAt), provider: 'fake', kind: 'transcription', externalId: null, name: `take-${i % 10}`, metadata: {}, options: {}, createdAt });
    jobs.push({ ...job, updatedAt: createdAt + Math.floor(next() * 50), status: next() < 0.5 ? 'failed' : 'succeeded' });
  }
  // In id order (jobs of one millisecond are ordered by their random part).
  return jobs.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function allPages(index: JobIndex<{ published: JobSnapshot | undefined }>, query: JobQuery, match = compileFilter({})): { ids: string[]; totals: Set<number> } {
  const ids: string[] = [];
  const totals = new Set<number>();
  let cursor: string | undefined;
  do {
    const page = queryJobs(index, match, { ...query, cursor });
    ids.push(...page.jobs.map((job) => job.id));
    totals.add(page.total);
    cursor = page.next;
  } while (cursor !== undefined);
  return { ids, totals };
}

describe('queryJobs', () => {
  it('pages every sort and order exactly as a full sort would, with a stable total, whatever order the jobs were added in', () => {
    const next = random(7);
    const jobs = jobsAt(500, next);
    const index = new JobIndex<{ published: JobSnapshot | undefined }>();
    // Added out of order (a store read in any order), one not published yet.
    for (const job of [...jobs].sort(() => next() - 0.5)) index.set(job.id, { published: job });
    index.set(newJobId(T0 + 1), { published: undefined });
    const byId = (a: JobSnapshot, b: JobSnapshot) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
    const byUpdate = (a: JobSnapshot, b: JobSnapshot) => a.updatedAt - b.updatedAt || byId(a, b);
    const failed = jobs.filter((job) => job.status === 'failed');
    const cases: [JobQuery, JobSnapshot[], ReturnType<typeof compileFilter>?][] = [
      [{ limit: 7 }, [...jobs].sort(byId).reverse()],
      [{ order: 'asc', limit: 13 }, [...jobs].sort(byId)],
      [{ sort: 'updatedAt', limit: 11 }, [...jobs].sort(byUpdate).reverse()],
      [{ sort: 'updatedAt', order: 'asc', limit: 1 }, [...jobs].sort(byUpdate)],
      [{ sort: 'updatedAt', order: 'asc', limit: 1000 }, [...jobs].sort(byUpdate)],
      [{ sort: 'updatedAt', limit: 9 }, [...failed].sort(byUpdate).reverse(), compileFilter({ statuses: ['failed'] })],
      [{ q: 'TAKE-3', order: 'asc', limit: 4 }, jobs.filter((job) => job.name === 'take-3').sort(byId)],
    ];
    for (const [query, expected, match] of cases) {
      const { ids, totals } = allPages(index, query, match);
      expect(ids, JSON.stringify(query)).toEqual(expected.map((job) => job.id));
      expect([...totals], JSON.stringify(query)).toEqual([expected.length]);
    }
  });

  it('forgets removed jobs and sees ids added out of order', () => {
    const jobs = jobsAt(6, random(1));
    const index = new JobIndex<{ published: JobSnapshot | undefined }>();
    for (const job of jobs.slice(1)) index.set(job.id, { published: job });
    expect(queryJobs(index, compileFilter({}), { order: 'asc' }).total).toBe(5);
    index.delete(jobs[3]!.id);
    index.set(jobs[0]!.id, { published: jobs[0]! });
    const page = queryJobs(index, compileFilter({}), { order: 'asc' });
    expect(page.jobs.map((job) => job.id)).toEqual([jobs[0], jobs[1], jobs[2], jobs[4], jobs[5]].map((job) => job!.id));
    expect(index.sortedIds()).toEqual(page.jobs.map((job) => job.id));
  });

  it('refuses a cursor made for another sort or order, or not made here', () => {
    const jobs = jobsAt(3, random(2));
    const index = new JobIndex<{ published: JobSnapshot | undefined }>();
    for (const job of jobs) index.set(job.id, { published: job });
    const { next } = queryJobs(index, compileFilter({}), { limit: 1 });
    expect(next).toBeDefined();
    expect(() => queryJobs(index, compileFilter({}), { order: 'asc', cursor: next })).toThrow(InvalidRequestError);
    expect(() => queryJobs(index, compileFilter({}), { sort: 'updatedAt', cursor: next })).toThrow(/made for sort=createdAt&order=desc/);
    expect(() => queryJobs(index, compileFilter({}), { cursor: 'bm90IGEgY3Vyc29y' })).toThrow(/not a cursor this server gave out/);
  });
});
