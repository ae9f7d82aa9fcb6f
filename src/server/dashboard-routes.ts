import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HttpBindings } from '@hono/node-server';
import type { Context, Hono } from 'hono';
import { HttpError } from './api-error.js';
import { bundleDashboard, BundlerMissingError, DASHBOARD_DIR } from './dashboard-bundle.js';

/** Options of {@link dashboardRoutes}. */
export interface DashboardRoutesOptions {
  /**
   * The folder with `index.html`, `dashboard.css` and, in a source checkout, `app.ts`.
   * @default `src/dashboard` (or `dist/dashboard` when running the built package)
   */
  dir?: string;
  /**
   * Prebuilt bundles to serve, first found wins, when there is no source to bundle or esbuild
   * is not installed.
   * @default `dist/dashboard/app.js`
   */
  prebuilt?: readonly string[];
  /** Bundles `app.ts` (tests replace it). @default {@link bundleDashboard} */
  bundle?: (entry: string) => Promise<string>;
}

interface Asset {
  body: string;
  etag: string;
}

/**
 * Everything the page may load comes from this server: no CDN, no inline script, no eval.
 * `connect-src 'self'` covers the same-origin WebSocket.
 */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data: blob:; media-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * The live dashboard, for `startServer`'s routes: `GET /` (the page; it holds no data, so no
 * token), `GET /assets/app.js` (the browser bundle, made by esbuild at the first request and
 * kept; a prebuilt one from `npm run build` when esbuild is not installed; 503 when neither)
 * and `GET /assets/dashboard.css`. Answers carry an ETag and are revalidated on every load.
 *
 * @example
 * const server = await startServer({ providers, token }); // mounts it by default
 * // or, in another Hono app:
 * dashboardRoutes()(app);
 */
export function dashboardRoutes(options: DashboardRoutesOptions = {}): (app: Hono<{ Bindings: HttpBindings }>) => void {
  const dir = options.dir ?? DASHBOARD_DIR;
  const prebuilt = options.prebuilt ?? [
    fileURLToPath(new URL('../dashboard/app.js', import.meta.url)), // running from dist/server
    fileURLToPath(new URL('../../dist/dashboard/app.js', import.meta.url)), // running from src/server
  ];
  const entry = join(dir, 'app.ts');
  const bundle = options.bundle ?? bundleDashboard;
  const cached = new Map<string, Promise<Asset>>();

  /** Loads an asset once; a failure is not kept, so the next request tries again. */
  const load = (name: string, make: () => Promise<string>): Promise<Asset> => {
    let asset = cached.get(name);
    if (asset === undefined) {
      asset = make().then((body) => ({ body, etag: `"${createHash('sha1').update(body).digest('base64url').slice(0, 20)}"` }));
      cached.set(name, asset);
      asset.catch(() => cached.delete(name));
    }
    return asset;
  };

  const script = async (): Promise<string> => {
    if (existsSync(entry)) {
      try {
        return await bundle(entry);
      } catch (error) {
        if (!(error instanceof BundlerMissingError)) {
          throw new HttpError(503, 'DASHBOARD_UNAVAILABLE', `the dashboard could not be bundled: ${(error as Error).message}`);
        }
      }
    }
    for (const file of prebuilt) {
      if (existsSync(file)) return readFile(file, 'utf8');
    }
    throw new HttpError(503, 'DASHBOARD_UNAVAILABLE', 'the dashboard script is not built and esbuild is not installed: run `npm run build`');
  };

  const serve = async (c: Context, name: string, type: string, make: () => Promise<string>, headers: Record<string, string> = {}) => {
    const asset = await load(name, make);
    const common = { etag: asset.etag, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff', ...headers };
    if (c.req.header('if-none-match') === asset.etag) return c.body(null, 304, common);
    return c.body(asset.body, 200, { 'content-type': type, ...common });
  };

  return (app) => {
    app.get('/', (c) =>
      serve(c, 'index.html', 'text/html; charset=utf-8', () => readFile(join(dir, 'index.html'), 'utf8'), {
        'content-security-policy': CSP,
        // The first load carries the token in its URL: never pass it on.
        'referrer-policy': 'no-referrer',
      }),
    );
    app.get('/assets/app.js', (c) => serve(c, 'app.js', 'text/javascript; charset=utf-8', script));
    app.get('/assets/dashboard.css', (c) => serve(c, 'dashboard.css', 'text/css; charset=utf-8', () => readFile(join(dir, 'dashboard.css'), 'utf8')));
  };
}
