import type { HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import type { Engine } from '../streams/engine.js';
import { errorResponse, HttpError } from './api-error.js';
import { bearerToken } from './auth.js';
import { jobsRoutes } from './jobs-routes.js';
import type { ServerMetrics } from './metrics.js';
import { webhookRoutes } from './webhook-routes.js';

/** What the HTTP app is built from. */
export interface HttpAppOptions {
  engine: Engine;
  metrics: ServerMetrics;
  authorize: (token: string | undefined) => boolean;
  uploadDir: string;
  maxUploadBytes: number;
  maxJsonBytes: number;
  maxWebhookBytes: number;
  /** Extra routes mounted at the root (the dashboard). */
  extra?: (app: Hono<{ Bindings: HttpBindings }>) => void;
}

/**
 * The REST API: `/healthz` (open; details with the token), `/metrics` and `/v1/*` (bearer token), and the webhook
 * intake `/v1/hooks/:provider/:token` (authorised by the per-job secret in its path).
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

  const requireToken = async (c: { req: { header(name: string): string | undefined } }, next: () => Promise<void>) => {
    if (!options.authorize(bearerToken(c.req.header('authorization')))) {
      throw new HttpError(401, 'UNAUTHORIZED', 'a valid bearer token is required (Authorization: Bearer <token>)');
    }
    await next();
  };
  app.use('/metrics', requireToken);
  app.get('/metrics', async (c) => c.body(await metrics.text(), 200, { 'content-type': metrics.contentType }));

  app.use('/v1/*', async (c, next) => (c.req.path.startsWith('/v1/hooks/') ? next() : requireToken(c, next)));
  app.get('/v1/stats', (c) => c.json(metrics.stats()));
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
