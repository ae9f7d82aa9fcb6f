import type { HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import type { Engine } from '../streams/engine.js';
import { errorResponse, HttpError } from './api-error.js';
import { bearerToken, scopedMayRequest, type Access } from './auth.js';
import { insightRoutes } from './insight-routes.js';
import { jobsRoutes } from './jobs-routes.js';
import { retentionRoutes } from './retention-routes.js';
import { webhookEndpointRoutes } from './outbound/webhook-endpoint-routes.js';
import type { WebhookOutbox } from './outbound/webhook-outbox.js';
import type { ServerMetrics } from './metrics.js';
import type { ScopedTokens } from './scoped-tokens.js';
import type { SseHub } from './sse-hub.js';
import { isEventStreamPath, sseRoutes } from './sse-routes.js';
import { tokenRoutes } from './token-routes.js';
import { webhookRoutes } from './webhook-routes.js';

/** `/v1/jobs/:id/results/:name`: the one REST path that takes a scoped token in `?token=`. */
function isResultDownloadPath(path: string): boolean {
  return /^\/v1\/jobs\/[^/]+\/results\/[^/]+$/.test(path);
}

/** The part of a request's context the authentication middleware uses. */
interface RequestContext {
  req: { path: string; method: string; header(name: string): string | undefined; query(name: string): string | undefined };
  set(key: 'access', value: Access): void;
}

/** What the HTTP app is built from. */
export interface HttpAppOptions {
  engine: Engine;
  metrics: ServerMetrics;
  /** Whether a token is the API token (for `/healthz` details). */
  authorize: (token: string | undefined) => boolean;
  /** Who a token is: the API token, a scoped read token, or refused. */
  authenticate: (token: string | undefined) => Access;
  /** Mints scoped read tokens (`POST /v1/tokens`). */
  scopedTokens: ScopedTokens;
  /** Serves the Server-Sent Events streams. */
  sse: SseHub;
  /** The outbound-webhook outbox (`/v1/webhooks`); `undefined` in a cluster (501). */
  outbox?: WebhookOutbox | undefined;
  uploadDir: string;
  maxUploadBytes: number;
  maxJsonBytes: number;
  maxWebhookBytes: number;
  /** Extra routes mounted at the root (the dashboard). */
  extra?: (app: Hono<{ Bindings: HttpBindings }>) => void;
}

/**
 * The REST API: `/healthz` (open; details with the token), `/metrics` and `/v1/*` (bearer token), and the webhook
 * intake `/v1/hooks/:provider/:token` (authorised by the per-job secret in its path). `/v1`
 * also takes scoped read tokens (`POST /v1/tokens` mints them), which may only read the jobs of
 * their scope (403 `SCOPE_FORBIDDEN` for anything else), and serves Server-Sent Events
 * (`/v1/events`, `/v1/jobs/:id/events`).
 * Every error is JSON `{ error: { code, message, issues? } }`; every answer carries
 * `X-Content-Type-Options: nosniff`.
 */
export function createHttpApp(options: HttpAppOptions): Hono<{ Bindings: HttpBindings }> {
  const { engine, metrics } = options;
  const app = new Hono<{ Bindings: HttpBindings }>();
  app.onError((error, c) => {
    const response = errorResponse(c, error);
    if (c.req.path.startsWith('/v1/hooks/') && response.status >= 400 && response.status < 500) {
      // A path segment anyone can choose: metrics label it only if it names a configured provider.
      metrics.webhookRejected(c.req.path.split('/')[3] ?? 'unknown');
    }
    return response;
  });
  app.notFound((c) => c.json({ error: { code: 'NOT_FOUND', message: `no route ${c.req.method} ${c.req.path}` } }, 404));
  // Every answer, errors and downloads included: a browser must not guess another content type.
  app.use('*', async (c, next) => {
    await next();
    c.header('X-Content-Type-Options', 'nosniff');
  });

  // Open, for load balancers: 200 `{status:"ok"}` or 503 `{status:"unavailable"}` (the store
  // cannot write). With the API token it adds the reason, epoch, seq and providers.
  app.get('/healthz', (c) => {
    const health = engine.health;
    const status = health.status === 'ok' ? 200 : 503;
    if (!options.authorize(bearerToken(c.req.header('authorization')))) return c.json({ status: health.status }, status);
    return c.json(
      {
        status: health.status,
        ...(health.status === 'ok' ? {} : { reason: health.reason, since: new Date(health.since).toISOString() }),
        epoch: engine.epoch,
        seq: engine.seq,
        providers: engine.providers,
      },
      status,
    );
  });

  app.route('/v1/hooks', webhookRoutes({ engine, maxBytes: options.maxWebhookBytes }));

  // The API token, or a scoped read token limited to what `scopedMayRequest` allows. `?token=`
  // only where a browser cannot send a header (EventSource); never in a log (paths only).
  const requireToken = async (c: RequestContext, next: () => Promise<void>) => {
    const header = bearerToken(c.req.header('authorization'));
    // A result download may also carry a scoped token in `?token=` (an `<audio src>`), never the API token.
    const resultPath = isResultDownloadPath(c.req.path);
    const token = header ?? (isEventStreamPath(c.req.path) || resultPath ? c.req.query('token') : undefined);
    const access = options.authenticate(token);
    if (access.type === 'refused') throw new HttpError(401, access.code, access.message);
    if (header === undefined && resultPath && token !== undefined && access.type === 'admin') {
      throw new HttpError(401, 'UNAUTHORIZED', 'a result URL takes only a scoped read token in ?token= (POST /v1/tokens); send the API token as Authorization: Bearer');
    }
    if (access.type === 'scoped' && !scopedMayRequest(c.req.method, c.req.path)) {
      throw new HttpError(403, 'SCOPE_FORBIDDEN', `a scoped read token may only read the jobs it names; ${c.req.method} ${c.req.path} needs the API token`);
    }
    c.set('access', access);
    await next();
  };
  app.use('/metrics', requireToken);
  app.get('/metrics', async (c) => c.body(await metrics.text(), 200, { 'content-type': metrics.contentType }));

  app.use('/v1/*', async (c, next) => (c.req.path.startsWith('/v1/hooks/') ? next() : requireToken(c, next)));
  app.route('/v1', tokenRoutes({ tokens: options.scopedTokens, maxJsonBytes: options.maxJsonBytes }));
  app.route('/v1', sseRoutes({ engine, hub: options.sse }));
  app.get('/v1/stats', (c) => c.json(metrics.stats()));
  app.route('/v1/webhooks', webhookEndpointRoutes({ outbox: options.outbox, maxJsonBytes: options.maxJsonBytes }));
  app.route('/v1', insightRoutes({ engine }));
  app.route('/v1', retentionRoutes({ engine }));
  // `cancel`: whether cancelling a job stops it at the provider (`provider`) or only stops
  // tracking it here (`tracking-only`: the provider may still run and bill it).
  app.get('/v1/providers', (c) =>
    c.json({ providers: engine.providers.map((name) => ({ name, kinds: engine.kindsOf(name) ?? [], cancel: engine.cancelModeOf(name) ?? 'tracking-only' })) }),
  );
  app.route(
    '/v1/jobs',
    jobsRoutes({ engine, uploadDir: options.uploadDir, maxUploadBytes: options.maxUploadBytes, maxJsonBytes: options.maxJsonBytes }),
  );
  options.extra?.(app);
  return app;
}
