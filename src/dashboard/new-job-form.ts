/// <reference lib="dom" />
import { ClientError, type ClientSubmitRequest, type JobSnapshot, type RemoteClient } from '../client/index.js';
import type { JsonValue } from '../streams/job-snapshot.js';
import { h } from './dom.js';
import { exampleOptions, takesNoInput } from './option-examples.js';

/** Options of {@link NewJobForm}. */
export interface NewJobFormOptions {
  dialog: HTMLDialogElement;
  client: RemoteClient;
  /** The live job set (a sunoapi.org MIDI example names a finished separation from it). */
  jobs: () => ReadonlyMap<string, JobSnapshot>;
  /** The server accepted the job. */
  onSubmitted: (job: JobSnapshot) => void;
}

/** The form's fields that can show an error; `form` is the message under the whole form. */
type Field = 'provider' | 'kind' | 'name' | 'input' | 'options' | 'form';

/**
 * The "New job" dialog: provider and kind from the server, a name, the audio (a file to
 * upload or a URL), and the options as JSON, prefilled with an example for the provider and
 * kind until the user edits them. The server validates; its issues appear next to the fields
 * they name.
 */
export class NewJobForm {
  readonly #options: NewJobFormOptions;
  readonly #form: HTMLFormElement;
  readonly #fields: {
    provider: HTMLSelectElement;
    kind: HTMLSelectElement;
    name: HTMLInputElement;
    file: HTMLInputElement;
    url: HTMLInputElement;
    options: HTMLTextAreaElement;
    submit: HTMLButtonElement;
  };
  #providers: readonly { name: string; kinds: string[] }[] = [];
  /** The example last put in the options box: replaced on a kind change unless edited. */
  #example = '';

  constructor(options: NewJobFormOptions) {
    this.#options = options;
    const form = options.dialog.querySelector('form');
    if (form === null) throw new Error('the new-job dialog has no form');
    this.#form = form;
    const named = <T extends Element>(name: string, type: abstract new () => T): T => {
      const element = form.querySelector(`[name="${name}"]`);
      if (!(element instanceof type)) throw new Error(`the new-job form has no ${name} field`);
      return element;
    };
    this.#fields = {
      provider: named('provider', HTMLSelectElement),
      kind: named('kind', HTMLSelectElement),
      name: named('name', HTMLInputElement),
      file: named('file', HTMLInputElement),
      url: named('url', HTMLInputElement),
      options: named('options', HTMLTextAreaElement),
      submit: form.querySelector<HTMLButtonElement>('button[type="submit"]') ?? h('button'),
    };
    this.#fields.provider.addEventListener('change', () => this.#providerChosen());
    this.#fields.kind.addEventListener('change', () => this.#prefill());
    form.addEventListener('change', (event) => {
      if (event.target instanceof HTMLInputElement && event.target.name === 'source') this.#showInput();
    });
    form.addEventListener('input', (event) => {
      const field = event.target instanceof Element ? event.target.closest<HTMLElement>('[data-field]')?.dataset.field : undefined;
      if (field !== undefined) this.#error(field as Field, undefined);
    });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.#submit();
    });
    for (const close of form.querySelectorAll('[data-close]')) close.addEventListener('click', () => options.dialog.close());
    // A click on the backdrop (the dialog element itself, outside the form) closes it.
    options.dialog.addEventListener('click', (event) => {
      if (event.target === options.dialog) options.dialog.close();
    });
  }

  /** The providers and kinds this server runs. */
  setProviders(providers: readonly { name: string; kinds: string[] }[]): void {
    this.#providers = providers;
    const select = this.#fields.provider;
    const current = select.value;
    select.replaceChildren(...providers.map((p) => h('option', { value: p.name }, p.name)));
    if (providers.some((p) => p.name === current)) select.value = current;
    this.#providerChosen();
  }

  open(): void {
    this.#clearErrors();
    if (this.#fields.options.value === this.#example) this.#prefill(); // a MIDI example may have a separation to name now
    this.#options.dialog.showModal();
    this.#fields.provider.focus();
  }

  #providerChosen(): void {
    const provider = this.#providers.find((p) => p.name === this.#fields.provider.value);
    const kind = this.#fields.kind;
    kind.replaceChildren(...(provider?.kinds ?? []).map((name) => h('option', { value: name }, name)));
    this.#showInput();
    this.#prefill();
  }

  /** Puts the example options for the chosen provider and kind, unless the user wrote their own. */
  #prefill(): void {
    const box = this.#fields.options;
    if (box.value.trim() !== '' && box.value !== this.#example) return;
    this.#example = exampleOptions(this.#fields.provider.value, this.#fields.kind.value, this.#options.jobs());
    box.value = this.#example;
    this.#error('options', undefined);
  }

  #showInput(): void {
    const none = takesNoInput(this.#fields.provider.value);
    const fromUrl = this.#source() === 'url';
    const fieldset = this.#form.querySelector<HTMLElement>('[data-field="input"]');
    if (fieldset !== null) fieldset.dataset.mode = none ? 'none' : fromUrl ? 'url' : 'file';
    this.#fields.file.hidden = none || fromUrl;
    this.#fields.url.hidden = none || !fromUrl;
  }

  #source(): 'file' | 'url' {
    const checked = this.#form.querySelector<HTMLInputElement>('input[name="source"]:checked');
    return checked?.value === 'url' ? 'url' : 'file';
  }

  async #submit(): Promise<void> {
    this.#clearErrors();
    const request = this.#request();
    if (request === undefined) return;
    const button = this.#fields.submit;
    button.disabled = true;
    const label = button.textContent;
    button.textContent = 'Submitting…';
    try {
      const job = await this.#options.client.submit(request);
      this.#options.dialog.close();
      this.#fields.name.value = '';
      this.#fields.file.value = '';
      this.#fields.url.value = '';
      this.#options.onSubmitted(job);
    } catch (error) {
      this.#showFailure(error);
    } finally {
      button.disabled = false;
      button.textContent = label;
    }
  }

  /** The request the form describes, or `undefined` after showing what is wrong with it. */
  #request(): ClientSubmitRequest | undefined {
    const f = this.#fields;
    let options: Record<string, JsonValue> | undefined;
    const text = f.options.value.trim();
    if (text !== '') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (error) {
        this.#error('options', `not valid JSON: ${(error as Error).message}`);
        return undefined;
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        this.#error('options', 'must be a JSON object, e.g. {"model": "guitar"}');
        return undefined;
      }
      options = parsed as Record<string, JsonValue>;
    }
    const name = f.name.value.trim();
    const base = { provider: f.provider.value, kind: f.kind.value, ...(name === '' ? {} : { name }), ...(options === undefined ? {} : { options }) };
    if (takesNoInput(base.provider)) return base;
    if (this.#source() === 'url') {
      const url = f.url.value.trim();
      if (url === '') return this.#error('input', 'give the URL of the audio');
      return { ...base, input: { type: 'url', url } };
    }
    const file = f.file.files?.[0];
    if (file === undefined) return this.#error('input', 'choose an audio file to upload');
    return { ...base, file, filename: file.name };
  }

  #showFailure(error: unknown): void {
    if (error instanceof ClientError && error.issues.length > 0) {
      for (const issue of error.issues) {
        const [head = '', ...rest] = issue.field.split('.');
        const field: Field = head === 'file' || head === 'url' || head === 'input' ? 'input' : isField(head) ? head : 'form';
        const where = field === 'form' ? `${issue.field}: ` : rest.length > 0 ? `${rest.join('.')}: ` : '';
        this.#error(field, `${where}${issue.reason}`, true);
      }
      return;
    }
    const message = error instanceof ClientError ? `${error.message} (${error.code})` : String(error);
    this.#error('form', message);
  }

  /** Shows (or, with `undefined`, clears) a field's error; `append` adds a line. Returns nothing, to end a check. */
  #error(field: Field, message: string | undefined, append = false): undefined {
    const holder = field === 'form' ? this.#form : this.#form.querySelector(`[data-field="${field}"]`);
    const slot = holder?.querySelector<HTMLElement>(field === 'form' ? ':scope > .form-error' : '.field-error');
    if (slot === null || slot === undefined) return undefined;
    const text = message === undefined ? '' : append && slot.textContent !== '' ? `${slot.textContent}\n${message}` : message;
    slot.textContent = text;
    slot.hidden = text === '';
    holder?.toggleAttribute('data-invalid', text !== '' && field !== 'form');
    return undefined;
  }

  #clearErrors(): void {
    for (const field of ['provider', 'kind', 'name', 'input', 'options', 'form'] as const) this.#error(field, undefined);
  }
}

function isField(name: string): name is Exclude<Field, 'form'> {
  return name === 'provider' || name === 'kind' || name === 'name' || name === 'input' || name === 'options';
}
