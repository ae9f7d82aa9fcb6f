/// <reference lib="dom" />
/**
 * Small SVG charts drawn by hand (no library, no CDN): a stacked column chart over time and a
 * horizontal bar chart with an optional second marker (p50 bar, p95 tick). Every chart has a
 * title, axis labels with units and a legend; each drawn mark has the class `mark` and its
 * value in `data-value`, and a `<title>` that a pointer shows.
 */
import { h } from './dom.js';

const NS = 'http://www.w3.org/2000/svg';

function s<K extends keyof SVGElementTagNameMap>(tag: K, attributes: Record<string, string | number> = {}, ...children: (Node | string)[]): SVGElementTagNameMap[K] {
  const element = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attributes)) {
    // Colours are CSS variables (light and dark themes): set through the CSSOM, which the
    // page's CSP allows (a style attribute it does not), and which reads var().
    if (name === 'fill' || name === 'stroke') element.style.setProperty(name, String(value));
    else element.setAttribute(name, String(value));
  }
  element.append(...children);
  return element;
}

/** One series of a column chart: a colour (a CSS value) and its label in the legend. */
export interface Series {
  key: string;
  label: string;
  color: string;
}

/** A legend's colour square (coloured through the CSSOM: the CSP refuses style attributes). */
function swatch(color: string): HTMLElement {
  const element = h('span', { class: 'swatch' });
  element.style.background = color;
  return element;
}

/** A chart's frame: a figure with a title, a subtitle and a legend. */
function figure(title: string, subtitle: string, legend: readonly Series[], chart: Element): HTMLElement {
  return h(
    'figure',
    { class: 'chart card' },
    h('figcaption', {}, h('span', { class: 'chart-title' }, title), h('span', { class: 'chart-subtitle' }, subtitle)),
    chart,
    legend.length === 0 ? null : h('ul', { class: 'legend' }, ...legend.map((item) => h('li', {}, swatch(item.color), item.label))),
  );
}

/** A round upper bound for an axis: 1, 2, 5, 10, 20, 50, … */
export function niceMax(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

/** Options of {@link columnChart}. */
export interface ColumnChartOptions {
  title: string;
  subtitle: string;
  /** Label of the y axis, with its unit. */
  yLabel: string;
  series: readonly Series[];
  /** Column start times (epoch ms) and each series' value there. */
  columns: readonly { start: number; values: Record<string, number> }[];
  /** How a column's time reads on the x axis. */
  formatTime: (ms: number) => string;
  /** How a value reads (tooltips, axis). */
  formatValue: (value: number) => string;
  /** A series drawn as a line over the columns instead of stacked in them. */
  line?: Series;
  /** Drawing width in CSS pixels (the text stays its size). @default 640 */
  width?: number;
}

/** Stacked columns over time (e.g. jobs finished per minute, by status), with a line for another series. */
export function columnChart(options: ColumnChartOptions): HTMLElement {
  const width = Math.max(300, Math.round(options.width ?? 640));
  const height = 220;
  const pad = { left: 48, right: 12, top: 10, bottom: 36 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const totals = options.columns.map((c) => options.series.reduce((sum, item) => sum + (c.values[item.key] ?? 0), 0));
  const lineValues = options.line === undefined ? [] : options.columns.map((c) => c.values[options.line?.key ?? ''] ?? 0);
  const max = niceMax(Math.max(0, ...totals, ...lineValues));
  const n = Math.max(1, options.columns.length);
  const step = plotW / n;
  const y = (v: number): number => pad.top + plotH - (v / max) * plotH;
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `${options.title}: ${options.subtitle}`, class: 'chart-svg' });
  for (const tick of [0, 0.5, 1]) {
    const v = max * tick;
    svg.append(s('line', { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v), class: 'grid' }), s('text', { x: pad.left - 6, y: y(v) + 4, class: 'axis-label', 'text-anchor': 'end' }, options.formatValue(v)));
  }
  svg.append(s('text', { x: 12, y: pad.top + plotH / 2, class: 'axis-title', transform: `rotate(-90 12 ${pad.top + plotH / 2})`, 'text-anchor': 'middle' }, options.yLabel));
  options.columns.forEach((column, i) => {
    let base = 0;
    for (const item of options.series) {
      const value = column.values[item.key] ?? 0;
      if (value <= 0) continue;
      const top = y(base + value);
      svg.append(
        s(
          'rect',
          { x: pad.left + i * step + step * 0.1, y: top, width: Math.max(1, step * 0.8), height: Math.max(0.5, y(base) - top), fill: item.color, class: 'mark', 'data-series': item.key, 'data-value': value },
          s('title', {}, `${options.formatTime(column.start)} · ${item.label}: ${options.formatValue(value)}`),
        ),
      );
      base += value;
    }
  });
  if (options.line !== undefined && options.columns.length > 0) {
    const points = lineValues.map((v, i) => `${pad.left + i * step + step / 2},${y(v)}`).join(' ');
    svg.append(s('polyline', { points, fill: 'none', stroke: options.line.color, 'stroke-width': 2, class: 'line', 'data-series': options.line.key }));
  }
  const labels = Math.min(Math.max(2, Math.floor(plotW / 90)), options.columns.length);
  for (let k = 0; k < labels; k++) {
    const i = Math.round((k * (options.columns.length - 1)) / Math.max(1, labels - 1));
    const column = options.columns[i];
    if (column === undefined) continue;
    svg.append(s('text', { x: pad.left + i * step + step / 2, y: height - pad.bottom + 16, class: 'axis-label', 'text-anchor': 'middle' }, options.formatTime(column.start)));
  }
  svg.append(s('text', { x: pad.left + plotW / 2, y: height - 4, class: 'axis-title', 'text-anchor': 'middle' }, 'time (local)'));
  return figure(options.title, options.subtitle, [...options.series, ...(options.line === undefined ? [] : [options.line])], svg);
}

/** One bar of a {@link barChart}. */
export interface Bar {
  label: string;
  /** The bar's length. */
  value: number | null;
  /** A marker further along (e.g. p95), drawn as a tick. */
  marker?: number | null;
  /** Text at the end of the bar. */
  note: string;
  color?: string;
}

/** Options of {@link barChart}. */
export interface BarChartOptions {
  title: string;
  subtitle: string;
  /** Label of the value axis, with its unit. */
  xLabel: string;
  bars: readonly Bar[];
  formatValue: (value: number) => string;
  /** The axis' upper end. @default the largest value, rounded up */
  max?: number;
  legend?: readonly Series[];
  /** Said when there are no bars. */
  empty: string;
  /** Drawing width in CSS pixels (the text stays its size). @default 640 */
  width?: number;
}

/** Horizontal bars, one per label (e.g. p50 per provider/kind, with the p95 as a tick). */
export function barChart(options: BarChartOptions): HTMLElement {
  if (options.bars.length === 0) return figure(options.title, options.subtitle, [], h('p', { class: 'chart-empty muted' }, options.empty));
  const width = Math.max(300, Math.round(options.width ?? 640));
  const rowH = 26;
  const pad = { left: Math.min(190, width * 0.36), right: Math.min(130, width * 0.3), top: 8, bottom: 34 };
  const plotW = width - pad.left - pad.right;
  const height = pad.top + pad.bottom + rowH * options.bars.length;
  const max = options.max ?? niceMax(Math.max(0, ...options.bars.flatMap((bar) => [bar.value ?? 0, bar.marker ?? 0])));
  const x = (v: number): number => pad.left + (Math.min(v, max) / max) * plotW;
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `${options.title}: ${options.subtitle}`, class: 'chart-svg' });
  for (const tick of [0, 0.5, 1]) {
    const v = max * tick;
    svg.append(s('line', { x1: x(v), x2: x(v), y1: pad.top, y2: height - pad.bottom, class: 'grid' }), s('text', { x: x(v), y: height - pad.bottom + 14, class: 'axis-label', 'text-anchor': 'middle' }, options.formatValue(v)));
  }
  svg.append(s('text', { x: pad.left + plotW / 2, y: height - 4, class: 'axis-title', 'text-anchor': 'middle' }, options.xLabel));
  options.bars.forEach((bar, i) => {
    const top = pad.top + i * rowH;
    svg.append(s('text', { x: pad.left - 8, y: top + rowH / 2 + 4, class: 'bar-label', 'text-anchor': 'end' }, bar.label));
    if (bar.value !== null) {
      svg.append(
        s(
          'rect',
          { x: pad.left, y: top + 5, width: Math.max(bar.value > 0 ? 2 : 0, x(bar.value) - pad.left), height: rowH - 10, rx: 3, fill: bar.color ?? 'var(--running)', class: 'mark', 'data-value': bar.value },
          s('title', {}, `${bar.label}: ${bar.note}`),
        ),
      );
    }
    if (bar.marker !== undefined && bar.marker !== null) {
      svg.append(s('line', { x1: x(bar.marker), x2: x(bar.marker), y1: top + 2, y2: top + rowH - 2, class: 'marker', 'data-value': bar.marker }));
    }
    svg.append(s('text', { x: Math.max(x(bar.value ?? 0), x(bar.marker ?? 0)) + 6, y: top + rowH / 2 + 4, class: 'axis-label' }, bar.note));
  });
  return figure(options.title, options.subtitle, options.legend ?? [], svg);
}
