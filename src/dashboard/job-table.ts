/// <reference lib="dom" />
import type { JobSnapshot } from '../client/index.js';
import { isTerminal } from '../streams/job-status.js';
import { h, setAttribute, setText } from './dom.js';
import { displayName, formatAge, percent } from './format.js';

/** Options of {@link JobTable}. */
export interface JobTableOptions {
  /** The table body the rows go in. */
  body: HTMLTableSectionElement;
  /** A row was clicked (or chosen with Enter). */
  onSelect: (id: string) => void;
  /** The checked rows changed. */
  onCheck?: (ids: ReadonlySet<string>) => void;
  /** Rows get no checkbox (a scoped read token may not act). @default false */
  readOnly?: boolean;
  /** The clock. @default Date.now */
  now?: () => number;
}

/**
 * The job table: the rows it is given, in that order. Rows are keyed by job id and kept: an
 * update rewrites only the cells whose text changed, and rows are moved only when the order
 * changes, so nothing flickers. A failed job's error shows in its row; running jobs show their
 * elapsed time, finished ones their duration.
 */
export class JobTable {
  readonly #options: JobTableOptions & { now: () => number };
  readonly #rows = new Map<string, JobRow>();
  /** The rows in the body, in order. */
  #shown: JobRow[] = [];
  #selected: string | undefined;
  readonly #checked = new Set<string>();

  constructor(options: JobTableOptions) {
    this.#options = { now: Date.now, ...options };
    options.body.addEventListener('click', (event) => {
      if (event.target instanceof HTMLInputElement && event.target.type === 'checkbox') return;
      this.#choose(event);
    });
    options.body.addEventListener('change', (event) => {
      const box = event.target;
      if (!(box instanceof HTMLInputElement) || box.type !== 'checkbox') return;
      const id = box.closest('tr')?.dataset.jobId;
      if (id === undefined) return;
      if (box.checked) this.#checked.add(id);
      else this.#checked.delete(id);
      this.#options.onCheck?.(this.#checked);
    });
    options.body.addEventListener('keydown', (event) => {
      if (event.target instanceof HTMLInputElement) return;
      if (event.key === 'Enter' || event.key === ' ') this.#choose(event);
    });
  }

  /** Shows these jobs, in this order. */
  render(jobs: readonly JobSnapshot[]): void {
    const { body } = this.#options;
    const now = this.#options.now();
    const next = jobs.map((job) => {
      let row = this.#rows.get(job.id);
      if (row === undefined) {
        row = new JobRow(job, now, this.#options.readOnly === true);
        this.#rows.set(job.id, row);
      } else row.update(job);
      row.select(job.id === this.#selected);
      row.check(this.#checked.has(job.id));
      return row;
    });
    const keep = new Set(next);
    for (const row of this.#shown) {
      if (keep.has(row)) continue;
      row.element.remove();
      this.#rows.delete(row.id);
    }
    // Walk the wanted order; move a row only where it differs from what is there.
    let cursor = body.firstElementChild;
    for (const row of next) {
      if (row.element === cursor) cursor = cursor.nextElementSibling;
      else body.insertBefore(row.element, cursor);
    }
    this.#shown = next;
    let dropped = false;
    for (const id of this.#checked) {
      if (!this.#rows.has(id)) {
        this.#checked.delete(id);
        dropped = true;
      }
    }
    if (dropped) this.#options.onCheck?.(this.#checked);
  }

  /** A newer version of a shown job: its row is rewritten in place (it does not move). */
  update(job: JobSnapshot): void {
    this.#rows.get(job.id)?.update(job);
  }

  /** Whether the job has a row. */
  has(id: string): boolean {
    return this.#rows.has(id);
  }

  /** Marks the row of the job shown in the panel. */
  select(id: string | undefined): void {
    this.#selected = id;
    for (const row of this.#shown) row.select(row.id === id);
  }

  /** Unchecks every row. */
  uncheckAll(): void {
    this.#checked.clear();
    for (const row of this.#shown) row.check(false);
    this.#options.onCheck?.(this.#checked);
  }

  /** Checks or unchecks every shown row that may be cancelled. */
  checkAll(checked: boolean): void {
    for (const row of this.#shown) {
      const on = checked && row.cancellable;
      row.check(on);
      if (on) this.#checked.add(row.id);
      else this.#checked.delete(row.id);
    }
    this.#options.onCheck?.(this.#checked);
  }

  /** Advances every shown age and elapsed time to now; called once a second. */
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

/**
 * How long a job ran: from creation to now while it is unfinished, to when it finished once it
 * is (`finished.at`; for records older than that field, its last change).
 */
export function jobDuration(job: JobSnapshot, now: number): number {
  if (!isTerminal(job.status)) return now - job.createdAt;
  const finished = (job as { finished?: { at?: unknown } | null }).finished;
  return (typeof finished?.at === 'number' ? finished.at : job.updatedAt) - job.createdAt;
}

/** One job's row: its cells, rewritten in place. */
class JobRow {
  readonly element: HTMLTableRowElement;
  readonly id: string;
  #job: JobSnapshot;
  readonly #cells: {
    check: HTMLInputElement;
    name: HTMLElement;
    error: HTMLElement;
    provider: HTMLElement;
    kind: HTMLElement;
    status: HTMLElement;
    bar: HTMLElement;
    progress: HTMLElement;
    age: HTMLElement;
    duration: HTMLElement;
    source: HTMLElement;
  };

  constructor(job: JobSnapshot, now: number, readOnly: boolean) {
    this.id = job.id;
    this.#job = job;
    const bar = h('span', { class: 'bar-fill' });
    this.#cells = {
      check: h('input', { type: 'checkbox', class: 'row-check', 'aria-label': `Select ${displayName(job)}` }),
      name: h('span', { class: 'job-name' }),
      error: h('span', { class: 'row-error', hidden: true }),
      provider: h('span', { class: 'provider' }),
      kind: h('span', { class: 'kind' }),
      status: h('span', { class: 'status' }),
      bar,
      progress: h('span', { class: 'progress-label' }),
      age: h('span', { class: 'age' }),
      duration: h('span', { class: 'duration' }),
      source: h('span', { class: 'source' }),
    };
    const c = this.#cells;
    this.element = h(
      'tr',
      { tabindex: '0', 'data-job-id': job.id },
      h('td', { class: 'col-check' }, readOnly ? null : c.check),
      h('td', { class: 'col-name' }, c.name, c.error),
      h('td', { class: 'col-provider' }, c.provider),
      h('td', { class: 'col-kind' }, c.kind),
      h('td', { class: 'col-status' }, c.status),
      h('td', { class: 'col-progress' }, h('span', { class: 'bar' }, bar), c.progress),
      h('td', { class: 'col-age' }, c.age),
      h('td', { class: 'col-duration' }, c.duration),
      h('td', { class: 'col-source' }, c.source),
    );
    this.#draw(job, false);
    this.tick(now);
  }

  /** Whether the job may still be cancelled. */
  get cancellable(): boolean {
    return !isTerminal(this.#job.status);
  }

  update(job: JobSnapshot): void {
    if (job.version <= this.#job.version) return;
    const statusChanged = this.#job.status !== job.status;
    this.#job = job;
    this.#draw(job, statusChanged);
    this.tick(Date.now());
  }

  #draw(job: JobSnapshot, statusChanged: boolean): void {
    const c = this.#cells;
    this.element.dataset.status = job.status;
    setText(c.name, displayName(job));
    setAttribute(c.name, 'title', job.name === null ? job.id : `${job.name} (${job.id})`);
    c.error.hidden = job.error === null;
    setText(c.error, job.error === null ? '' : `${job.error.code}: ${job.error.message}`);
    setAttribute(c.error, 'title', job.error === null ? undefined : job.error.message);
    setText(c.provider, job.provider);
    setText(c.kind, job.kind);
    setText(c.status, job.status);
    setAttribute(c.status, 'title', job.providerStatus ?? undefined);
    const p = job.status === 'succeeded' ? 100 : percent(job.progress);
    c.bar.style.width = `${p ?? 0}%`;
    setAttribute(c.bar.parentElement as Element, 'data-indeterminate', job.status === 'running' && p === undefined ? '' : undefined);
    setText(c.progress, job.status === 'running' || job.status === 'queued' ? (p === undefined ? '' : `${p}%`) : '');
    setText(c.source, job.source);
    c.source.dataset.source = job.source;
    c.check.disabled = isTerminal(job.status);
    if (statusChanged) flash(c.status);
  }

  select(selected: boolean): void {
    setAttribute(this.element, 'aria-selected', selected ? 'true' : undefined);
  }

  check(checked: boolean): void {
    this.#cells.check.checked = checked;
  }

  tick(now: number): void {
    setText(this.#cells.age, formatAge(now - this.#job.createdAt));
    const finished = isTerminal(this.#job.status);
    setText(this.#cells.duration, formatAge(jobDuration(this.#job, now)));
    this.#cells.duration.dataset.running = String(!finished);
    setAttribute(this.#cells.duration, 'title', finished ? 'Duration: created to finished' : 'Elapsed since created');
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
