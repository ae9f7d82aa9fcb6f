/**
 * What the page shows, as it lives in the address bar: the view, the filters, the search, the
 * sort, the time range and the open job. A reload or a shared link restores it.
 *
 * `?view=charts&q=riff&status=failed&provider=klangio&range=24h&sort=updatedAt&order=asc&job=job_…`
 */
import type { JobStatus } from '../client/index.js';

/** The dashboard's views. */
export type View = 'jobs' | 'charts' | 'providers';
/** Preset time ranges of the table and the charts; `custom` uses `from`/`to`. */
export type Range = '1h' | '24h' | '7d' | 'all' | 'custom';

/** The page's state. */
export interface PageState {
  view: View;
  q: string;
  statuses: JobStatus[];
  providers: string[];
  kinds: string[];
  sort: 'createdAt' | 'updatedAt';
  order: 'asc' | 'desc';
  range: Range;
  /** Custom range bounds, epoch ms. */
  from: number | undefined;
  to: number | undefined;
  /** The job open in the panel. */
  job: string | undefined;
  /** How far back the charts reach. */
  span: ChartSpan;
  /** Rows per page of the table. */
  size: PageSize;
}

/** The table's page sizes. */
export const PAGE_SIZES = [10, 25, 50, 100] as const;
export type PageSize = (typeof PAGE_SIZES)[number];

/** The charts' spans and their column widths. */
export const CHART_SPANS = { '1h': { ms: 3_600_000, bucketMs: 60_000 }, '6h': { ms: 6 * 3_600_000, bucketMs: 5 * 60_000 }, '24h': { ms: 86_400_000, bucketMs: 20 * 60_000 }, '7d': { ms: 7 * 86_400_000, bucketMs: 3 * 3_600_000 } } as const;
export type ChartSpan = keyof typeof CHART_SPANS;

const VIEWS: readonly View[] = ['jobs', 'charts', 'providers'];
const RANGES: readonly Range[] = ['1h', '24h', '7d', 'all', 'custom'];
const STATUSES: readonly JobStatus[] = ['queued', 'running', 'succeeded', 'failed', 'canceled'];
/** How long each preset range reaches back. */
export const RANGE_MS: Record<'1h' | '24h' | '7d', number> = { '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000 };

/** The state of a page with no parameters. */
export const DEFAULT_STATE: PageState = { view: 'jobs', q: '', statuses: [], providers: [], kinds: [], sort: 'createdAt', order: 'desc', range: 'all', from: undefined, to: undefined, job: undefined, span: '1h', size: 50 };

/**
 * Reads the state from a query string; anything unknown or malformed falls back to the default.
 *
 * @example readState('?status=failed&job=job_1').statuses // ['failed']
 */
export function readState(search: string): PageState {
  const params = new URLSearchParams(search);
  const one = (name: string): string | undefined => params.get(name)?.trim() || undefined;
  const time = (name: string): number | undefined => {
    const value = one(name);
    if (value === undefined) return undefined;
    const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
    return Number.isFinite(ms) ? ms : undefined;
  };
  const view = one('view') as View | undefined;
  const range = one('range') as Range | undefined;
  const from = time('from');
  const to = time('to');
  const span = one('span');
  const size = Number(one('size'));
  return {
    view: view !== undefined && VIEWS.includes(view) ? view : 'jobs',
    q: (params.get('q') ?? '').slice(0, 200),
    statuses: params.getAll('status').filter((s): s is JobStatus => (STATUSES as readonly string[]).includes(s)),
    providers: params.getAll('provider').filter((p) => p !== ''),
    kinds: params.getAll('kind').filter((k) => k !== ''),
    sort: one('sort') === 'updatedAt' ? 'updatedAt' : 'createdAt',
    order: one('order') === 'asc' ? 'asc' : 'desc',
    range: range !== undefined && RANGES.includes(range) ? range : from !== undefined || to !== undefined ? 'custom' : 'all',
    from,
    to,
    job: one('job'),
    span: span !== undefined && span in CHART_SPANS ? (span as ChartSpan) : '1h',
    size: (PAGE_SIZES as readonly number[]).includes(size) ? (size as PageSize) : 50,
  };
}

/**
 * The query string of a state, leaving out what is at its default.
 *
 * @example writeState({ ...DEFAULT_STATE, q: 'riff' }) // '?q=riff'
 */
export function writeState(state: PageState): string {
  const params = new URLSearchParams();
  if (state.view !== 'jobs') params.set('view', state.view);
  if (state.q !== '') params.set('q', state.q);
  for (const s of state.statuses) params.append('status', s);
  for (const p of state.providers) params.append('provider', p);
  for (const k of state.kinds) params.append('kind', k);
  if (state.sort !== 'createdAt') params.set('sort', state.sort);
  if (state.order !== 'desc') params.set('order', state.order);
  if (state.range !== 'all') params.set('range', state.range);
  if (state.range === 'custom' && state.from !== undefined) params.set('from', new Date(state.from).toISOString());
  if (state.range === 'custom' && state.to !== undefined) params.set('to', new Date(state.to).toISOString());
  if (state.span !== '1h') params.set('span', state.span);
  if (state.size !== 50) params.set('size', String(state.size));
  if (state.job !== undefined) params.set('job', state.job);
  const search = params.toString();
  return search === '' ? '' : `?${search}`;
}

/** The createdAt bounds of a state's range at `now`. */
export function rangeBounds(state: PageState, now: number): { from?: number; to?: number } {
  if (state.range === 'all') return {};
  if (state.range === 'custom') return { ...(state.from === undefined ? {} : { from: state.from }), ...(state.to === undefined ? {} : { to: state.to }) };
  return { from: now - RANGE_MS[state.range] };
}
