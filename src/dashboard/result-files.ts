/// <reference lib="dom" />
import type { JobSnapshot, RemoteClient } from '../client/index.js';
import type { RestClient } from '../client/rest-client.js';
import { saveBlob } from './dashboard-api.js';
import { h } from './dom.js';
import { formatBytes } from './format.js';

interface FileEntry {
  name: string;
  contentType: string;
  bytes?: number;
}

/**
 * A succeeded job's result files, each with a download button (the download is fetched with
 * the token, then handed to the browser as a Blob), and the state of the server's copies.
 */
export class ResultFiles {
  readonly element: HTMLElement;
  readonly #client: RemoteClient;
  readonly #api: RestClient;
  readonly #body: HTMLElement;
  /** The provider's list, asked once per job while the server has no copies yet. */
  #asked: { id: string; files: Promise<FileEntry[]> } | undefined;
  #drawn = '';
  readonly #audioToken: ((id: string) => Promise<string>) | undefined;

  /** `audioToken` mints a short-lived read token for a job, so `<audio src>` can play its files inline. */
  constructor(client: RemoteClient, api: RestClient, audioToken?: (id: string) => Promise<string>) {
    this.#client = client;
    this.#api = api;
    this.#audioToken = audioToken;
    this.#body = h('div');
    this.element = h('section', { class: 'panel-section', 'aria-label': 'Results', hidden: true }, h('h3', {}, 'Results'), this.#body);
  }

  show(job: JobSnapshot): void {
    this.element.hidden = job.status !== 'succeeded';
    if (job.status !== 'succeeded') return;
    const artifacts = job.artifacts;
    const key = `${job.id}:${artifacts?.state ?? 'none'}`;
    if (key === this.#drawn) return;
    this.#drawn = key;
    if (artifacts?.state === 'complete') {
      this.#draw(job.id, artifacts.files, 'Copies kept by this server.');
      return;
    }
    const note = artifacts === null ? '' : artifacts.state === 'pending' ? 'Copying the files to this server…' : `Copying failed (${artifacts.error ?? 'unknown reason'}); downloads come from the provider.`;
    if (this.#asked?.id !== job.id) this.#asked = { id: job.id, files: this.#client.rest.resultFiles(job.id) };
    const asked = this.#asked;
    this.#body.replaceChildren(h('p', { class: 'muted small' }, 'Loading the file list…'));
    asked.files.then(
      (files) => {
        if (this.#drawn === key) this.#draw(job.id, files, note);
      },
      (error: unknown) => {
        if (this.#drawn === key) this.#body.replaceChildren(h('p', { class: 'form-error' }, `The file list could not be loaded: ${(error as Error).message}`));
      },
    );
  }

  #draw(id: string, files: readonly FileEntry[], note: string): void {
    const list = h('ul', { class: 'files' }, ...files.map((file) => this.#file(id, file)));
    const empty = h('p', { class: 'muted small' }, 'This job has no result files.');
    this.#body.replaceChildren(files.length === 0 ? empty : list, ...(note === '' ? [] : [h('p', { class: 'muted small' }, note)]));
  }

  #file(id: string, file: FileEntry): HTMLLIElement {
    const button = h('button', { type: 'button', class: 'button small', 'data-download': file.name }, 'Download');
    const problem = h('span', { class: 'form-error small', hidden: true });
    button.addEventListener('click', () => {
      button.disabled = true;
      problem.hidden = true;
      this.#api
        .download(id, file.name)
        .then((blob) => saveBlob(blob, file.name))
        .catch((error: unknown) => {
          problem.textContent = (error as Error).message;
          problem.hidden = false;
        })
        .finally(() => {
          button.disabled = false;
        });
    });
    return h(
      'li',
      { class: 'file' },
      h('span', { class: 'file-name' }, file.name),
      h('span', { class: 'file-meta', title: file.contentType }, file.bytes === undefined ? (file.contentType.split(';')[0] ?? '') : formatBytes(file.bytes)),
      button,
      problem,
      file.contentType.startsWith('audio/') ? this.#player(id, file.name) : null,
    );
  }

  /**
   * An inline player: the file is served with range requests, and `<audio>` cannot send a
   * header, so its URL carries a read token for this job only, minted for a few minutes
   * (never the API token).
   */
  #player(id: string, name: string): HTMLElement | null {
    const mint = this.#audioToken;
    if (mint === undefined) return null;
    const audio = h('audio', { controls: true, preload: 'metadata', 'data-file': name, 'aria-label': `Play ${name}` });
    mint(id).then(
      (token) => {
        audio.src = `${this.#api.resultUrl(id, name)}?disposition=inline&token=${encodeURIComponent(token)}`;
      },
      (error: unknown) => {
        audio.replaceWith(h('span', { class: 'form-error small' }, `Cannot play here: ${(error as Error).message}`));
      },
    );
    return audio;
  }
}
