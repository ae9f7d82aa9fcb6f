/// <reference lib="dom" />
import { h } from './dom.js';
import type { PageState, Range } from './url-state.js';

/** Options of {@link JobToolbar}. */
export interface JobToolbarOptions {
  root: HTMLElement;
  /** The search, sort or range changed (`typing`: from a keystroke, so the address bar is replaced, not pushed). */
  onChange: (change: Partial<PageState>) => void;
  /** The pause toggle was flipped. */
  onPause: (paused: boolean) => void;
  /** "Cancel selected" was clicked. */
  onCancelSelected: () => void;
  /** The header checkbox: check every cancellable row, or none. */
  onCheckAll: (checked: boolean) => void;
  /** No bulk cancel (a scoped read token may not act). */
  readOnly: boolean;
}

const SORTS = [
  { value: 'createdAt:desc', label: 'Newest first' },
  { value: 'createdAt:asc', label: 'Oldest first' },
  { value: 'updatedAt:desc', label: 'Recently updated' },
  { value: 'updatedAt:asc', label: 'Least recently updated' },
] as const;
const RANGES: readonly { value: Range; label: string }[] = [
  { value: '1h', label: 'Last hour' },
  { value: '24h', label: 'Last 24 hours' },
  { value: '7d', label: 'Last 7 days' },
  { value: 'all', label: 'All time' },
  { value: 'custom', label: 'Custom…' },
];

/** A `datetime-local` value (local time, minutes) for epoch ms. */
function localInput(ms: number | undefined): string {
  if (ms === undefined) return '';
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

/**
 * The bar above the job table: the search box (name, id, provider id, metadata), the sort, the
 * time range (presets or custom bounds), the live-updates toggle, and the bulk cancel of the
 * checked rows.
 */
export class JobToolbar {
  readonly #search: HTMLInputElement;
  readonly #sort: HTMLSelectElement;
  readonly #range: HTMLSelectElement;
  readonly #from: HTMLInputElement;
  readonly #to: HTMLInputElement;
  readonly #pause: HTMLButtonElement;
  readonly #cancel: HTMLButtonElement;
  readonly #checkAll: HTMLInputElement;
  readonly #custom: HTMLElement;
  #typing: ReturnType<typeof setTimeout> | undefined;

  constructor(options: JobToolbarOptions) {
    this.#search = h('input', { type: 'search', name: 'q', placeholder: 'Search name, id, provider id, metadata', 'aria-label': 'Search jobs', autocomplete: 'off', spellcheck: 'false' });
    this.#sort = h('select', { name: 'sort', 'aria-label': 'Sort' }, ...SORTS.map((s) => h('option', { value: s.value }, s.label)));
    this.#range = h('select', { name: 'range', 'aria-label': 'Time range (created)' }, ...RANGES.map((r) => h('option', { value: r.value }, r.label)));
    this.#from = h('input', { type: 'datetime-local', name: 'from', 'aria-label': 'Created from' });
    this.#to = h('input', { type: 'datetime-local', name: 'to', 'aria-label': 'Created until' });
    this.#custom = h('span', { class: 'custom-range', hidden: true }, this.#from, h('span', { class: 'muted' }, '–'), this.#to);
    this.#pause = h('button', { type: 'button', class: 'button small', 'aria-pressed': 'false', 'data-action': 'pause' }, 'Pause live updates');
    this.#cancel = h('button', { type: 'button', class: 'button small danger', hidden: true, 'data-action': 'cancel-selected' }, 'Cancel selected');
    this.#checkAll = h('input', { type: 'checkbox', 'aria-label': 'Select all unfinished jobs shown' });
    this.#search.addEventListener('input', () => {
      clearTimeout(this.#typing);
      this.#typing = setTimeout(() => options.onChange({ q: this.#search.value.trim() }), 250);
    });
    this.#search.addEventListener('keydown', (event) => {
      if (event.key !== 'Enter') return;
      clearTimeout(this.#typing);
      options.onChange({ q: this.#search.value.trim() });
    });
    this.#sort.addEventListener('change', () => {
      const [sort, order] = this.#sort.value.split(':') as [PageState['sort'], PageState['order']];
      options.onChange({ sort, order });
    });
    this.#range.addEventListener('change', () => {
      const range = this.#range.value as Range;
      this.#custom.hidden = range !== 'custom';
      if (range !== 'custom') return options.onChange({ range, from: undefined, to: undefined });
      const from = Date.now() - 86_400_000;
      this.#from.value = localInput(from);
      this.#to.value = '';
      options.onChange({ range, from, to: undefined });
    });
    const bound = (): void => {
      const parse = (input: HTMLInputElement): number | undefined => (input.value === '' ? undefined : new Date(input.value).getTime());
      options.onChange({ range: 'custom', from: parse(this.#from), to: parse(this.#to) });
    };
    this.#from.addEventListener('change', bound);
    this.#to.addEventListener('change', bound);
    this.#pause.addEventListener('click', () => {
      const paused = this.#pause.getAttribute('aria-pressed') !== 'true';
      this.#pause.setAttribute('aria-pressed', String(paused));
      this.#pause.textContent = paused ? 'Resume live updates' : 'Pause live updates';
      options.onPause(paused);
    });
    this.#cancel.addEventListener('click', () => options.onCancelSelected());
    this.#checkAll.addEventListener('change', () => options.onCheckAll(this.#checkAll.checked));
    options.root.replaceChildren(
      h('div', { class: 'toolbar-search' }, this.#search),
      h('div', { class: 'toolbar-group' }, this.#sort, this.#range, this.#custom),
      h('div', { class: 'toolbar-group toolbar-actions' }, this.#pause, options.readOnly ? null : this.#cancel),
    );
  }

  /** The header cell's checkbox (select all). */
  get checkAll(): HTMLInputElement {
    return this.#checkAll;
  }

  /** Shows the state from the address bar. */
  show(state: PageState): void {
    if (document.activeElement !== this.#search) this.#search.value = state.q;
    this.#sort.value = `${state.sort}:${state.order}`;
    this.#range.value = state.range;
    this.#custom.hidden = state.range !== 'custom';
    if (state.range === 'custom') {
      this.#from.value = localInput(state.from);
      this.#to.value = localInput(state.to);
    }
  }

  /** How many rows are checked: the bulk cancel button says it. */
  checked(count: number): void {
    this.#cancel.hidden = count === 0;
    this.#cancel.textContent = `Cancel selected (${count})`;
    if (count === 0) this.#checkAll.checked = false;
  }
}
