/// <reference lib="dom" />
import type { JobSnapshot, JobStatus } from '../client/index.js';
import type { Stats } from './dashboard-api.js';
import { h, setText } from './dom.js';

const STATUSES: readonly JobStatus[] = ['queued', 'running', 'succeeded', 'failed', 'canceled'];

interface Card {
  value: HTMLElement;
  detail: HTMLElement;
}

/**
 * The counters strip: jobs by status (from the live job set, so they move with the table),
 * then how updates reached the server: webhooks and polls, and the duplicate webhooks it
 * dropped (from `GET /v1/stats`, refreshed every few seconds).
 */
export class Counters {
  readonly #cards = new Map<string, Card>();
  readonly #retention: HTMLElement;

  constructor(root: HTMLElement) {
    const card = (key: string, label: string, attributes: Record<string, string> = {}): HTMLElement => {
      const value = h('span', { class: 'counter-value' }, '–');
      const detail = h('span', { class: 'counter-detail' });
      this.#cards.set(key, { value, detail });
      return h('div', { class: 'counter', 'data-counter': key, ...attributes }, h('span', { class: 'counter-label' }, label), value, detail);
    };
    this.#retention = h('span', { class: 'retention-note', 'data-retention': '' });
    root.replaceChildren(
      h(
        'div',
        { class: 'counter-group', 'data-scope': 'jobs' },
        h('span', { class: 'counter-group-label' }, 'Jobs kept, all time ', this.#retention),
        h('div', { class: 'counter-cards' }, ...STATUSES.map((status) => card(status, status.charAt(0).toUpperCase() + status.slice(1), { 'data-status': status }))),
      ),
      h(
        'div',
        { class: 'counter-group', 'data-scope': 'server' },
        h('span', { class: 'counter-group-label' }, 'Since the server started'),
        h(
          'div',
          { class: 'counter-cards' },
          card('webhooks', 'Webhooks', { title: 'Webhook deliveries since the server started' }),
          card('polls', 'Polls', { title: 'Status polls since the server started' }),
          card('duplicates', 'Duplicates dropped', { title: 'Webhooks that repeated an earlier one, since the server started' }),
        ),
      ),
    );
  }

  /** Hides the server-wide counters (webhooks, polls): a scoped read token may not read them. */
  hideServerCounters(root: HTMLElement): void {
    const groups = root.querySelectorAll<HTMLElement>('.counter-group');
    const server = groups[groups.length - 1];
    if (server !== undefined && groups.length > 1) server.hidden = true;
  }

  /** Says how long finished jobs are kept (`GET /v1/retention`). */
  retention(retainDays: number | null): void {
    setText(this.#retention, retainDays === null ? '· kept forever' : `· finished jobs are kept ${retainDays} day${retainDays === 1 ? '' : 's'}`);
  }

  /** Counts the live job set by status. */
  jobs(jobs: ReadonlyMap<string, JobSnapshot>): void {
    const counts: Record<JobStatus, number> = { queued: 0, running: 0, succeeded: 0, failed: 0, canceled: 0 };
    for (const job of jobs.values()) counts[job.status] += 1;
    for (const status of STATUSES) this.#set(status, counts[status]);
  }

  /** Shows the server's webhook and poll counts since it started. */
  stats(stats: Stats): void {
    const { applied, duplicate, rejected } = stats.webhooks;
    this.#set('webhooks', applied + duplicate + rejected, `${applied} applied${rejected > 0 ? ` · ${rejected} rejected` : ''}`);
    const polls = Object.entries(stats.polls);
    const total = polls.reduce((sum, [, n]) => sum + n, 0);
    const problems = polls.filter(([outcome, n]) => outcome !== 'ok' && n > 0).map(([outcome, n]) => `${n} ${outcome}`);
    this.#set('polls', total, problems.length === 0 ? 'all answered' : problems.join(' · '));
    this.#set('duplicates', duplicate, 'repeats, no new version');
  }

  #set(key: string, value: number, detail?: string): void {
    const card = this.#cards.get(key);
    if (card === undefined) return;
    setText(card.value, value.toLocaleString('en'));
    if (detail !== undefined) setText(card.detail, detail);
  }
}
