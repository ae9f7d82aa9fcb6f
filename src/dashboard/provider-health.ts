/// <reference lib="dom" />
import type { DashboardApi, LaneHealth } from './dashboard-api.js';
import { h, setText } from './dom.js';
import { formatAge, formatClock } from './format.js';

/** How often the lanes are asked again while the view is shown. */
const REFRESH_MS = 3000;

const STATE_LABELS: Record<string, string> = { ok: 'OK', 'rate-limited': 'Rate-limited', outage: 'Outage' };

/** A budget bar's fill (sized through the CSSOM: the CSP refuses style attributes). */
function fill(share: number): HTMLElement {
  const element = h('span', { class: 'bar-fill' });
  element.style.width = `${Math.round(share * 100)}%`;
  return element;
}

/** Options of {@link ProviderHealthView}. */
export interface ProviderHealthOptions {
  root: HTMLElement;
  api: DashboardApi;
  /** The clock. @default Date.now */
  now?: () => number;
}

/**
 * The provider health view, from `GET /v1/providers/health`: one card per credential lane with
 * its rate budget (tokens left of the burst, the refill rate), its state (ok, rate-limited with
 * the Retry-After deadline counting down, outage with the next probe), its failures and recent
 * errors. Asked again every 3 s while shown; the countdowns tick every second.
 */
export class ProviderHealthView {
  readonly #options: ProviderHealthOptions;
  readonly #list: HTMLElement;
  readonly #note: HTMLElement;
  #lanes: LaneHealth[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;
  #ticker: ReturnType<typeof setInterval> | undefined;
  #generation = 0;

  constructor(options: ProviderHealthOptions) {
    this.#options = options;
    this.#list = h('div', { class: 'lanes' });
    this.#note = h('p', { class: 'muted small', role: 'status' });
    options.root.replaceChildren(h('div', { class: 'view-header' }, h('h2', {}, 'Provider health'), this.#note), this.#list);
  }

  /** Shows the lanes and keeps them fresh until `stop()`. */
  start(): void {
    this.stop();
    void this.#load();
    this.#timer = setInterval(() => {
      if (!document.hidden) void this.#load();
    }, REFRESH_MS);
    this.#ticker = setInterval(() => this.#tick(), 1000);
  }

  stop(): void {
    clearInterval(this.#timer);
    clearInterval(this.#ticker);
    this.#timer = undefined;
    this.#ticker = undefined;
  }

  async #load(): Promise<void> {
    const generation = ++this.#generation;
    try {
      const lanes = await this.#options.api.health();
      if (generation !== this.#generation) return;
      this.#lanes = lanes;
      this.#list.replaceChildren(...(lanes.length === 0 ? [h('p', { class: 'muted' }, 'No provider lanes yet: a lane appears with the first request to its provider.')] : lanes.map((lane) => this.#card(lane))));
      this.#tick();
      setText(this.#note, `Refreshed every ${REFRESH_MS / 1000} s · last ${formatClock(Date.now()).slice(0, 8)}`);
    } catch (error) {
      if (generation !== this.#generation) return;
      setText(this.#note, `Provider health could not be loaded: ${(error as Error).message}`);
    }
  }

  #card(lane: LaneHealth): HTMLElement {
    const now = (this.#options.now ?? Date.now)();
    const budget = lane.burst !== null && lane.tokens !== null ? Math.max(0, Math.min(1, lane.tokens / lane.burst)) : undefined;
    const state = lane.state;
    const deadline = state === 'rate-limited' ? lane.blockedUntil : state === 'outage' ? lane.nextProbeAt : null;
    const stateText = h('span', { class: 'lane-state', 'data-state': state }, STATE_LABELS[state] ?? state);
    const countdown = h('span', { class: 'lane-countdown', 'data-deadline': deadline === null ? '' : String(deadline) });
    const errors = lane.recentErrors.slice(-5).reverse();
    return h(
      'article',
      { class: 'lane card', 'data-lane': lane.lane, 'data-state': state },
      h('header', { class: 'lane-header' }, h('span', { class: 'lane-provider' }, lane.provider), h('code', { class: 'lane-id', title: 'Credential lane (no secret)' }, lane.lane), stateText),
      h(
        'dl',
        { class: 'details lane-details' },
        h('dt', {}, 'Rate budget'),
        h(
          'dd',
          {},
          budget === undefined
            ? 'unlimited'
            : h('span', { class: 'budget' }, h('span', { class: 'bar' }, fill(budget)), ` ${(lane.tokens ?? 0).toFixed(1)} of ${lane.burst} calls left · refills ${lane.ratePerSecond ?? '–'}/s`),
        ),
        h('dt', {}, state === 'rate-limited' ? 'Retry-After until' : state === 'outage' ? 'Next probe' : 'State'),
        h('dd', {}, deadline === null ? (lane.since === null ? 'healthy' : `since ${formatClock(lane.since).slice(0, 8)}`) : h('span', {}, `${formatClock(deadline).slice(0, 8)} `, countdown)),
        ...(lane.since !== null && state !== 'ok' ? [h('dt', {}, 'Since'), h('dd', {}, `${formatClock(lane.since).slice(0, 8)} (${formatAge(now - lane.since)})`)] : []),
        h('dt', {}, 'Jobs polled'),
        h('dd', {}, lane.jobs === null || lane.jobs === undefined ? '–' : String(lane.jobs)),
        h('dt', {}, 'Failures'),
        h('dd', {}, String(lane.failures)),
      ),
      errors.length === 0
        ? h('p', { class: 'muted small' }, 'No recent errors.')
        : h('ol', { class: 'lane-errors' }, ...errors.map((e) => h('li', {}, h('time', { datetime: new Date(e.at).toISOString() }, formatClock(e.at).slice(0, 8)), ' ', h('code', {}, e.kind), ' ', h('span', { class: 'lane-error-message' }, e.message)))),
    );
  }

  /** Counts every deadline down. */
  #tick(): void {
    const now = (this.#options.now ?? Date.now)();
    for (const element of this.#list.querySelectorAll<HTMLElement>('.lane-countdown')) {
      const deadline = Number(element.dataset.deadline);
      if (element.dataset.deadline === '' || !Number.isFinite(deadline)) continue;
      setText(element, deadline > now ? `(in ${formatAge(Math.ceil((deadline - now) / 1000) * 1000)})` : '(due now)');
    }
  }

  /** The lanes last shown. */
  get lanes(): readonly LaneHealth[] {
    return this.#lanes;
  }
}
