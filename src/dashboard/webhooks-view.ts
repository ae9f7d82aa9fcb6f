/// <reference lib="dom" />
import { z } from 'zod';
import { WebhookDelivery, WebhookEndpoint } from '../server/outbound/webhook-protocol.js';
import { h, setText } from './dom.js';

/** How often the endpoints and the open log are asked again while the section is open. */
const REFRESH_MS = 5000;

const Endpoints = z.object({ endpoints: z.array(WebhookEndpoint) });
const Deliveries = z.object({ deliveries: z.array(WebhookDelivery) });
const ErrorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

/** Options of {@link mountWebhooksView}. */
export interface WebhooksViewOptions {
  /** The (initially hidden) element the section fills. */
  root: HTMLElement;
  /** The server's base URL (the page's origin). */
  base: string;
  /** The API token (the section is never shown for a scoped token). */
  token: string;
}

/**
 * The "Webhooks" section of the dashboard: the outbound webhook endpoints with their state and
 * pending deliveries (`GET /v1/webhooks`), and for the one picked its delivery log
 * (`GET /v1/webhooks/:id/deliveries`) with a Replay button per delivery (`POST …/replay`).
 * Refreshed every 5 s while the section is open and the page visible. Self-contained: its own
 * requests with the API token, its own markup; mount it only for the API token.
 *
 * @example mountWebhooksView({ root: byId('webhooks', HTMLElement), base: location.origin, token });
 */
export function mountWebhooksView(options: WebhooksViewOptions): void {
  const { root } = options;
  const note = h('p', { class: 'muted small webhooks-note', role: 'status' });
  const endpointsBody = h('tbody');
  const logTitle = h('h3', { class: 'webhooks-log-title' });
  const logBody = h('tbody');
  const log = h(
    'div',
    { class: 'webhooks-log', hidden: true },
    logTitle,
    h('table', { class: 'webhooks-table' }, h('thead', {}, row('th', ['Delivery', 'Job', 'Version', 'Status', 'Attempts', 'Last answer', 'Next try', ''])), logBody),
  );
  const details = h(
    'details',
    { class: 'webhooks-details' },
    h('summary', {}, h('h2', { class: 'webhooks-title' }, 'Webhooks')),
    note,
    h('table', { class: 'webhooks-table' }, h('thead', {}, row('th', ['Endpoint', 'URL', 'State', 'Pending', ''])), endpointsBody),
    log,
  );
  root.replaceChildren(details);
  root.hidden = false;

  let selected: string | undefined;
  let generation = 0;

  const request = async <S extends z.ZodType>(method: string, path: string, schema: S): Promise<z.infer<S>> => {
    const response = await fetch(`${options.base}${path}`, { method, headers: { authorization: `Bearer ${options.token}` } });
    const body: unknown = await response.json().catch(() => undefined);
    if (!response.ok) {
      const error = ErrorBody.safeParse(body);
      throw new Error(error.success ? error.data.error.message : `${method} ${path} answered ${response.status}`);
    }
    return schema.parse(body);
  };

  const refresh = async (): Promise<void> => {
    const mine = ++generation;
    try {
      const { endpoints } = await request('GET', '/v1/webhooks', Endpoints);
      if (mine !== generation) return;
      setText(note, endpoints.length === 0 ? 'No endpoints yet: register one with POST /v1/webhooks or `jobstream webhooks add <url>`.' : '');
      endpointsBody.replaceChildren(
        ...endpoints.map((endpoint) => {
          const show = h('button', { class: 'button small', type: 'button', 'aria-pressed': String(endpoint.id === selected) }, 'Deliveries');
          show.addEventListener('click', () => {
            selected = endpoint.id;
            void refresh();
          });
          const state = endpoint.enabled ? 'enabled' : `disabled: ${endpoint.disabledReason ?? 'by request'}`;
          const tr = row('td', [endpoint.id, endpoint.url, state, String(endpoint.pending)], show);
          tr.dataset.state = endpoint.enabled ? 'enabled' : 'disabled';
          return tr;
        }),
      );
      if (selected !== undefined && !endpoints.some((e) => e.id === selected)) selected = undefined;
      log.hidden = selected === undefined;
      if (selected === undefined) return;
      const endpointId = selected;
      const { deliveries } = await request('GET', `/v1/webhooks/${encodeURIComponent(endpointId)}/deliveries?limit=50`, Deliveries);
      if (mine !== generation) return;
      setText(logTitle, `Deliveries to ${endpointId}`);
      logBody.replaceChildren(
        ...(deliveries.length === 0
          ? [h('tr', {}, h('td', { colspan: '8', class: 'muted' }, 'No deliveries yet.'))]
          : deliveries.map((delivery) => {
              const last = delivery.attempts.at(-1);
              const answer = last === undefined ? '' : last.statusCode !== undefined ? `${last.statusCode} in ${Math.round(last.latencyMs)} ms` : (last.error ?? '');
              const replay = h('button', { class: 'button small', type: 'button', title: "Send the job's current version again" }, 'Replay');
              replay.addEventListener('click', () => {
                replay.disabled = true;
                request('POST', `/v1/webhooks/${encodeURIComponent(endpointId)}/deliveries/${encodeURIComponent(delivery.id)}/replay`, z.unknown()).then(
                  () => refresh(),
                  (error: unknown) => {
                    replay.disabled = false;
                    setText(note, `Replay failed: ${(error as Error).message}`);
                  },
                );
              });
              const status = delivery.status === 'collapsed' ? `collapsed into ${delivery.collapsedInto ?? '?'}` : delivery.status;
              const next = delivery.nextAttemptAt === null ? '' : new Date(delivery.nextAttemptAt).toLocaleTimeString();
              const tr = row('td', [delivery.id, delivery.jobId, `v${delivery.version}`, status, String(delivery.attemptCount), answer, next], replay);
              tr.dataset.status = delivery.status;
              return tr;
            })),
      );
    } catch (error) {
      if (mine === generation) setText(note, `Cannot load the webhooks: ${(error as Error).message}`);
    }
  };

  details.addEventListener('toggle', () => {
    if (details.open) void refresh();
  });
  setInterval(() => {
    if (details.open && !document.hidden) void refresh();
  }, REFRESH_MS);
}

/** A table row of text cells (as text, never HTML), and an optional last cell holding `action`. */
function row(cell: 'td' | 'th', texts: readonly string[], action?: HTMLElement): HTMLTableRowElement {
  return h('tr', {}, ...texts.map((text) => h(cell, {}, text)), cell === 'th' ? null : h('td', { class: 'webhooks-action' }, action ?? null));
}
