/// <reference lib="dom" />
import type { JobSnapshot } from '../client/index.js';
import { h, setText } from './dom.js';
import { formatClock, formatOffset, percent } from './format.js';

/**
 * A job's timeline: every version the page knows of, oldest first, each with its status, what
 * changed, where it came from (poll, webhook, …) and when. Versions come from the server's
 * history of the job and from the live stream, in any order and more than once: they are
 * keyed by version, so each shows once and in order.
 */
export class JobTimeline {
  readonly element: HTMLElement;
  readonly #list: HTMLOListElement;
  readonly #note: HTMLElement;
  readonly #versions = new Map<number, JobSnapshot>();
  #historyLoaded = false;
  #drawn = '';

  constructor() {
    this.#list = h('ol', { class: 'timeline' });
    this.#note = h('p', { class: 'muted small', hidden: true });
    this.element = h('section', { class: 'panel-section', 'aria-label': 'Timeline' }, h('h3', {}, 'Timeline'), this.#list, this.#note);
  }

  /** Adds versions (duplicates and versions already shown are ignored). */
  add(...jobs: JobSnapshot[]): void {
    for (const job of jobs) if (!this.#versions.has(job.version)) this.#versions.set(job.version, job);
    this.#draw();
  }

  /** The server's history arrived (or could not be had: `problem` says why). */
  historyLoaded(problem?: string): void {
    this.#historyLoaded = true;
    this.#note.hidden = false;
    setText(this.#note, problem ?? '');
    this.#draw();
  }

  #draw(): void {
    const versions = [...this.#versions.values()].sort((a, b) => a.version - b.version);
    const key = versions.map((job) => job.version).join(',');
    if (key !== this.#drawn) {
      this.#drawn = key;
      const createdAt = versions[0]?.createdAt ?? 0;
      this.#list.replaceChildren(...versions.map((job, i) => entry(job, versions[i - 1], createdAt)));
    }
    const first = versions[0]?.version ?? 1;
    if (this.#historyLoaded && first > 1 && this.#note.textContent === '') {
      setText(this.#note, `Versions before v${first} are no longer kept by the server.`);
    }
  }
}

function entry(job: JobSnapshot, previous: JobSnapshot | undefined, createdAt: number): HTMLLIElement {
  const moved = previous !== undefined && previous.version === job.version - 1 && previous.status !== job.status;
  return h(
    'li',
    { class: 'timeline-entry', 'data-status': job.status, 'data-version': String(job.version), ...(moved || job.version === 1 ? { 'data-moved': '' } : {}) },
    h('span', { class: 'timeline-dot', 'aria-hidden': 'true' }),
    h('span', { class: 'timeline-version' }, `v${job.version}`),
    h('span', { class: 'timeline-status status', 'data-status': job.status }, job.status),
    h('span', { class: 'timeline-detail' }, describe(job, previous)),
    h('span', { class: 'source', 'data-source': job.source }, job.source),
    h('time', { class: 'timeline-time', datetime: new Date(job.updatedAt).toISOString(), title: formatClock(job.updatedAt) }, formatOffset(job.updatedAt - createdAt)),
  );
}

/** What a version changed, in a few words. */
function describe(job: JobSnapshot, previous: JobSnapshot | undefined): string {
  if (job.version === 1) return 'submitted';
  if (job.source === 'results' && job.artifacts !== null) {
    const count = job.artifacts.files.length;
    if (job.artifacts.state === 'complete') return `${count} file${count === 1 ? '' : 's'} copied`;
    if (job.artifacts.state === 'failed') return 'copying files failed';
    return 'copying files';
  }
  const parts: string[] = [];
  if (previous !== undefined && previous.externalId === null && job.externalId !== null) parts.push('accepted');
  if (job.status === 'failed' && job.error !== null) parts.push(job.error.code);
  const p = percent(job.progress);
  if (job.status === 'running' && p !== undefined) parts.push(`${p}%`);
  if (job.source === 'restore') parts.push('after a restart');
  if (parts.length === 0 && job.providerStatus !== null) parts.push(job.providerStatus);
  return parts.join(' · ');
}
