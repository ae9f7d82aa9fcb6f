/// <reference lib="dom" />
import type { JobSnapshot } from '../client/index.js';
import type { DashboardApi, JobQuery } from './dashboard-api.js';
import { h, setText } from './dom.js';
import type { JobTable } from './job-table.js';

/** Options of {@link JobList}. */
export interface JobListOptions {
  api: DashboardApi;
  table: JobTable;
  /** The scrolling card around the table (new rows go in by themselves only while it is at the top). */
  scroller: HTMLElement;
  /** Where the "N new jobs — show" notice goes (above the table). */
  notice: HTMLElement;
  /** Where "1–50 of 1,234" and "Load more" go (below the table). */
  footer: HTMLElement;
  /** Shown instead of the rows when the list is empty; its text says why. */
  empty: HTMLElement;
  /** The query of the current view (filters, search, sort, range). */
  query: () => JobQuery;
  /** Whether a live job belongs to the current view (the same test as the server's, on the page). */
  matches: (job: JobSnapshot) => boolean;
  /** Whether any filter or search is on (for the empty text). */
  filtered: () => boolean;
  /** The list changed (rows loaded or added). */
  onChange?: (jobs: readonly JobSnapshot[]) => void;
  /** Rows per page, and the sizes offered. */
  pageSize: () => number;
  pageSizes: readonly number[];
  /** The user chose another page size. */
  onPageSize: (size: number) => void;
}

/**
 * The table's rows from the list API (`GET /v1/jobs`: search, sort, range, cursor paging), kept
 * live: changes from the WebSocket rewrite the rows already shown, in place; they never move.
 * New jobs of the view go in at the top by themselves only when nothing is disturbed (sorted
 * newest first, the table scrolled to the top, the pointer elsewhere); otherwise a notice says
 * "3 new jobs — show". Live updates can be paused.
 */
export class JobList {
  readonly #options: JobListOptions;
  #rows: JobSnapshot[] = [];
  #total: number | undefined;
  #cursor: string | null = null;
  /** Answers of older requests are dropped. */
  #generation = 0;
  #loading = false;
  #error: string | undefined;
  /** Live jobs at the last load, and whether each matched then. */
  #known = new Map<string, boolean>();
  /** New jobs of this view not shown yet. */
  readonly #pending = new Map<string, JobSnapshot>();
  #live: ReadonlyMap<string, JobSnapshot> = new Map();
  #paused = false;
  #pointerInside = false;
  readonly #parts: { count: HTMLElement; more: HTMLButtonElement; notice: HTMLElement; show: HTMLButtonElement; problem: HTMLElement; size: HTMLSelectElement };

  constructor(options: JobListOptions) {
    this.#options = options;
    const more = h('button', { type: 'button', class: 'button small', 'data-action': 'load-more' }, 'Load more');
    more.addEventListener('click', () => void this.more());
    const show = h('button', { type: 'button', class: 'link-button', 'data-action': 'show-new' }, 'show');
    show.addEventListener('click', () => void this.reload());
    const text = h('span', { class: 'notice-text' });
    const size = h('select', { name: 'size', 'aria-label': 'Rows per page' }, ...options.pageSizes.map((n) => h('option', { value: String(n) }, `${n} per page`)));
    size.addEventListener('change', () => options.onPageSize(Number(size.value)));
    this.#parts = { count: h('span', { class: 'list-count', role: 'status' }), more, notice: text, show, problem: h('span', { class: 'form-error small', hidden: true }), size };
    options.notice.replaceChildren(text, ' — ', show);
    options.notice.hidden = true;
    options.footer.replaceChildren(this.#parts.count, this.#parts.problem, size, more);
    options.scroller.addEventListener('pointerenter', () => {
      this.#pointerInside = true;
    });
    options.scroller.addEventListener('pointerleave', () => {
      this.#pointerInside = false;
      this.#flush();
    });
    options.scroller.addEventListener('scroll', () => this.#flush(), { passive: true });
  }

  /** The rows shown, in order. */
  get rows(): readonly JobSnapshot[] {
    return this.#rows;
  }

  /** A shown job, or one of the live set. */
  find(id: string): JobSnapshot | undefined {
    return this.#rows.find((job) => job.id === id) ?? this.#live.get(id);
  }

  /** Loads the first page of the current view again (new filters, "show", a reconnect). */
  async reload(): Promise<void> {
    const generation = ++this.#generation;
    this.#loading = true;
    this.#draw();
    try {
      const page = await this.#options.api.jobs({ ...this.#options.query(), limit: this.#options.pageSize() });
      if (generation !== this.#generation) return;
      this.#rows = page.jobs.map((job) => newest(job, this.#live.get(job.id)));
      this.#total = page.total;
      this.#cursor = page.nextCursor;
      this.#error = undefined;
      this.#known = new Map([...this.#live.values()].map((job) => [job.id, this.#options.matches(job)]));
      this.#pending.clear();
    } catch (error) {
      if (generation !== this.#generation) return;
      this.#error = `The jobs could not be loaded: ${(error as Error).message}`;
    } finally {
      if (generation === this.#generation) this.#loading = false;
    }
    this.#render();
  }

  /** Appends the next page. */
  async more(): Promise<void> {
    if (this.#cursor === null || this.#loading) return;
    const generation = this.#generation;
    this.#loading = true;
    this.#draw();
    try {
      const page = await this.#options.api.jobs({ ...this.#options.query(), limit: this.#options.pageSize(), cursor: this.#cursor });
      if (generation !== this.#generation) return;
      const shown = new Set(this.#rows.map((job) => job.id));
      this.#rows = [...this.#rows, ...page.jobs.filter((job) => !shown.has(job.id)).map((job) => newest(job, this.#live.get(job.id)))];
      this.#cursor = page.nextCursor;
      if (page.total !== undefined) this.#total = page.total;
      this.#error = undefined;
    } catch (error) {
      if (generation === this.#generation) this.#error = `More jobs could not be loaded: ${(error as Error).message}`;
    } finally {
      if (generation === this.#generation) this.#loading = false;
    }
    this.#render();
  }

  /** Live updates on or off; turning them back on applies what arrived meanwhile. */
  pause(paused: boolean): void {
    this.#paused = paused;
    if (!paused) this.live(this.#live);
    this.#draw();
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** The live set changed: rewrite shown rows, note new jobs of the view. */
  live(jobs: ReadonlyMap<string, JobSnapshot>): void {
    this.#live = jobs;
    if (this.#paused) return this.#draw();
    const shown = new Map(this.#rows.map((job, i) => [job.id, i]));
    let changed = false;
    for (const job of jobs.values()) {
      const at = shown.get(job.id);
      if (at !== undefined) {
        const current = this.#rows[at];
        if (current !== undefined && job.version > current.version) {
          this.#rows[at] = job;
          this.#options.table.update(job);
          changed = true;
        }
        continue;
      }
      if (this.#known.get(job.id) === true || !this.#options.matches(job)) continue;
      this.#pending.set(job.id, job);
    }
    for (const [id, job] of this.#pending) {
      const now = jobs.get(id) ?? job;
      if (!this.#options.matches(now)) this.#pending.delete(id);
      else this.#pending.set(id, now);
    }
    if (changed) this.#options.onChange?.(this.#rows);
    this.#flush();
    this.#draw();
  }

  /** A job this page just made (submitted or retried): shown at once, at the top. */
  add(job: JobSnapshot): void {
    if (this.#rows.some((row) => row.id === job.id)) return;
    this.#pending.delete(job.id);
    this.#known.set(job.id, true);
    this.#rows = [job, ...this.#rows];
    if (this.#total !== undefined) this.#total += 1;
    this.#render();
  }

  /** New jobs go in at the top by themselves while nothing is disturbed. */
  #flush(): void {
    if (this.#pending.size === 0 || this.#paused || this.#loading || this.#pointerInside || this.#options.scroller.scrollTop > 4) return;
    const query = this.#options.query();
    if ((query.sort ?? 'createdAt') !== 'createdAt' || (query.order ?? 'desc') !== 'desc') return;
    const top = this.#rows[0]?.createdAt ?? -Infinity;
    const fresh = [...this.#pending.values()].filter((job) => job.createdAt >= top).sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1));
    if (fresh.length === 0) return;
    for (const job of fresh) {
      this.#pending.delete(job.id);
      this.#known.set(job.id, true);
    }
    this.#rows = [...fresh, ...this.#rows];
    if (this.#total !== undefined) this.#total += fresh.length;
    this.#render();
  }

  #render(): void {
    this.#options.table.render(this.#rows);
    this.#options.onChange?.(this.#rows);
    this.#draw();
  }

  #draw(): void {
    const { empty, notice } = this.#options;
    const p = this.#parts;
    const shown = this.#rows.length;
    const total = this.#total ?? shown;
    empty.hidden = shown > 0 || this.#loading;
    const emptyText = empty.querySelector('.empty-text') ?? empty;
    setText(emptyText, this.#options.filtered() ? 'No jobs match this search and these filters.' : 'No jobs yet. Submit one with “New job”.');
    setText(p.count, shown === 0 ? (this.#loading ? 'Loading…' : '') : `1–${shown.toLocaleString('en')} of ${total.toLocaleString('en')}${this.#paused ? ' · live updates paused' : ''}`);
    p.more.hidden = this.#cursor === null;
    p.size.value = String(this.#options.pageSize());
    p.more.disabled = this.#loading;
    p.problem.hidden = this.#error === undefined;
    setText(p.problem, this.#error ?? '');
    const count = this.#pending.size;
    notice.hidden = count === 0;
    setText(p.notice, count === 1 ? '1 new job' : `${count.toLocaleString('en')} new jobs`);
  }
}

/** The newer of two versions of a job. */
function newest(job: JobSnapshot, live: JobSnapshot | undefined): JobSnapshot {
  return live !== undefined && live.version > job.version ? live : job;
}

/**
 * Whether a job matches the search box the way the server's `q` does: a case-insensitive
 * substring of its name, id, external id or a metadata value.
 *
 * @example matchesSearch(job, 'riff')
 */
export function matchesSearch(job: JobSnapshot, q: string): boolean {
  const needle = q.trim().toLowerCase();
  if (needle === '') return true;
  const haystack = [job.name ?? '', job.id, job.externalId ?? '', ...Object.values(job.metadata).map(String)];
  return haystack.some((text) => text.toLowerCase().includes(needle));
}
