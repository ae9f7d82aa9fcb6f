/// <reference lib="dom" />
import type { Observable, Subscription } from 'rxjs';
import type { ConnectionState } from '../client/index.js';
import { setAttribute, setText } from './dom.js';

const LABELS: Record<ConnectionState, string> = {
  connecting: 'Connecting…',
  open: 'Live',
  resuming: 'Reconnecting…',
  closed: 'Disconnected',
};

const HINTS: Record<ConnectionState, string> = {
  connecting: 'Opening the live stream.',
  open: 'Changes arrive as they happen.',
  resuming: 'The connection was lost: reconnecting, then catching up on what was missed.',
  closed: 'The live stream is closed. Reload the page to reconnect.',
};

/**
 * Shows the client's connection state in `element` (`data-state` carries the raw state for
 * styles and tests). The client reconnects and resumes by itself; this only reports it.
 * `resuming` right after the first connect is the catch-up, not a loss: it reads `Connecting…`.
 */
export function showConnection(element: HTMLElement, state$: Observable<ConnectionState>): Subscription {
  const label = element.querySelector('.label') ?? element;
  let everOpen = false;
  return state$.subscribe((state) => {
    everOpen ||= state === 'open';
    const shown: ConnectionState = state === 'resuming' && !everOpen ? 'connecting' : state;
    element.dataset.state = state;
    setText(label, LABELS[shown]);
    setAttribute(element, 'title', HINTS[shown]);
  });
}
