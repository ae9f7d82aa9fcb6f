/// <reference lib="dom" />
import type { Subscription } from 'rxjs';
import type { JobSnapshot, RemoteClient } from '../client/index.js';
import { isTerminal } from '../streams/job-status.js';
import type { RestClient } from '../client/rest-client.js';
import { cancelConfirmation, confirmAndCancel, type CancelConfirmation, type CancelModeInfo } from './cancel-confirmation.js';
import { mayRetry, retryOf, type DashboardApi } from './dashboard-api.js';
import { h, setAttribute, setText } from './dom.js';
import { displayName, formatAge, formatDateTime, percent } from './format.js';
import { jobDuration } from './job-table.js';
import { JobTimeline } from './job-timeline.js';
import { ResultFiles } from './result-files.js';

/** Options of {@link JobPanel}. */
export interface JobPanelOptions {
  /** The panel's element, hidden while no job is open. */
  element: HTMLElement;
  client: RemoteClient;
  api: RestClient;
  /** The panel was closed by the user. */
  onClose: () => void;
  /** What a cancel does at a provider (`GET /v1/providers`); `undefined` while unknown. */
  cancelModeOf?: (provider: string) => CancelModeInfo;
  /** No cancel button (a scoped read token may not cancel). @default false */
  readOnly?: boolean;
  /** The #15 calls: retry, the retries of a job. */
  dashboardApi?: DashboardApi;
  /** Opens another job in the panel (a pipeline or retry link was clicked). */
  onOpen?: (id: string) => void;
  /** A retry made this new job. */
  onRetried?: (job: JobSnapshot) => void;
  /** A job the page knows (to name it in a link), if any. */
  find?: (id: string) => JobSnapshot | undefined;
  /** The live jobs that wait for this one (pipeline). */
  downstreamOf?: (id: string) => JobSnapshot[];
  /** A short-lived read token for this job's files, for `<audio src>`. */
  audioToken?: (id: string) => Promise<string>;
  /**
   * Asks the user to confirm a cancel, resolving true to go ahead.
   * @default `window.confirm` with the question and the action
   */
  confirm?: (confirmation: CancelConfirmation) => boolean | Promise<boolean>;
}

/**
 * The side panel of one job: its status and progress, the error of a failed job, result files,
 * the timeline of every change, its details, and a cancel button while it runs. The timeline
 * starts from the server's history of the job and follows the live stream from then on.
 */
export class JobPanel {
  readonly #options: JobPanelOptions;
  #job: JobSnapshot | undefined;
  #live: Subscription | undefined;
  #view: PanelView | undefined;

  constructor(options: JobPanelOptions) {
    this.#options = options;
    options.element.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') this.#closeByUser();
    });
  }

  /** The id of the open job. */
  get id(): string | undefined {
    return this.#job?.id;
  }

  open(job: JobSnapshot): void {
    if (this.#job?.id === job.id) return this.update(job);
    this.#live?.unsubscribe();
    const { client, api, element } = this.#options;
    const view = new PanelView(job, client, api, () => this.#closeByUser(), this.#options, {
      readOnly: this.#options.readOnly === true,
      modeOf: this.#options.cancelModeOf ?? (() => undefined),
      confirm: this.#options.confirm ?? ((c) => window.confirm(`${c.question}\n\n${c.action}?`)),
    });
    this.#view = view;
    this.#job = job;
    element.replaceChildren(view.element);
    element.hidden = false;
    view.timeline.add(job);
    // Live first, then the history, so no version falls between the two.
    this.#live = client.changes$({ ids: [job.id] }).subscribe({
      next: ({ job: next }) => this.update(next),
      // The page's live set still brings this job's changes (see app.ts); an error here (e.g. the
      // server refusing the subscription) must not become an uncaught page error.
      error: () => undefined,
    });
    api.history(job.id).then(
      (changes) => {
        if (this.#view !== view) return;
        view.timeline.add(...changes.map((change) => change.job));
        view.timeline.historyLoaded();
      },
      (error: unknown) => {
        if (this.#view === view) view.timeline.historyLoaded(`The server's history of this job could not be loaded: ${(error as Error).message}`);
      },
    );
    view.show(job);
  }

  /** A newer version of a job; ignored unless it is the open one. */
  update(job: JobSnapshot): void {
    if (this.#job?.id !== job.id || this.#view === undefined) return;
    this.#view.timeline.add(job);
    if (job.version <= this.#job.version) return;
    this.#job = job;
    this.#view.show(job);
  }

  /** Draws the open job again, e.g. once the providers' cancel modes are known. */
  refresh(): void {
    if (this.#job !== undefined) this.#view?.show(this.#job);
  }

  /** Advances the elapsed time of a running job; called once a second. */
  tick(): void {
    if (this.#job !== undefined) this.#view?.tick(this.#job);
  }

  close(): void {
    this.#live?.unsubscribe();
    this.#live = undefined;
    this.#job = undefined;
    this.#view = undefined;
    this.#options.element.hidden = true;
    this.#options.element.replaceChildren();
  }

  #closeByUser(): void {
    this.close();
    this.#options.onClose();
  }
}

/** The panel's content for one job. */
class PanelView {
  readonly element: HTMLElement;
  readonly timeline = new JobTimeline();
  readonly #results: ResultFiles;
  readonly #parts: {
    title: HTMLElement;
    status: HTMLElement;
    bar: HTMLElement;
    progress: HTMLElement;
    error: HTMLElement;
    details: HTMLElement;
    cancel: HTMLButtonElement;
    cancelProblem: HTMLElement;
    elapsed: HTMLElement;
    links: HTMLElement;
    metadata: HTMLElement;
    result: HTMLElement;
    retry: HTMLButtonElement;
  };
  readonly #links: JobPanelOptions;
  #retries: JobSnapshot[] | undefined;

  readonly #modeOf: (provider: string) => CancelModeInfo;
  readonly #readOnly: boolean;

  constructor(
    job: JobSnapshot,
    client: RemoteClient,
    api: RestClient,
    close: () => void,
    links: JobPanelOptions,
    cancelling: { readOnly: boolean; modeOf: (provider: string) => CancelModeInfo; confirm: (confirmation: CancelConfirmation) => boolean | Promise<boolean> },
  ) {
    this.#links = links;
    this.#results = new ResultFiles(client, api, links.audioToken);
    this.#modeOf = cancelling.modeOf;
    this.#readOnly = cancelling.readOnly;
    const closeButton = h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Close', title: 'Close (Esc)' }, '×');
    closeButton.addEventListener('click', close);
    const cancel = h('button', { type: 'button', class: 'button danger small' }, 'Cancel job');
    const cancelProblem = h('p', { class: 'form-error small', hidden: true });
    cancel.addEventListener('click', () => {
      cancel.disabled = true;
      cancelProblem.hidden = true;
      // The mode is read at the click: it may have arrived since the panel opened. The stream
      // brings the canceled version.
      confirmAndCancel(job, cancelling.modeOf(job.provider), cancelling.confirm, (id) => client.cancel(id)).then(
        () => {
          cancel.disabled = false;
        },
        (error: unknown) => {
          cancel.disabled = false;
          cancelProblem.textContent = `Could not cancel: ${(error as Error).message}`;
          cancelProblem.hidden = false;
        },
      );
    });
    const retry = h('button', { type: 'button', class: 'button small', 'data-action': 'retry', hidden: true }, 'Retry');
    retry.addEventListener('click', () => {
      const dashboardApi = links.dashboardApi;
      if (dashboardApi === undefined) return;
      retry.disabled = true;
      cancelProblem.hidden = true;
      dashboardApi.retry(job.id).then(
        (next) => {
          retry.disabled = false;
          this.#retries = [next, ...(this.#retries ?? [])];
          links.onRetried?.(next);
        },
        (error: unknown) => {
          retry.disabled = false;
          cancelProblem.textContent = `Could not retry: ${(error as Error).message}`;
          cancelProblem.hidden = false;
        },
      );
    });
    const bar = h('span', { class: 'bar-fill' });
    this.#parts = {
      title: h('h2', { class: 'panel-title' }),
      status: h('span', { class: 'status' }),
      bar,
      progress: h('span', { class: 'progress-label' }),
      error: h('section', { class: 'panel-section job-error', hidden: true }),
      details: h('dl', { class: 'details' }),
      cancel,
      cancelProblem,
      elapsed: h('span', { class: 'elapsed' }),
      links: h('section', { class: 'panel-section job-links', 'aria-label': 'Links', hidden: true }),
      metadata: h('section', { class: 'panel-section', 'aria-label': 'Metadata', hidden: true }),
      result: h('section', { class: 'panel-section', 'aria-label': 'Result', hidden: true }),
      retry,
    };
    const p = this.#parts;
    this.element = h(
      'div',
      { class: 'panel-body', 'data-job-id': job.id },
      h(
        'header',
        { class: 'panel-header' },
        h('div', { class: 'panel-heading' }, p.title, h('p', { class: 'panel-subtitle' }, `${job.provider} · ${job.kind}`)),
        closeButton,
      ),
      h('div', { class: 'panel-status' }, p.status, h('span', { class: 'bar wide' }, bar), p.progress, p.elapsed),
      p.error,
      p.links,
      this.#results.element,
      p.result,
      this.timeline.element,
      p.metadata,
      h('section', { class: 'panel-section', 'aria-label': 'Details' }, h('h3', {}, 'Details'), p.details),
      h('footer', { class: 'panel-footer' }, retry, cancel, cancelProblem),
    );
  }

  show(job: JobSnapshot): void {
    const p = this.#parts;
    setText(p.title, displayName(job));
    this.element.dataset.status = job.status;
    p.status.dataset.status = job.status;
    setText(p.status, job.status);
    const pct = job.status === 'succeeded' ? 100 : percent(job.progress);
    p.bar.style.width = `${pct ?? 0}%`;
    setAttribute(p.bar.parentElement as Element, 'data-indeterminate', job.status === 'running' && pct === undefined ? '' : undefined);
    setText(p.progress, pct === undefined ? '' : `${pct}%`);
    p.error.hidden = job.error === null;
    if (job.error !== null) {
      // A canceled job's "error" says what the cancel did (TRACKING_STOPPED: the provider may still run it).
      const heading = job.status === 'canceled' ? 'Canceled' : 'Error';
      p.error.replaceChildren(h('h3', {}, heading), h('p', {}, h('code', { class: 'error-code' }, job.error.code)), h('p', { class: 'error-message' }, job.error.message));
    }
    this.#results.show(job);
    this.tick(job);
    this.#showLinks(job);
    const metadata = Object.entries(job.metadata);
    p.metadata.hidden = metadata.length === 0;
    p.metadata.replaceChildren(h('h3', {}, 'Metadata'), h('dl', { class: 'details' }, ...metadata.flatMap(([key, value]) => detail(key, String(value)))));
    p.result.hidden = job.result === null;
    if (job.result !== null) {
      const text = JSON.stringify(job.result, null, 2);
      const open = p.result.querySelector('details')?.open ?? false;
      if (p.result.dataset.drawn !== text) {
        p.result.dataset.drawn = text;
        p.result.replaceChildren(h('details', { class: 'json', ...(open ? { open: true } : {}) }, h('summary', {}, `Result JSON (${text.length.toLocaleString('en')} characters)`), h('pre', {}, h('code', {}, text))));
      }
    }
    p.retry.hidden = this.#readOnly || this.#links.dashboardApi === undefined || !mayRetry(job);
    p.details.replaceChildren(
      ...detail('Job id', job.id, true),
      ...detail('Provider id', job.externalId ?? 'not yet assigned', job.externalId !== null),
      ...detail('Provider status', job.providerStatus ?? '–'),
      ...detail('Created', formatDateTime(job.createdAt)),
      ...detail('Updated', `${formatDateTime(job.updatedAt)} (v${job.version}, ${job.source})`),
      ...(job.artifacts === null ? [] : detail('Server copies', job.artifacts.state)),
      ...detail('Options', Object.keys(job.options).length === 0 ? 'none' : JSON.stringify(job.options, null, 2), true),
    );
    p.cancel.hidden = this.#readOnly || isTerminal(job.status);
    setText(p.cancel, cancelConfirmation(job, this.#modeOf(job.provider)).action);
    if (isTerminal(job.status) && p.retry.hidden) p.cancelProblem.hidden = true;
  }

  /** The elapsed time of an unfinished job (ticking), the duration of a finished one. */
  tick(job: JobSnapshot): void {
    const finished = isTerminal(job.status);
    setText(this.#parts.elapsed, `${finished ? 'took' : 'elapsed'} ${formatAge(jobDuration(job, Date.now()))}`);
    this.#parts.elapsed.dataset.running = String(!finished);
  }

  /** Retry of, retries, and the pipeline: the job it waits for, the jobs that wait for it. */
  #showLinks(job: JobSnapshot): void {
    const open = this.#links.onOpen;
    const named = (id: string): string => {
      const known = this.#links.find?.(id);
      return known === undefined || known.name === null ? id : `${known.name} (${id})`;
    };
    const link = (id: string, label: string): HTMLElement => {
      const a = h('a', { href: `?job=${encodeURIComponent(id)}`, class: 'job-link', 'data-job-link': id }, label);
      a.addEventListener('click', (event) => {
        if (open === undefined || event.ctrlKey || event.metaKey || event.shiftKey) return;
        event.preventDefault();
        open(id);
      });
      return a;
    };
    const rows: HTMLElement[] = [];
    const original = retryOf(job);
    if (original !== null) rows.push(h('li', { 'data-link': 'retry-of' }, 'Retry of ', link(original, named(original))));
    if (job.after !== null) {
      const waiting = job.after.startedAt === null;
      rows.push(h('li', { 'data-link': 'upstream' }, waiting ? 'Waits for ' : 'Started after ', link(job.after.jobId, named(job.after.jobId)), job.after.inputFrom === null ? '' : ` (input: ${job.after.inputFrom})`));
    }
    for (const next of this.#links.downstreamOf?.(job.id) ?? []) rows.push(h('li', { 'data-link': 'downstream' }, 'Feeds ', link(next.id, displayName(next)), ` (${next.status})`));
    if (this.#retries === undefined && this.#links.dashboardApi !== undefined && (job.status === 'failed' || job.status === 'canceled')) {
      this.#retries = [];
      this.#links.dashboardApi.jobs({ retryOf: job.id, limit: 20 }).then(
        (page) => {
          const known = new Set((this.#retries ?? []).map((r) => r.id));
          this.#retries = [...(this.#retries ?? []), ...page.jobs.filter((r) => !known.has(r.id) && retryOf(r) === job.id)];
          this.#showLinks(job);
        },
        () => undefined, // an older server: no retries to list
      );
    }
    for (const retried of this.#retries ?? []) rows.push(h('li', { 'data-link': 'retry' }, 'Retried as ', link(retried.id, displayName(retried)), ` (${retried.status})`));
    const key = rows.map((row) => row.textContent).join('\n');
    if (this.#parts.links.dataset.drawn === key) return;
    this.#parts.links.dataset.drawn = key;
    this.#parts.links.hidden = rows.length === 0;
    this.#parts.links.replaceChildren(h('h3', {}, 'Links'), h('ul', { class: 'links' }, ...rows));
  }
}

function detail(label: string, value: string, code = false): HTMLElement[] {
  return [h('dt', {}, label), h('dd', {}, code ? h('code', {}, value) : value)];
}
