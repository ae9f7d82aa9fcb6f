/// <reference lib="dom" />
import { writeState, type PageState } from './url-state.js';

/**
 * Puts a state in the address bar: `push` makes a history entry (opening a job, so Back closes
 * it), otherwise the current entry is replaced (typing in the search box).
 */
export function showState(state: PageState, push = false): void {
  const url = `${window.location.pathname}${writeState(state)}${window.location.hash}`;
  if (url === `${window.location.pathname}${window.location.search}${window.location.hash}`) return;
  if (push) window.history.pushState(null, '', url);
  else window.history.replaceState(window.history.state, '', url);
}
