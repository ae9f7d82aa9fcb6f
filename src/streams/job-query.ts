import { InvalidRequestError } from './errors.js';
import type { JobPredicate } from './job-filter.js';
import type { JobSnapshot } from './job-snapshot.js';
import { MinHeap, type HeapItem } from './min-heap.js';

/** What a job list can be ordered by. */
export type JobSort = 'createdAt' | 'updatedAt';
/** Which way a job list runs. */
export type SortOrder = 'asc' | 'desc';

/**
 * Search, bounds, order and paging of a job list, on top of a {@link JobFilter}. Without `sort`
 * and `order` a list runs newest first (`createdAt`, `desc`), as it always has.
 */
export interface JobQuery {
  /** Case-insensitive substring of the name, the id, the external id or a metadata value. */
  q?: string | undefined;
  /** @default 'createdAt' */
  sort?: JobSort | undefined;
  /** @default 'desc' */
  order?: SortOrder | undefined;
  /** Only jobs created at or after this time (epoch ms). */
  from?: number | undefined;
  /** Only jobs created at or before this time (epoch ms). */
  to?: number | undefined;
  /** Only the retries of this job. */
  retryOf?: string | undefined;
  /** Jobs per page, 1 to 1000. @default 100 */
  limit?: number | undefined;
  /** Where the page starts: the `next` of the page before (it must come from the same sort and order). */
  cursor?: string | undefined;
}

/** One page of a {@link JobQuery}. */
export interface JobPage {
  jobs: JobSnapshot[];
  /** The cursor of the next page; `undefined` on the last one. */
  next: string | undefined;
  /** How many jobs match, on all pages. */
  total: number;
}

/** A position in a list: the sort key and the id of the last job shown. */
interface Position {
  key: number;
  id: string;
}

interface Entry {
  published: JobSnapshot | undefined;
}

/**
 * The job table's map, which also keeps its ids sorted: job ids begin with their creation time
 * (see `newJobId`), so id order is creation order and a list by `createdAt` walks this index
 * instead of sorting every job per request. New jobs are appended (their ids are the newest);
 * an id out of order (a cluster member's clock, a store read out of order) or a removal makes
 * the index sort itself again once, at the next read.
 */
export class JobIndex<E extends Entry> extends Map<string, E> {
  /** The entries in id order (with their search text), so a list walks them without lookups. */
  #items: IndexItem[] = [];
  #sorted = true;
  #stale = false;

  override set(id: string, entry: E): this {
    const held = super.get(id);
    if (held === undefined) {
      const last = this.#items.at(-1);
      if (last !== undefined && id < last.id) this.#sorted = false;
      this.#items.push({ id, entry, searched: undefined, text: '' });
    } else if (held !== entry) {
      // Another entry object for a known id: the items are made again at the next read.
      this.#stale = true;
    }
    return super.set(id, entry);
  }

  override delete(id: string): boolean {
    const had = super.delete(id);
    if (had) this.#stale = true;
    return had;
  }

  override clear(): void {
    super.clear();
    this.#items = [];
    this.#sorted = true;
    this.#stale = false;
  }

  /** Every id, ascending (oldest first). */
  sortedIds(): string[] {
    return this.sortedItems().map((item) => item.id);
  }

  /** @internal Every entry with its id, ascending by id (oldest first). */
  sortedItems(): readonly IndexItem[] {
    if (this.#stale) {
      const kept = new Map(this.#items.map((item) => [item.id, item]));
      this.#items = [];
      for (const [id, entry] of super.entries()) {
        const item = kept.get(id);
        this.#items.push(item?.entry === entry ? item : { id, entry, searched: undefined, text: '' });
      }
      this.#stale = false;
      this.#sorted = false;
    }
    if (!this.#sorted) {
      this.#items.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      this.#sorted = true;
    }
    return this.#items;
  }
}

/** @internal One job of a {@link JobIndex}: its entry, and the search text of one snapshot of it. */
export interface IndexItem {
  readonly id: string;
  readonly entry: Entry;
  /** The snapshot `text` was made from. */
  searched: JobSnapshot | undefined;
  text: string;
}

/**
 * One page of the published jobs that match `predicate` and `query`, with the number of all
 * matches. One pass over the jobs (a predicate per job: about 10 ms for 100,000 jobs with a
 * search): by `createdAt` it walks the sorted {@link JobIndex}; by `updatedAt` it keeps the
 * best `limit` jobs in a heap, never sorting them all.
 *
 * @throws InvalidRequestError for a cursor this function did not make, or one made for another
 *   sort or order.
 */
export function queryJobs(jobs: JobIndex<Entry>, predicate: JobPredicate, query: JobQuery = {}): JobPage {
  const sort = query.sort ?? 'createdAt';
  const order = query.order ?? 'desc';
  const limit = Math.max(1, Math.min(Math.floor(query.limit ?? 100), 1000));
  const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor, sort, order);
  const matches = queryPredicate(predicate, query);
  return sort === 'createdAt' ? byCreation(jobs, matches, order, limit, after) : byUpdate(jobs, matches, order, limit, after);
}

function byCreation(jobs: JobIndex<Entry>, matches: ItemPredicate, order: SortOrder, limit: number, after: Position | undefined): JobPage {
  const items = jobs.sortedItems();
  const page: JobSnapshot[] = [];
  let total = 0;
  let more = false;
  const desc = order === 'desc';
  for (let i = desc ? items.length - 1 : 0; desc ? i >= 0 : i < items.length; desc ? i-- : i++) {
    const item = items[i] as IndexItem;
    const job = item.entry.published;
    if (job === undefined || !matches(job, item)) continue;
    const id = item.id;
    total += 1;
    if (after !== undefined && (desc ? id >= after.id : id <= after.id)) continue;
    if (page.length < limit) page.push(job);
    else more = true;
  }
  const last = page.at(-1);
  return { jobs: page, next: more && last !== undefined ? encodeCursor('createdAt', order, last.createdAt, last.id) : undefined, total };
}

interface Candidate extends HeapItem {
  job: JobSnapshot;
}

function byUpdate(jobs: JobIndex<Entry>, matches: ItemPredicate, order: SortOrder, limit: number, after: Position | undefined): JobPage {
  const desc = order === 'desc';
  // `first(a, b)`: a comes before b in the list.
  const first = desc ? (a: JobSnapshot, b: JobSnapshot) => compareUpdate(a, b) > 0 : (a: JobSnapshot, b: JobSnapshot) => compareUpdate(a, b) < 0;
  // The heap's top is the kept job that comes last, the one a better job pushes out.
  const kept = new MinHeap<Candidate>((a, b) => first(b.job, a.job));
  let total = 0;
  let beyond = 0;
  // Walked in creation order the list's way: update times mostly follow creation times, so the
  // best jobs come early and few later ones displace a kept one.
  const items = jobs.sortedItems();
  for (let i = desc ? items.length - 1 : 0; desc ? i >= 0 : i < items.length; desc ? i-- : i++) {
    const item = items[i] as IndexItem;
    const job = item.entry.published;
    if (job === undefined || !matches(job, item)) continue;
    total += 1;
    if (after !== undefined) {
      const relative = job.updatedAt - after.key || (job.id < after.id ? -1 : job.id > after.id ? 1 : 0);
      if (desc ? relative >= 0 : relative <= 0) continue;
    }
    beyond += 1;
    if (kept.size < limit) kept.push({ job, heapIndex: -1 });
    else {
      const worst = kept.peek() as Candidate;
      if (first(job, worst.job)) {
        kept.remove(worst);
        kept.push({ job, heapIndex: -1 });
      }
    }
  }
  const page: JobSnapshot[] = [];
  for (let item = kept.pop(); item !== undefined; item = kept.pop()) page.push(item.job);
  page.reverse();
  const last = page.at(-1);
  return { jobs: page, next: beyond > limit && last !== undefined ? encodeCursor('updatedAt', order, last.updatedAt, last.id) : undefined, total };
}

function compareUpdate(a: JobSnapshot, b: JobSnapshot): number {
  return a.updatedAt - b.updatedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

type ItemPredicate = (job: JobSnapshot, item: IndexItem) => boolean;

/** The filter's predicate narrowed by the query's bounds, `retryOf` and search. */
function queryPredicate(predicate: JobPredicate, query: JobQuery): ItemPredicate {
  const { from, to, retryOf } = query;
  const q = query.q === undefined || query.q === '' ? undefined : query.q.toLowerCase();
  return (job, item) =>
    predicate(job) &&
    (from === undefined || job.createdAt >= from) &&
    (to === undefined || job.createdAt <= to) &&
    (retryOf === undefined || job.retryOf === retryOf) &&
    (q === undefined || searchText(job, item).includes(q));
}

/**
 * What `q` searches, lower-cased: the id, the name, the external id and the metadata values,
 * separated by a character no search contains (so a match never spans two fields). Made once
 * per snapshot (snapshots are immutable) and kept with the job's index item.
 */
function searchText(job: JobSnapshot, item: IndexItem): string {
  if (item.searched !== job) {
    const parts = [job.id, job.name ?? '', job.externalId ?? ''];
    for (const value of Object.values(job.metadata)) parts.push(String(value));
    item.text = parts.join(SEPARATOR).toLowerCase();
    item.searched = job;
  }
  return item.text;
}

/** Joins the searched fields; a search is refused when it contains it. */
export const SEARCH_SEPARATOR = '\u0000';
const SEPARATOR = SEARCH_SEPARATOR;

const CURSOR = /^([cu])([ad])\.(-?\d+(?:\.\d+)?)\.(job_[0-9a-zA-Z_-]+)$/;
/** A cursor of the lists before sorting existed: the base64url of the last id, newest first. */
const LEGACY_CURSOR = /^job_[0-9a-z]+$/;

/** An opaque cursor: the sort, the order, the sort key and the id of the last job shown. */
export function encodeCursor(sort: JobSort, order: SortOrder, key: number, id: string): string {
  return Buffer.from(`${sort === 'createdAt' ? 'c' : 'u'}${order === 'asc' ? 'a' : 'd'}.${key}.${id}`).toString('base64url');
}

/**
 * Reads a cursor made by {@link encodeCursor} for this sort and order (or an id-only cursor of
 * older servers, for the default order).
 *
 * @throws InvalidRequestError naming `cursor`.
 */
export function decodeCursor(cursor: string, sort: JobSort, order: SortOrder): Position {
  const decoded = /^[A-Za-z0-9_-]+$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  // Only the one spelling this server gives out (base64url decoding forgives stray characters).
  const text = Buffer.from(decoded).toString('base64url') === cursor ? decoded : '';
  if (LEGACY_CURSOR.test(text) && sort === 'createdAt' && order === 'desc') return { key: Number.NaN, id: text };
  const parsed = CURSOR.exec(text);
  if (parsed === null) throw new InvalidRequestError([{ field: 'cursor', reason: 'not a cursor this server gave out' }]);
  const [, s, o, key, id] = parsed as unknown as [string, string, string, string, string];
  if ((s === 'c') !== (sort === 'createdAt') || (o === 'a') !== (order === 'asc')) {
    throw new InvalidRequestError([
      { field: 'cursor', reason: `made for sort=${s === 'c' ? 'createdAt' : 'updatedAt'}&order=${o === 'a' ? 'asc' : 'desc'}; ask again without a cursor` },
    ]);
  }
  return { key: Number(key), id };
}
