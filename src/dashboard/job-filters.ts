/// <reference lib="dom" />
import type { JobSnapshot, JobStatus } from '../client/index.js';
import { h } from './dom.js';

const STATUSES: readonly JobStatus[] = ['queued', 'running', 'succeeded', 'failed', 'canceled'];

type Group = 'provider' | 'kind' | 'status';

/**
 * Filter chips by provider, kind and status. Within a group chips add up (any of them);
 * groups narrow each other; a group with nothing chosen lets everything through. Kind chips
 * follow the chosen providers. The list API filters the table; {@link JobFilters.matches} tells
 * whether a live job belongs to the view.
 */
export class JobFilters {
  readonly #root: HTMLElement;
  readonly #onChange: () => void;
  readonly #chosen: Record<Group, Set<string>> = { provider: new Set(), kind: new Set(), status: new Set() };
  #providers: readonly { name: string; kinds: string[] }[] = [];
  readonly #groups: Record<Group, HTMLElement>;
  readonly #clear: HTMLButtonElement;
  /** On phones the chips fold away behind this button. */
  readonly #toggle: HTMLButtonElement;

  constructor(root: HTMLElement, onChange: () => void) {
    this.#root = root;
    this.#onChange = onChange;
    const group = (name: Group, label: string) => h('div', { class: 'chip-group', role: 'group', 'aria-label': label, 'data-group': name }, h('span', { class: 'chip-group-label' }, label));
    this.#groups = { provider: group('provider', 'Provider'), kind: group('kind', 'Kind'), status: group('status', 'Status') };
    this.#clear = h('button', { type: 'button', class: 'link-button', hidden: true }, 'Clear filters');
    this.#clear.addEventListener('click', () => {
      for (const chosen of Object.values(this.#chosen)) chosen.clear();
      this.#draw();
      this.#onChange();
    });
    this.#toggle = h('button', { type: 'button', class: 'button small filters-toggle', 'aria-expanded': 'false' }, 'Filters');
    this.#toggle.addEventListener('click', () => {
      const open = this.#toggle.getAttribute('aria-expanded') !== 'true';
      this.#toggle.setAttribute('aria-expanded', String(open));
      root.toggleAttribute('data-open', open);
    });
    root.replaceChildren(this.#toggle, this.#groups.status, this.#groups.provider, this.#groups.kind, this.#clear);
    root.addEventListener('click', (event) => {
      const chip = event.target instanceof Element ? event.target.closest<HTMLButtonElement>('button.chip') : null;
      const group = chip?.closest<HTMLElement>('.chip-group')?.dataset.group as Group | undefined;
      const value = chip?.dataset.value;
      if (group === undefined || value === undefined) return;
      const chosen = this.#chosen[group];
      if (!chosen.delete(value)) chosen.add(value);
      if (group === 'provider') this.#dropUnreachableKinds();
      this.#draw();
      this.#onChange();
    });
    this.#draw();
  }

  /** The providers (and their kinds) the server offers. */
  setProviders(providers: readonly { name: string; kinds: string[] }[]): void {
    this.#providers = providers;
    this.#draw();
  }

  /** What is chosen, per group. */
  get chosen(): { providers: string[]; kinds: string[]; statuses: JobStatus[] } {
    return { providers: [...this.#chosen.provider], kinds: [...this.#chosen.kind], statuses: [...this.#chosen.status] as JobStatus[] };
  }

  /** Chooses these values (from the address bar), without calling back. */
  choose(chosen: { providers: readonly string[]; kinds: readonly string[]; statuses: readonly string[] }): void {
    this.#chosen.provider = new Set(chosen.providers);
    this.#chosen.kind = new Set(chosen.kinds);
    this.#chosen.status = new Set(chosen.statuses);
    this.#draw();
  }

  /** Whether a job passes the chosen filters. */
  matches(job: JobSnapshot): boolean {
    const { provider, kind, status } = this.#chosen;
    return (provider.size === 0 || provider.has(job.provider)) && (kind.size === 0 || kind.has(job.kind)) && (status.size === 0 || status.has(job.status));
  }

  /** Whether any filter is on. */
  get active(): boolean {
    return Object.values(this.#chosen).some((chosen) => chosen.size > 0);
  }

  /** The kinds of the chosen providers; with `keepChosen`, also chosen ones (from a link) not offered (yet). */
  #kinds(keepChosen = true): string[] {
    const providers = this.#chosen.provider;
    const kinds = new Set<string>(keepChosen && this.#providers.length === 0 ? this.#chosen.kind : []);
    for (const provider of this.#providers) if (providers.size === 0 || providers.has(provider.name)) for (const kind of provider.kinds) kinds.add(kind);
    return [...kinds].sort();
  }

  #dropUnreachableKinds(): void {
    const reachable = new Set(this.#kinds(false));
    for (const kind of this.#chosen.kind) if (!reachable.has(kind)) this.#chosen.kind.delete(kind);
  }

  #draw(): void {
    this.#chips('provider', this.#providers.map((p) => p.name));
    this.#chips('kind', this.#kinds());
    this.#chips('status', STATUSES);
    this.#clear.hidden = !this.active;
    this.#root.dataset.active = String(this.active);
    const chosen = Object.values(this.#chosen).reduce((sum, set) => sum + set.size, 0);
    this.#toggle.textContent = chosen === 0 ? 'Filters' : `Filters (${chosen})`;
  }

  /** Rewrites a group's chips; chips already there are kept, so focus stays put. */
  #chips(group: Group, values: readonly string[]): void {
    const element = this.#groups[group];
    const existing = new Map<string, HTMLButtonElement>();
    for (const chip of element.querySelectorAll<HTMLButtonElement>('button.chip')) existing.set(chip.dataset.value ?? '', chip);
    const chips = values.map((value) => {
      const chip = existing.get(value) ?? h('button', { type: 'button', class: 'chip', 'data-value': value, ...(group === 'status' ? { 'data-status': value } : {}) }, value);
      chip.setAttribute('aria-pressed', String(this.#chosen[group].has(value)));
      return chip;
    });
    const label = element.firstElementChild;
    if (label !== null && (element.children.length !== chips.length + 1 || chips.some((chip, i) => element.children[i + 1] !== chip))) {
      element.replaceChildren(label, ...chips);
    }
  }
}
