/// <reference lib="dom" />
import type { DashboardApi, JobStats } from './dashboard-api.js';
import { h, setText } from './dom.js';
import { formatClock, formatMs } from './format.js';
import { barChart, columnChart, type Series } from './svg-chart.js';
import { CHART_SPANS, type ChartSpan } from './url-state.js';

/** How often the charts are drawn again while they are shown. */
const REFRESH_MS = 10_000;

const FINISHED: readonly Series[] = [
  { key: 'succeeded', label: 'succeeded', color: 'var(--succeeded)' },
  { key: 'failed', label: 'failed', color: 'var(--failed)' },
  { key: 'canceled', label: 'canceled', color: 'var(--canceled)' },
];
const CREATED: Series = { key: 'created', label: 'created (line)', color: 'var(--accent)' };
const SPAN_LABELS: Record<ChartSpan, string> = { '1h': 'hour', '6h': '6 hours', '24h': '24 hours', '7d': '7 days' };
const STATUSES = ['queued', 'running', 'succeeded', 'failed', 'canceled'] as const;

/** Options of {@link ChartsView}. */
export interface ChartsViewOptions {
  root: HTMLElement;
  api: DashboardApi;
  /** The span was changed by the user. */
  onSpan: (span: ChartSpan) => void;
}

/**
 * The charts view, from `GET /v1/stats/jobs` (computed by the server from the stored jobs, so
 * it survives restarts): jobs finished per minute by status with jobs created as a line, the
 * status of all kept jobs now, duration p50/p95 per provider and kind, failure rate per
 * provider, and how late webhooks and polls noticed a job had finished. Redrawn every 10 s
 * while shown.
 */
export class ChartsView {
  readonly #options: ChartsViewOptions;
  readonly #grid: HTMLElement;
  readonly #note: HTMLElement;
  readonly #span: HTMLSelectElement;
  #timer: ReturnType<typeof setInterval> | undefined;
  #generation = 0;
  #last: { stats: JobStats; span: ChartSpan; width: number } | undefined;

  constructor(options: ChartsViewOptions) {
    this.#options = options;
    this.#span = h(
      'select',
      { name: 'span', 'aria-label': 'Charts span' },
      ...(Object.keys(CHART_SPANS) as ChartSpan[]).map((span) => h('option', { value: span }, `Last ${SPAN_LABELS[span]}`)),
    );
    this.#span.addEventListener('change', () => options.onSpan(this.#span.value as ChartSpan));
    this.#grid = h('div', { class: 'charts-grid' });
    this.#note = h('p', { class: 'muted small', role: 'status' });
    options.root.replaceChildren(h('div', { class: 'view-header' }, h('h2', {}, 'Charts'), this.#span, this.#note), this.#grid);
    // Drawn to the width they have, so their text stays readable: again when that changes.
    new ResizeObserver(() => {
      const last = this.#last;
      if (last !== undefined && this.#grid.clientWidth > 0 && Math.abs(this.#grid.clientWidth - last.width) > 24) this.#draw(last.stats, last.span);
    }).observe(this.#grid);
  }

  #draw(stats: JobStats, span: ChartSpan): void {
    const width = this.#grid.clientWidth || 960;
    this.#last = { stats, span, width };
    this.#grid.replaceChildren(...draw(stats, span, width));
  }

  /** Shows the charts for a span and keeps them fresh; `stop()` ends the refreshing. */
  start(span: ChartSpan): void {
    this.#span.value = span;
    this.stop();
    void this.#load(span);
    this.#timer = setInterval(() => {
      if (!document.hidden) void this.#load(span);
    }, REFRESH_MS);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #load(span: ChartSpan): Promise<void> {
    const generation = ++this.#generation;
    const { ms, bucketMs } = CHART_SPANS[span];
    const to = Math.ceil(Date.now() / bucketMs) * bucketMs;
    try {
      const stats = await this.#options.api.jobStats(to - ms, to, bucketMs);
      if (generation !== this.#generation) return;
      this.#draw(stats, span);
      setText(this.#note, `Computed from the stored jobs · updated ${formatClock(Date.now()).slice(0, 8)}`);
    } catch (error) {
      if (generation !== this.#generation) return;
      setText(this.#note, `The statistics could not be loaded: ${(error as Error).message}`);
    }
  }
}

/** The charts of one answer, for a grid `width` pixels wide. */
export function draw(stats: JobStats, span: ChartSpan, width: number): HTMLElement[] {
  // Inside a chart's card (14 px padding each side); two cards a row in windows from 868 px (the CSS says so too).
  const full = width - 30;
  const half = window.innerWidth >= 868 ? (width - 14) / 2 - 30 : full;
  const perMinute = 60_000 / stats.bucketMs;
  const long = span === '24h' || span === '7d';
  const time = (ms: number): string => {
    const clock = formatClock(ms).slice(0, 5);
    if (span !== '7d') return clock;
    const d = new Date(ms);
    return `${d.getMonth() + 1}/${d.getDate()} ${clock}`;
  };
  const rate = (n: number): number => n * perMinute;
  const fmtRate = (v: number): string => (v >= 10 || v === 0 ? v.toFixed(0) : v.toFixed(v >= 1 ? 1 : 2));
  const finished = stats.buckets.reduce((sum, b) => sum + b.succeeded + b.failed + b.canceled, 0);
  const created = stats.buckets.reduce((sum, b) => sum + b.created, 0);
  const minutes = (stats.to - stats.from) / 60_000;
  const throughput = columnChart({
    title: 'Throughput',
    subtitle: `jobs finished per minute, by status · ${finished.toLocaleString('en')} finished, ${created.toLocaleString('en')} created (${(finished / minutes).toFixed(2)}/min)`,
    yLabel: 'jobs / minute',
    series: FINISHED,
    line: CREATED,
    columns: stats.buckets.map((b) => ({ start: b.start, values: { succeeded: rate(b.succeeded), failed: rate(b.failed), canceled: rate(b.canceled), created: rate(b.created) } })),
    formatTime: time,
    formatValue: fmtRate,
    width: full,
  });
  throughput.dataset.chart = 'throughput';
  throughput.classList.add('wide');
  const now = stats.statusNow;
  const statusNow = barChart({
    title: 'Status now',
    subtitle: 'all jobs the server keeps',
    xLabel: 'jobs',
    bars: STATUSES.map((status) => ({ label: status, value: now[status] ?? 0, note: (now[status] ?? 0).toLocaleString('en'), color: `var(--${status})` })),
    formatValue: (v) => v.toFixed(0),
    empty: '',
    width: half,
  });
  statusNow.dataset.chart = 'status';
  const durations = barChart({
    title: 'Duration by provider and kind',
    subtitle: `created to finished, jobs finished in the last ${SPAN_LABELS[span]} · bar p50, tick p95`,
    xLabel: 'duration',
    bars: stats.durations.map((d) => ({ label: `${d.provider} / ${d.kind}`, value: d.p50Ms, marker: d.p95Ms, note: d.p50Ms === null ? '–' : `${formatMs(d.p50Ms)} · p95 ${formatMs(d.p95Ms ?? d.p50Ms)} (${d.count})` })),
    formatValue: formatMs,
    legend: [{ key: 'p50', label: 'p50', color: 'var(--running)' }, { key: 'p95', label: 'p95 (tick)', color: 'var(--text)' }],
    empty: `No job finished in the last ${SPAN_LABELS[span]}.`,
    width: half,
  });
  durations.dataset.chart = 'durations';
  const failures = barChart({
    title: 'Failure rate by provider',
    subtitle: `failed of finished, last ${SPAN_LABELS[span]}`,
    xLabel: 'failed (%)',
    max: 100,
    bars: stats.failureRate.map((f) => ({ label: f.provider, value: f.rate === null ? null : f.rate * 100, note: `${f.rate === null ? '–' : `${Math.round(f.rate * 100)}%`} (${f.failed} of ${f.finished})`, color: 'var(--failed)' })),
    formatValue: (v) => `${v.toFixed(0)}%`,
    empty: `No job finished in the last ${SPAN_LABELS[span]}.`,
    width: half,
  });
  failures.dataset.chart = 'failures';
  const lag = barChart({
    title: 'Detection lag: webhook vs poll',
    subtitle: 'how long after the provider finished jobstream knew · bar p50, tick p95',
    xLabel: 'lag',
    bars: stats.detectionLag.map((l) => ({ label: `${l.provider} · ${l.source}`, value: l.p50Ms, marker: l.p95Ms, note: l.p50Ms === null ? '–' : `${formatMs(l.p50Ms)} · p95 ${formatMs(l.p95Ms ?? l.p50Ms)} (${l.count})`, color: l.source === 'webhook' ? '#7b4fd0' : 'var(--queued)' })),
    formatValue: formatMs,
    legend: [{ key: 'webhook', label: 'webhook', color: '#7b4fd0' }, { key: 'poll', label: 'poll', color: 'var(--queued)' }],
    empty: `No webhook or poll finished a job in the last ${SPAN_LABELS[span]}.`,
    width: half,
  });
  lag.dataset.chart = 'lag';
  if (long) throughput.dataset.long = '';
  return [throughput, statusNow, failures, durations, lag];
}
