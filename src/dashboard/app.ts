/// <reference lib="dom" />
/**
 * The jobstream dashboard: the page's entry point (bundled into `/assets/app.js`).
 *
 * It signs in with the API token, connects the remote client (which keeps one WebSocket up,
 * reconnecting and resuming by itself) and wires the parts: counters, filter chips, the live
 * job table, the job panel and the new-job form. All live data comes from `client.jobs$()`.
 */
import { ClientError, connect, type JobSnapshot, type RemoteClient } from '../client/index.js';
import { showConnection } from './connection-indicator.js';
import { Counters } from './counters.js';
import type { CancelModeInfo } from './cancel-confirmation.js';
import { byId, setText } from './dom.js';
import { JobFilters } from './job-filters.js';
import { JobPanel } from './job-panel.js';
import { JobTable } from './job-table.js';
import { NewJobForm } from './new-job-form.js';
import { askForToken, forgetToken, keepToken, takeToken } from './token.js';

/** How often the webhook and poll counters are refreshed while the tab is visible. */
const STATS_EVERY_MS = 2000;
/** How long to wait before trying again when the server cannot be reached at sign-in. */
const RETRY_MS = 2000;

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
      return start(client);
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

function start(client: RemoteClient): void {
  const api = client.rest;
  let jobs: ReadonlyMap<string, JobSnapshot> = new Map();
  // A scoped read token sees only its jobs (the server narrows every stream) and may not act:
  // no new-job form, no cancel, no server-wide counters or provider list.
  const access = client.access;
  const scoped = access.type === 'scoped';

  const filters = new JobFilters(byId('filters', HTMLElement), () => render());
  const table = new JobTable({
    body: byId('jobs-body', HTMLTableSectionElement),
    empty: byId('jobs-empty', HTMLElement),
    more: byId('jobs-more', HTMLElement),
    onSelect: (id) => {
      const job = jobs.get(id);
      if (job === undefined) return;
      panel.open(job);
      table.select(id);
    },
  });
  let cancelModes = new Map<string, CancelModeInfo>();
  const panel = new JobPanel({
    element: byId('job-panel', HTMLElement),
    client,
    api,
    onClose: () => table.select(undefined),
    cancelModeOf: (provider) => cancelModes.get(provider),
    readOnly: scoped,
  });
  const counters = new Counters(byId('counters', HTMLElement));
  if (scoped) counters.hideServerCounters(byId('counters', HTMLElement));
  const form = new NewJobForm({
    dialog: byId('new-job-dialog', HTMLDialogElement),
    client,
    jobs: () => jobs,
    onSubmitted: (job) => {
      panel.open(job);
      table.select(job.id);
    },
  });
  const emptyText = byId('jobs-empty', HTMLElement).querySelector('.empty-text');

  function render(): void {
    table.render(jobs, (job) => filters.matches(job));
    if (emptyText !== null) setText(emptyText, filters.active ? 'No jobs match these filters.' : 'No jobs yet. Submit one with “New job”.');
  }

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

  if (!scoped) client.rest.providers().then(
    (providers) => {
      filters.setProviders(providers);
      form.setProviders(providers);
      cancelModes = new Map(providers.map((p) => [p.name, p.cancel]));
      panel.refresh();
    },
    () => undefined, // connect() just had them; the next reload will try again
  );

  client.jobs$().subscribe({
    next: (next) => {
      jobs = next;
      if (scoped) providersOf(next);
      render();
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

  setInterval(() => table.tick(), 1000);
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
}

void main();
