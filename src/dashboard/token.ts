/// <reference lib="dom" />
/**
 * The API token in the browser. The server prints a link with `?token=…`; the page keeps the
 * token in sessionStorage (this tab only, gone when it closes) and takes it out of the address
 * bar, so it does not end up in bookmarks, history or a screenshot.
 */

const KEY = 'jobstream.token';

/**
 * The token from the URL (kept, and removed from the address bar), else the one kept by this
 * tab earlier, else `undefined`.
 */
export function takeToken(): string | undefined {
  const url = new URL(window.location.href);
  const fromUrl = url.searchParams.get('token')?.trim();
  if (url.searchParams.has('token')) {
    url.searchParams.delete('token');
    window.history.replaceState(window.history.state, '', `${url.pathname}${url.search}${url.hash}`);
  }
  if (fromUrl !== undefined && fromUrl !== '') {
    keepToken(fromUrl);
    return fromUrl;
  }
  return read();
}

/** Remembers a token for this tab. */
export function keepToken(token: string): void {
  try {
    sessionStorage.setItem(KEY, token);
  } catch {
    // Storage refused (private mode, quota): the token then lasts until the page is reloaded.
  }
}

/** Forgets the token (it was refused). */
export function forgetToken(): void {
  try {
    sessionStorage.removeItem(KEY);
  } catch {
    // Nothing was kept.
  }
}

function read(): string | undefined {
  try {
    return sessionStorage.getItem(KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

/**
 * Shows the sign-in form and resolves with the token typed into it. `problem` explains why it
 * is asked for again (e.g. the previous token was refused).
 */
export function askForToken(form: HTMLFormElement, problem?: string): Promise<string> {
  const section = form.closest('section') ?? form;
  const input = form.elements.namedItem('token');
  const error = form.querySelector('.form-error');
  if (!(input instanceof HTMLInputElement)) throw new Error('the sign-in form has no token field');
  section.hidden = false;
  if (error instanceof HTMLElement) {
    error.textContent = problem ?? '';
    error.hidden = problem === undefined;
  }
  input.value = '';
  input.focus();
  return new Promise((resolve) => {
    const submit = (event: SubmitEvent): void => {
      event.preventDefault();
      const token = input.value.trim();
      if (token === '') return;
      form.removeEventListener('submit', submit);
      section.hidden = true;
      resolve(token);
    };
    form.addEventListener('submit', submit);
  });
}
