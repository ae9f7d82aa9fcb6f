/// <reference lib="dom" />
import type { Subscription } from 'rxjs';
import type { JobSnapshot, RemoteClient } from '../client/index.js';
import { isTerminal } from '../streams/job-status.js';
import type { RestClient } from '../client/rest-client.js';
import { cancelConfirmation, confirmAndCancel, type CancelConfirmation, type CancelModeInfo } from './cancel-confirmation.js';
import { h, setAttribute, setText } from './dom.js';
import { formatDateTime, percent } from './format.js';
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
    const view = new PanelView(job, client, api, () => this.#closeByUser(), {
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
    this.#live = client.changes$({ ids: [job.id] }).subscribe(({ job: next }) => this.update(next));
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
  };

  readonly #modeOf: (provider: string) => CancelModeInfo;
  readonly #readOnly: boolean;

  constructor(
    job: JobSnapshot,
    client: RemoteClient,
    api: RestClient,
    close: () => void,
    cancelling: { readOnly: boolean; modeOf: (provider: string) => CancelModeInfo; confirm: (confirmation: CancelConfirmation) => boolean | Promise<boolean> },
  ) {
    this.#results = new ResultFiles(client, api);
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
      h('div', { class: 'panel-status' }, p.status, h('span', { class: 'bar wide' }, bar), p.progress),
      p.error,
      this.#results.element,
      this.timeline.element,
      h('section', { class: 'panel-section', 'aria-label': 'Details' }, h('h3', {}, 'Details'), p.details),
      h('footer', { class: 'panel-footer' }, cancel, cancelProblem),
    );
  }

  show(job: JobSnapshot): void {
    const p = this.#parts;
    setText(p.title, job.name ?? job.id);
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
    if (isTerminal(job.status)) p.cancelProblem.hidden = true;
  }
}

function detail(label: string, value: string, code = false): HTMLElement[] {
  return [h('dt', {}, label), h('dd', {}, code ? h('code', {}, value) : value)];
}
