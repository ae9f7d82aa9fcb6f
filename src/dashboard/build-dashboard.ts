/**
 * `npm run build`'s last step (run with tsx, after tsc): writes the dashboard as the built
 * package serves it, `dist/dashboard/{app.js,index.html,dashboard.css}`, so a server without
 * esbuild (an installed package) still has a dashboard.
 *
 * tsc also compiles this folder's browser modules into `dist/dashboard`; they are useless
 * there (the bundle holds them all), so the folder is replaced.
 */
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleDashboard, DASHBOARD_DIR } from '../server/dashboard-bundle.js';

const out = fileURLToPath(new URL('../../dist/dashboard/', import.meta.url));
const script = await bundleDashboard();
await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
await writeFile(join(out, 'app.js'), script);
for (const file of ['index.html', 'dashboard.css']) await copyFile(join(DASHBOARD_DIR, file), join(out, file));
console.log(`dashboard: ${out}app.js (${Math.round(script.length / 1024)} kB)`);
