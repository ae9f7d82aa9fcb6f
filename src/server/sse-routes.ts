import type { HttpBindings } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import type { Engine } from '../streams/engine.js';
import { parseRequest } from '../streams/engine-requests.js';
import { UnknownJobError } from '../streams/errors.js';
import { JobFilter } from '../streams/job-filter.js';
import { HttpError } from './api-error.js';
import { assertReadable, readableFilter } from './scoped-tokens.js';
import type { SseHub } from './sse-hub.js';
import { parseEventId } from './sse-protocol.js';

/** What the event-stream routes need. */
export interface SseRoutesOptions {
  engine: Engine;
  hub: SseHub;
}

const STREAM_PATHS = [/^\/v1\/events\/?$/, /^\/v1\/jobs\/[^/]+\/events\/?$/];

/**
 * Whether a path is one of the event streams, where the token may also come as `?token=`
 * (`EventSource` cannot send headers).
 */
export function isEventStreamPath(path: string): boolean {
  return STREAM_PATHS.some((pattern) => pattern.test(path));
}

const HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  // Neither caches nor proxies may keep, transform or hold back a live stream (nginx: X-Accel-Buffering).
  'cache-control': 'no-cache, no-store, no-transform',
  'x-accel-buffering': 'no',
  // The token comes with the request, never a cookie: any page may open the stream with one.
  'access-control-allow-origin': '*',
};

/**
 * Server-Sent Events: `GET /v1/events?ids=&providers=&kinds=&statuses=` (each repeatable or
 * comma-separated) and `GET /v1/jobs/:id/events` (that job, ending once it has settled). With a
 * scoped token, the filter is narrowed to its scope and the stream ends when the token expires.
 * `Last-Event-ID` (or `?lastEventId=`) resumes. See {@link SseHub} and docs/protocol.md.
 *
 * @example
 * curl -N "$JS/v1/events?providers=klangio" -H "authorization: Bearer $TOKEN"
 */
export function sseRoutes(options: SseRoutesOptions): Hono<{ Bindings: HttpBindings }> {
  const { engine, hub } = options;
  const app = new Hono<{ Bindings: HttpBindings }>();

  app.get('/events', (c) => {
    const list = (name: string) => {
      const values = (c.req.queries(name) ?? []).flatMap((value) => value.split(',')).map((value) => value.trim()).filter((value) => value !== '');
      return values.length === 0 ? {} : { [name]: values };
    };
    const requested = parseRequest(JobFilter, { ...list('ids'), ...list('providers'), ...list('kinds'), ...list('statuses') });
    return stream(c, hub, requested, undefined);
  });

  app.get('/jobs/:id/events', (c) => {
    const id = c.req.param('id');
    const job = engine.get(id);
    // A job outside a scoped token's scope is answered like an unknown one.
    assertReadable(c.get('access'), job, id);
    if (job === undefined) throw new UnknownJobError(id);
    return stream(c, hub, { ids: [id] }, id);
  });

  return app;
}

function stream(c: Context<{ Bindings: HttpBindings }>, hub: SseHub, requested: JobFilter, untilSettled: string | undefined): Response {
  const accept = c.req.header('accept');
  if (accept !== undefined && accept !== '' && !/text\/event-stream|text\/\*|\*\/\*/i.test(accept)) {
    throw new HttpError(406, 'NOT_ACCEPTABLE', 'this is a Server-Sent Events stream: send Accept: text/event-stream (or no Accept header)');
  }
  const lastId = c.req.header('last-event-id') ?? c.req.query('lastEventId');
  const resume = lastId === undefined || lastId.trim() === '' ? undefined : parseEventId(lastId.trim());
  if (lastId !== undefined && lastId.trim() !== '' && resume === undefined) {
    throw new HttpError(400, 'INVALID_REQUEST', 'Last-Event-ID: not an event id of this server (<epoch>:<seq>)', [{ field: 'Last-Event-ID', reason: 'invalid' }]);
  }
  if (!hub.accepting) throw new HttpError(503, 'TOO_MANY_CONNECTIONS', 'the server takes no more event streams right now (shutting down, or at its connection limit)');
  // HEAD: the headers only (the body of a GET answer would be dropped unread, its stream never closed).
  if (c.req.method === 'HEAD') return c.body(null, 200, HEADERS);
  const access = c.get('access');
  const outgoing = (c.env as HttpBindings | undefined)?.outgoing;
  // The client left while the request was being handled: there is no one to stream to.
  if (outgoing?.destroyed === true) return c.body(null, 204);
  const body = hub.open({
    filter: readableFilter(access, requested),
    resume,
    untilSettled,
    expiresAt: access.type === 'scoped' ? access.expiresAt : undefined,
    buffered: () => outgoing?.writableLength ?? 0,
    destroy: () => outgoing?.destroy(),
    onClose: (listener) => outgoing?.once('close', listener),
    address: (c.env as HttpBindings | undefined)?.incoming?.socket.remoteAddress,
  });
  // Nothing will ever come: 204 tells an EventSource not to reconnect.
  if (body === undefined) return c.body(null, 204, { 'access-control-allow-origin': '*' });
  return c.body(body, 200, HEADERS);
}
