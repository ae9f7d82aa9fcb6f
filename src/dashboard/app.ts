/// <reference lib="dom" />
/**
 * The jobstream dashboard: the page's entry point (bundled into `/assets/app.js`).
 *
 * It signs in with the API token, connects the remote client (which keeps one WebSocket up,
 * reconnecting and resuming by itself) and wires the parts: counters, the views (jobs, charts,
 * provider health), filter chips, the toolbar, the job table (a page of the list API, kept
 * live from `client.jobs$()`), the job panel and the new-job form. What the page shows lives
 * in the address bar (see `url-state.ts`), so a reload or a shared link restores it.
 */
import { ClientError, connect, type JobSnapshot, type RemoteClient } from '../client/index.js';
import type { CancelModeInfo } from './cancel-confirmation.js';
import { ChartsView } from './charts-view.js';
import { showConnection } from './connection-indicator.js';
import { Counters } from './counters.js';
import { DashboardApi, type JobQuery } from './dashboard-api.js';
import { byId, setText } from './dom.js';
import { displayName } from './format.js';
import { JobFilters } from './job-filters.js';
import { JobList, matchesSearch } from './job-list.js';
import { JobPanel } from './job-panel.js';
import { JobTable } from './job-table.js';
import { JobToolbar } from './job-toolbar.js';
import { NewJobForm } from './new-job-form.js';
import { ProviderHealthView } from './provider-health.js';
import { askForToken, forgetToken, keepToken, takeToken } from './token.js';
import { showState } from './address-bar.js';
import { PAGE_SIZES, rangeBounds, readState, type PageState, type View } from './url-state.js';
import { mountWebhooksView } from './webhooks-view.js';

/** How often the webhook and poll counters are refreshed while the tab is visible. */
const STATS_EVERY_MS = 2000;
/** How long to wait before trying again when the server cannot be reached at sign-in. */
const RETRY_MS = 2000;
/** How long a token minted for `<audio src>` lasts. */
const AUDIO_TOKEN_SECONDS = 600;

/** The server's base URL: wherever this page was served from. */
const base = new URL('.', window.location.href).href.replace(/\/+$/, '');

async function main(): Promise<void> {
  const indicator = byId('connection', HTMLElement);
  let token = takeToken();
  let problem: string | undefined;
  for (;;) {
    token ??= await askForToken(byId('token-form', HTMLFormElement), problem);
    try {
      const client = await connect({ url: base, token });
      keepToken(token);
      return start(client, token);
    } catch (error) {
      if (error instanceof ClientError && error.code === 'UNAUTHORIZED') {
        forgetToken();
        token = undefined;
        problem = 'The server refused that token. Use the one it printed at start.';
        continue;
      }
      indicator.hidden = false;
      indicator.dataset.state = 'connecting';
      setText(indicator.querySelector('.label') ?? indicator, 'Server unreachable, retrying…');
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  }
}

/** Whether two states ask the list API for the same jobs. */
function sameQuery(a: PageState, b: PageState): boolean {
  const key = (s: PageState) => JSON.stringify([s.q, s.statuses, s.providers, s.kinds, s.sort, s.order, s.range, s.from, s.to, s.size]);
  return key(a) === key(b);
}

function start(client: RemoteClient, token: string): void {
  const api = client.rest;
  const dashboardApi = new DashboardApi(base, token);
  let live: ReadonlyMap<string, JobSnapshot> = new Map();
  // A scoped read token sees only its jobs (the server narrows every stream) and may not act:
  // no new-job form, no cancel or retry, no server-wide counters, charts or provider list.
  const access = client.access;
  const scoped = access.type === 'scoped';
  let state = readState(window.location.search);

  const filters = new JobFilters(byId('filters', HTMLElement), () => setState(filters.chosen));
  filters.choose(state);
  const query = (): JobQuery => ({
    ...(state.q === '' ? {} : { q: state.q }),
    sort: state.sort,
    order: state.order,
    ...rangeBounds(state, Date.now()),
    statuses: state.statuses,
    providers: state.providers,
    kinds: state.kinds,
  });
  const matches = (job: JobSnapshot): boolean => {
    const { from, to } = rangeBounds(state, Date.now());
    return filters.matches(job) && matchesSearch(job, state.q) && (from === undefined || job.createdAt >= from) && (to === undefined || job.createdAt <= to);
  };

  const toolbar = new JobToolbar({
    root: byId('toolbar', HTMLElement),
    readOnly: scoped,
    onChange: (change) => setState(change),
    onPause: (paused) => list.pause(paused),
    onCancelSelected: () => void cancelSelected(),
    onCheckAll: (checked) => table.checkAll(checked),
  });
  toolbar.show(state);
  const checkAllCell = document.querySelector('.jobs-table th.col-check');
  if (checkAllCell !== null && !scoped) checkAllCell.append(toolbar.checkAll);
  let checked: ReadonlySet<string> = new Set();
  const table = new JobTable({
    body: byId('jobs-body', HTMLTableSectionElement),
    readOnly: scoped,
    onSelect: (id) => setState({ job: id }, true),
    onCheck: (ids) => {
      checked = ids;
      toolbar.checked(ids.size);
    },
  });
  const list = new JobList({
    api: dashboardApi,
    table,
    scroller: document.querySelector<HTMLElement>('.workspace > .jobs') ?? byId('jobs-footer', HTMLElement),
    notice: byId('jobs-new', HTMLElement),
    footer: byId('jobs-footer', HTMLElement),
    empty: byId('jobs-empty', HTMLElement),
    query,
    matches,
    filtered: () => filters.active || state.q !== '' || state.range !== 'all',
    onChange: () => table.select(state.job),
    pageSize: () => state.size,
    pageSizes: PAGE_SIZES,
    onPageSize: (size) => setState({ size: size as PageState['size'] }),
  });

  async function cancelSelected(): Promise<void> {
    const ids = [...checked];
    if (ids.length === 0) return;
    const names = ids.slice(0, 5).map((id) => displayName(list.find(id) ?? { id, name: null }));
    const more = ids.length > 5 ? ` and ${ids.length - 5} more` : '';
    const trackingOnly = [...new Set(ids.map((id) => list.find(id)?.provider).filter((p): p is string => p !== undefined && cancelModes.get(p) === 'tracking-only'))];
    const warning = trackingOnly.length === 0 ? '' : `\n\n${trackingOnly.join(', ')} cannot cancel jobs: for those, jobstream only stops tracking them; the provider may still run and bill them.`;
    if (!window.confirm(`Cancel ${ids.length} job${ids.length === 1 ? '' : 's'}: ${names.join(', ')}${more}?${warning}`)) return;
    try {
      const results = await dashboardApi.cancelMany(ids);
      const failed = results.filter((r) => 'error' in r);
      table.uncheckAll();
      if (failed.length > 0) window.alert(`${failed.length} of ${results.length} could not be cancelled:\n${failed.map((r) => ('error' in r ? `${r.id}: ${r.error.message}` : '')).join('\n')}`);
    } catch (error) {
      window.alert(`Could not cancel: ${(error as Error).message}`);
    }
  }

  let cancelModes = new Map<string, CancelModeInfo>();
  let audioTokens: { id: string; token: Promise<string>; until: number } | undefined;
  const panel = new JobPanel({
    element: byId('job-panel', HTMLElement),
    client,
    api,
    onClose: () => setState({ job: undefined }, true),
    cancelModeOf: (provider) => cancelModes.get(provider),
    readOnly: scoped,
    dashboardApi,
    onOpen: (id) => setState({ job: id }, true),
    onRetried: (job) => {
      list.add(job);
      setState({ job: job.id }, true);
    },
    downstreamOf: (id) => [...live.values()].filter((job) => job.after?.jobId === id),
    find: (id) => list.find(id),
    audioToken: (id) => {
      // A scoped session's own token reads its jobs; the API token never goes in a URL.
      if (scoped) return Promise.resolve(token);
      const now = Date.now();
      if (audioTokens?.id !== id || audioTokens.until < now) {
        audioTokens = { id, token: dashboardApi.readToken([id], AUDIO_TOKEN_SECONDS), until: now + (AUDIO_TOKEN_SECONDS * 1000) / 2 };
        audioTokens.token.catch(() => {
          audioTokens = undefined;
        });
      }
      return audioTokens.token;
    },
  });
  const counters = new Counters(byId('counters', HTMLElement));
  if (scoped) counters.hideServerCounters(byId('counters', HTMLElement));
  const form = new NewJobForm({
    dialog: byId('new-job-dialog', HTMLDialogElement),
    client,
    jobs: () => live,
    onSubmitted: (job) => {
      list.add(job);
      setState({ job: job.id }, true);
    },
  });
  const charts = new ChartsView({ root: byId('view-charts', HTMLElement), api: dashboardApi, onSpan: (span) => setState({ span }) });
  const health = new ProviderHealthView({ root: byId('view-providers', HTMLElement), api: dashboardApi });

  /** Opens a job in the panel: from the table, the live set, or the server (an old job, a link). */
  let opening = 0;
  function openJob(id: string): void {
    const known = list.find(id);
    if (known !== undefined) {
      panel.open(known);
      table.select(id);
      return;
    }
    const attempt = ++opening;
    client.get(id).then(
      (job) => {
        if (attempt !== opening || state.job !== id) return;
        if (job === undefined) {
          setState({ job: undefined });
          return;
        }
        panel.open(job);
        table.select(id);
      },
      () => undefined, // the link names a job this token may not read, or the server is away
    );
  }

  function showView(view: View): void {
    for (const button of document.querySelectorAll<HTMLButtonElement>('#views button[data-view]')) button.setAttribute('aria-current', String(button.dataset.view === view));
    byId('view-jobs', HTMLElement).hidden = view !== 'jobs';
    byId('view-charts', HTMLElement).hidden = view !== 'charts';
    byId('view-providers', HTMLElement).hidden = view !== 'providers';
    if (view === 'charts') charts.start(state.span);
    else charts.stop();
    if (view === 'providers') health.start();
    else health.stop();
  }

  /** Applies a change of state: the address bar, then whatever it changes on the page. */
  function setState(change: Partial<PageState>, push = false): void {
    const previous = state;
    state = { ...state, ...change };
    showState(state, push);
    apply(previous, state);
  }

  function apply(previous: PageState | undefined, next: PageState): void {
    if (previous === undefined || previous.view !== next.view || (next.view === 'charts' && previous.span !== next.span)) showView(next.view);
    if (previous === undefined || !sameQuery(previous, next)) {
      filters.choose(next);
      toolbar.show(next);
      void list.reload();
    }
    if (previous === undefined || previous.job !== next.job) {
      if (next.job === undefined) {
        panel.close();
        table.select(undefined);
      } else openJob(next.job);
    }
  }

  window.addEventListener('popstate', () => {
    const previous = state;
    state = readState(window.location.search);
    apply(previous, state);
  });
  for (const button of document.querySelectorAll<HTMLButtonElement>('#views button[data-view]')) {
    const view = button.dataset.view as View;
    if (scoped && view !== 'jobs') button.hidden = true;
    button.addEventListener('click', () => setState({ view }, true));
  }
  if (scoped) state = { ...state, view: 'jobs' };

  const indicator = byId('connection', HTMLElement);
  indicator.hidden = false;
  showConnection(indicator, client.state$);
  byId('dashboard', HTMLElement).hidden = false;
  if (access.type === 'scoped') {
    const note = byId('access-note', HTMLElement);
    setText(note, `Read-only: these jobs only, until ${new Date(access.expiresAt).toLocaleString()}`);
    note.hidden = false;
  }
  const newJob = byId('new-job-button', HTMLButtonElement);
  newJob.hidden = scoped;
  if (!scoped) newJob.addEventListener('click', () => form.open());

  // The filter chips: the server's providers, or (scoped) those of the jobs it may see.
  let shownProviders = '';
  const providersOf = (all: ReadonlyMap<string, JobSnapshot>): void => {
    const kinds = new Map<string, Set<string>>();
    for (const job of all.values()) (kinds.get(job.provider) ?? kinds.set(job.provider, new Set()).get(job.provider))?.add(job.kind);
    const providers = [...kinds].sort(([a], [b]) => a.localeCompare(b)).map(([name, set]) => ({ name, kinds: [...set].sort() }));
    const key = JSON.stringify(providers);
    if (key === shownProviders) return;
    shownProviders = key;
    filters.setProviders(providers);
  };

  if (!scoped) {
    client.rest.providers().then(
      (providers) => {
        filters.setProviders(providers);
        form.setProviders(providers);
        cancelModes = new Map(providers.map((p) => [p.name, p.cancel]));
        panel.refresh();
      },
      () => undefined, // connect() just had them; the next reload will try again
    );
    dashboardApi.retention().then(
      (retention) => counters.retention(retention.retainDays),
      () => undefined, // an older server: it says nothing about retention
    );
  }

  apply(undefined, state);
  showState(state);

  // After a reconnect, the page may have missed jobs: load the view again.
  let wasOpen = false;
  client.state$.subscribe((connection) => {
    if (connection === 'open' && wasOpen) void list.reload();
    if (connection === 'open') wasOpen = true;
  });

  client.jobs$().subscribe({
    next: (next) => {
      live = next;
      if (scoped) providersOf(next);
      list.live(next);
      counters.jobs(next);
      const open = panel.id === undefined ? undefined : next.get(panel.id);
      if (open !== undefined) panel.update(open);
      const running = [...next.values()].filter((job) => job.status === 'running').length;
      document.title = running > 0 ? `(${running} running) jobstream` : 'jobstream';
    },
    error: (error: unknown) => {
      if (error instanceof ClientError && (error.code === 'UNAUTHORIZED' || error.status === 401)) forgetToken();
      const banner = byId('fatal', HTMLElement);
      setText(banner.querySelector('.fatal-text') ?? banner, `The live stream ended: ${(error as Error).message}. Reload the page to sign in again.`);
      banner.hidden = false;
    },
  });

  setInterval(() => {
    table.tick();
    panel.tick();
  }, 1000);
  const refreshStats = (): void => {
    api.stats().then(
      (stats) => counters.stats(stats),
      () => undefined, // shown again at the next refresh; the connection indicator tells of outages
    );
  };
  if (scoped) return;
  refreshStats();
  setInterval(() => {
    if (!document.hidden) refreshStats();
  }, STATS_EVERY_MS);
  // Outbound webhooks (API token only: a scoped session returned above).
  mountWebhooksView({ root: byId('webhooks', HTMLElement), base, token });
}

void main();
