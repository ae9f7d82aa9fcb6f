import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { errorResponse } from '../../src/server/api-error.js';
import { BundlerMissingError } from '../../src/server/dashboard-bundle.js';
import { dashboardRoutes, type DashboardRoutesOptions } from '../../src/server/dashboard-routes.js';

function app(options?: DashboardRoutesOptions): Hono<{ Bindings: HttpBindings }> {
  const root = new Hono<{ Bindings: HttpBindings }>();
  root.onError((error, c) => errorResponse(c, error));
  dashboardRoutes(options)(root);
  return root;
}

describe('dashboardRoutes', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'jobstream-dashboard-routes-'));
    await writeFile(join(dir, 'index.html'), '<!doctype html><title>t</title>');
    await writeFile(join(dir, 'dashboard.css'), 'body{}');
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('serves the page without a token, locked to this server by its CSP, and never passes the URL on', async () => {
    const response = await app().request('/');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('content-security-policy')).toContain("default-src 'none'; script-src 'self'");
    expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    expect(await response.text()).toContain('<script type="module" src="assets/app.js"></script>');
  });

  it('bundles the browser code once, then answers a revalidation with 304', async () => {
    const routes = app();
    const first = await routes.request('/assets/app.js');
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const script = await first.text();
    expect(script).toContain('jobstream.token');
    expect(script).not.toMatch(/^import /m); // one self-contained module
    const etag = first.headers.get('etag')!;
    const again = await routes.request('/assets/app.js', { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect((await routes.request('/assets/dashboard.css')).headers.get('content-type')).toBe('text/css; charset=utf-8');
  }, 20_000);

  it('serves the prebuilt bundle when esbuild is not installed', async () => {
    await writeFile(join(dir, 'app.ts'), 'export {};');
    await writeFile(join(dir, 'app.js'), 'console.log("prebuilt");');
    const routes = app({ dir, prebuilt: [join(dir, 'missing.js'), join(dir, 'app.js')], bundle: () => Promise.reject(new BundlerMissingError(new Error('not found'))) });
    const response = await routes.request('/assets/app.js');
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('console.log("prebuilt");');
  });

  it('answers 503 with the reason when there is nothing to serve, and tries again next time', async () => {
    const routes = app({ dir, prebuilt: [join(dir, 'app.js')] });
    const response = await routes.request('/assets/app.js');
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ error: { code: 'DASHBOARD_UNAVAILABLE', message: expect.stringContaining('npm run build') } });
    await writeFile(join(dir, 'app.js'), 'built();');
    expect(await (await routes.request('/assets/app.js')).text()).toBe('built();');
  });
});
