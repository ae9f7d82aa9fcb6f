import type { HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import { parseRequest } from '../../streams/engine-requests.js';
import { HttpError } from '../api-error.js';
import { readJson } from '../read-json.js';
import type { WebhookOutbox } from './webhook-outbox.js';
import { WebhookEndpointInput, WebhookEndpointPatch } from './webhook-protocol.js';

/** What the outbound-webhook routes need. */
export interface WebhookEndpointRoutesOptions {
  /** The outbox; `undefined` in a cluster, where every route answers 501 `NOT_AVAILABLE_IN_CLUSTER`. */
  outbox: WebhookOutbox | undefined;
  maxJsonBytes: number;
}

/**
 * `/v1/webhooks`: register (`POST`, the answer carries the signing secret, once), list, read,
 * change (`PATCH`, `{enabled:true}` re-enables an endpoint a 410 disabled) and remove outbound
 * webhook endpoints; read an endpoint's delivery log (`GET /:id/deliveries?limit&cursor`) and
 * replay a delivery (`POST /:id/deliveries/:deliveryId/replay`). API token only: the
 * authentication middleware refuses scoped tokens with 403.
 *
 * @example
 * curl -s -X POST $JS/v1/webhooks -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
 *   -d '{"url":"https://example.com/hooks/jobstream","filter":{"statuses":["succeeded","failed"]}}'
 */
export function webhookEndpointRoutes(options: WebhookEndpointRoutesOptions): Hono<{ Bindings: HttpBindings }> {
  const app = new Hono<{ Bindings: HttpBindings }>();
  const outboxOf = (): WebhookOutbox => {
    if (options.outbox === undefined) {
      throw new HttpError(501, 'NOT_AVAILABLE_IN_CLUSTER', 'outbound webhooks need the embedded store: a cluster member would deliver what every other member delivers too');
    }
    return options.outbox;
  };
  const unknown = (id: string): HttpError => new HttpError(404, 'UNKNOWN_WEBHOOK_ENDPOINT', `no webhook endpoint ${id}`);

  app.post('/', async (c) => {
    const outbox = outboxOf();
    const input = parseRequest(WebhookEndpointInput, await readJson(c, options.maxJsonBytes));
    const created = await outbox.create(input);
    // A credential: no cache may keep it.
    return c.json(created, 201, { 'cache-control': 'no-store' });
  });

  app.get('/', (c) => c.json({ endpoints: outboxOf().list() }));

  app.get('/:id', (c) => {
    const endpoint = outboxOf().get(c.req.param('id'));
    if (endpoint === undefined) throw unknown(c.req.param('id'));
    return c.json(endpoint);
  });

  app.patch('/:id', async (c) => {
    const outbox = outboxOf();
    const patch = parseRequest(WebhookEndpointPatch, await readJson(c, options.maxJsonBytes));
    const endpoint = await outbox.update(c.req.param('id'), patch);
    if (endpoint === undefined) throw unknown(c.req.param('id'));
    return c.json(endpoint);
  });

  app.delete('/:id', async (c) => {
    if (!(await outboxOf().remove(c.req.param('id')))) throw unknown(c.req.param('id'));
    return c.body(null, 204);
  });

  app.get('/:id/deliveries', (c) => {
    const limitText = c.req.query('limit');
    const cursor = c.req.query('cursor');
    const limit = limitText === undefined ? undefined : Number(limitText);
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 500)) {
      throw new HttpError(400, 'INVALID_REQUEST', 'limit must be a whole number from 1 to 500', [{ field: 'limit', reason: 'a whole number from 1 to 500' }]);
    }
    if (cursor !== undefined && !/^\d{1,15}$/.test(cursor)) {
      throw new HttpError(400, 'INVALID_REQUEST', 'cursor must be the next value of a previous page', [{ field: 'cursor', reason: 'not a cursor' }]);
    }
    const page = outboxOf().deliveries(c.req.param('id'), { ...(limit === undefined ? {} : { limit }), ...(cursor === undefined ? {} : { cursor }) });
    if (page === undefined) throw unknown(c.req.param('id'));
    return c.json(page);
  });

  app.post('/:id/deliveries/:deliveryId/replay', async (c) => {
    const delivery = await outboxOf().replay(c.req.param('id'), c.req.param('deliveryId'));
    if (delivery === undefined) throw new HttpError(404, 'UNKNOWN_DELIVERY', `no delivery ${c.req.param('deliveryId')} of webhook endpoint ${c.req.param('id')}`);
    return c.json({ delivery }, 202);
  });

  return app;
}
