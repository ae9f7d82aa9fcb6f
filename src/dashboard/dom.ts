/// <reference lib="dom" />
/**
 * The few DOM helpers the dashboard needs: build an element in one expression, find one the
 * page must have, and write text only when it differs (so live updates touch nothing that did
 * not change, and nothing flickers).
 */

type Child = Node | string | null | undefined | false;

/**
 * Creates an element with attributes and children. `class` sets the class name; `false` and
 * `undefined` attributes are left out, `true` ones are set empty.
 *
 * @example h('button', { class: 'chip', 'aria-pressed': 'false' }, 'klangio')
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | boolean | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    element.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) element.append(child);
  return element;
}

/**
 * The element with this id, which the page must have, of the expected type.
 *
 * @example const tbody = byId('jobs-body', HTMLTableSectionElement);
 */
export function byId<T extends HTMLElement>(id: string, type: abstract new () => T): T {
  const element = document.getElementById(id);
  if (!(element instanceof type)) throw new Error(`the page has no #${id} (${type.name})`);
  return element;
}

/** Sets an element's text if it differs. */
export function setText(element: Element, text: string): void {
  if (element.textContent !== text) element.textContent = text;
}

/** Sets (or, with `undefined`, removes) an attribute if it differs. */
export function setAttribute(element: Element, name: string, value: string | undefined): void {
  if (value === undefined) {
    if (element.hasAttribute(name)) element.removeAttribute(name);
  } else if (element.getAttribute(name) !== value) element.setAttribute(name, value);
}
