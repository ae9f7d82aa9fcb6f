/// <reference lib="dom" />
import type { JobSnapshot } from '../client/index.js';
import { h, setAttribute, setText } from './dom.js';
import { formatAge, percent } from './format.js';

/** Options of {@link JobTable}. */
export interface JobTableOptions {
  /** The table body the rows go in. */
  body: HTMLTableSectionElement;
  /** Shown instead of the table when no job matches. */
  empty: HTMLElement;
  /** Says how many matching jobs are not shown. */
  more: HTMLElement;
  /** A row was clicked (or chosen with Enter). */
  onSelect: (id: string) => void;
  /** Rows shown at most, newest first: a browser stays fast with thousands of jobs. @default 250 */
  limit?: number;
  /** The clock. @default Date.now */
  now?: () => number;
}

/**
 * The live job table, newest first. Rows are keyed by job id and kept: an update rewrites
 * only the cells whose text changed, and rows are moved only when the order changes, so the
 * table never re-renders and nothing flickers.
 */
export class JobTable {
  readonly #options: Required<JobTableOptions>;
  readonly #rows = new Map<string, JobRow>();
  /** The rows in the body, in order. */
  #shown: JobRow[] = [];
  #selected: string | undefined;

  constructor(options: JobTableOptions) {
    this.#options = { limit: 250, now: Date.now, ...options };
    options.body.addEventListener('click', (event) => this.#choose(event));
    options.body.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' || event.key === ' ') this.#choose(event);
    });
  }

  /** Shows the jobs that match, newest first. */
  render(jobs: ReadonlyMap<string, JobSnapshot>, matches: (job: JobSnapshot) => boolean): void {
    const { body, limit } = this.#options;
    const visible: JobSnapshot[] = [];
    for (const job of jobs.values()) if (matches(job)) visible.push(job);
    visible.sort(newestFirst);
    const now = this.#options.now();
    const next = visible.slice(0, limit).map((job) => {
      let row = this.#rows.get(job.id);
      if (row === undefined) {
        row = new JobRow(job, now);
        this.#rows.set(job.id, row);
      } else row.update(job);
      row.select(job.id === this.#selected);
      return row;
    });
    const keep = new Set(next);
    for (const row of this.#shown) if (!keep.has(row)) row.element.remove();
    // Walk the wanted order; move a row only where it differs from what is there.
    let cursor = body.firstElementChild;
    for (const row of next) {
      if (row.element === cursor) cursor = cursor.nextElementSibling;
      else body.insertBefore(row.element, cursor);
    }
    this.#shown = next;
    this.#options.empty.hidden = visible.length > 0;
    const hidden = visible.length - next.length;
    this.#options.more.hidden = hidden <= 0;
    setText(this.#options.more, hidden > 0 ? `Showing the newest ${next.length} of ${visible.length} matching jobs.` : '');
  }

  /** Marks the row of the job shown in the panel. */
  select(id: string | undefined): void {
    this.#selected = id;
    for (const row of this.#shown) row.select(row.id === id);
  }

  /** Advances every shown age to now; called once a second. */
  tick(): void {
    const now = this.#options.now();
    for (const row of this.#shown) row.tick(now);
  }

  #choose(event: Event): void {
    const row = event.target instanceof Element ? event.target.closest('tr') : null;
    const id = row?.dataset.jobId;
    if (id === undefined) return;
    event.preventDefault();
    this.#options.onSelect(id);
  }
}

/** Newest first: by creation time, then by id (ids rise with time). */
function newestFirst(a: JobSnapshot, b: JobSnapshot): number {
  return b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** One job's row: its cells, rewritten in place. */
class JobRow {
  readonly element: HTMLTableRowElement;
  readonly id: string;
  readonly #createdAt: number;
  readonly #cells: {
    name: HTMLElement;
    provider: HTMLElement;
    kind: HTMLElement;
    status: HTMLElement;
    bar: HTMLElement;
    progress: HTMLElement;
    age: HTMLElement;
    source: HTMLElement;
  };
  #version = 0;

  constructor(job: JobSnapshot, now: number) {
    this.id = job.id;
    this.#createdAt = job.createdAt;
    const bar = h('span', { class: 'bar-fill' });
    this.#cells = {
      name: h('span', { class: 'job-name' }),
      provider: h('span', { class: 'provider' }),
      kind: h('span', { class: 'kind' }),
      status: h('span', { class: 'status' }),
      bar,
      progress: h('span', { class: 'progress-label' }),
      age: h('span', { class: 'age' }),
      source: h('span', { class: 'source' }),
    };
    const c = this.#cells;
    this.element = h(
      'tr',
      { tabindex: '0', 'data-job-id': job.id },
      h('td', { class: 'col-name' }, c.name),
      h('td', { class: 'col-provider' }, c.provider),
      h('td', { class: 'col-kind' }, c.kind),
      h('td', { class: 'col-status' }, c.status),
      h('td', { class: 'col-progress' }, h('span', { class: 'bar' }, bar), c.progress),
      h('td', { class: 'col-age' }, c.age),
      h('td', { class: 'col-source' }, c.source),
    );
    this.update(job);
    this.tick(now);
  }

  update(job: JobSnapshot): void {
    if (job.version <= this.#version) return;
    const statusChanged = this.element.dataset.status !== undefined && this.element.dataset.status !== job.status;
    this.#version = job.version;
    const c = this.#cells;
    this.element.dataset.status = job.status;
    setText(c.name, job.name ?? job.id);
    setAttribute(c.name, 'title', job.name === null ? undefined : job.id);
    setText(c.provider, job.provider);
    setText(c.kind, job.kind);
    setText(c.status, job.status);
    setAttribute(c.status, 'title', job.error === null ? job.providerStatus ?? undefined : `${job.error.code}: ${job.error.message}`);
    const p = job.status === 'succeeded' ? 100 : percent(job.progress);
    c.bar.style.width = `${p ?? 0}%`;
    setAttribute(c.bar.parentElement as Element, 'data-indeterminate', job.status === 'running' && p === undefined ? '' : undefined);
    setText(c.progress, job.status === 'running' || job.status === 'queued' ? (p === undefined ? '' : `${p}%`) : '');
    setText(c.source, job.source);
    c.source.dataset.source = job.source;
    if (statusChanged) flash(c.status);
  }

  select(selected: boolean): void {
    setAttribute(this.element, 'aria-selected', selected ? 'true' : undefined);
  }

  tick(now: number): void {
    setText(this.#cells.age, formatAge(now - this.#createdAt));
  }
}

/**
 * A short highlight on a cell that just changed. Restarting it needs a reflow in between; the
 * class goes once it has played, or moving the row would play it again.
 */
function flash(element: HTMLElement): void {
  element.classList.remove('changed');
  void element.offsetWidth;
  element.classList.add('changed');
  element.addEventListener('animationend', () => element.classList.remove('changed'), { once: true });
}
