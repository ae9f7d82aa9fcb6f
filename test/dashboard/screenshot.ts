/**
 * Makes the README's screenshot of the dashboard, `docs/dashboard.png`: the demo's workload
 * (every provider and kind, mild faults) against the simulators for a little while, then the
 * jobs view with a finished stem separation open in the side panel (its stems playable inline,
 * its result JSON, its timeline). With `--charts` it shows the charts view instead. Run by hand:
 *
 *   npx tsx test/dashboard/screenshot.ts [out.png] [--dark] [--charts]
 */
import { fileURLToPath } from 'node:url';
import { startWorkload } from '../../src/cli/demo-workload.js';
import { faultPresets } from '../../src/simulators/kit/fault-profile.js';
import { launchBrowser } from './browser.js';
import { startDashboardStack, TOKEN } from './dashboard-stack.js';
import { ensureChromium } from './ensure-chromium.js';

const args = process.argv.slice(2);
const out = args.find((arg) => !arg.startsWith('--')) ?? fileURLToPath(new URL('../../docs/dashboard.png', import.meta.url));
const colorScheme = args.includes('--dark') ? 'dark' : 'light';
const chromium = ensureChromium();
if ('unavailable' in chromium) throw new Error(chromium.unavailable);

const mild = faultPresets.mild;
const stack = await startDashboardStack({ speed: 0.8, pollMs: 700, faults: { klangio: mild, musicai: mild, sunoapi: mild, cambai: mild } });
const browser = await launchBrowser(chromium.executablePath, { width: 1440, height: 900 });
try {
  const workload = await startWorkload(stack.server.engine, { dataDir: stack.dataDir, intervalMs: 600, onError: (message) => console.error(message) });
  const page = await browser.context.newPage();
  await page.emulateMedia({ colorScheme });
  await page.goto(`${stack.url}/?token=${TOKEN}`);
  // Enough history to look like a running system: finished jobs, running ones, a failure or two.
  const rows = (status: string) => page.locator(`#jobs-body tr[data-status="${status}"]`);
  await rows('succeeded').nth(9).waitFor({ timeout: 90_000 });
  await rows('running').nth(1).waitFor({ timeout: 30_000 });
  workload.stop();
  if (args.includes('--charts')) {
    await page.locator('#views button[data-view="charts"]').click();
    await page.locator('[data-chart="throughput"] rect.mark').first().waitFor({ timeout: 15_000 });
  } else {
    // A finished separation in the panel; the table back at its newest jobs.
    await page.locator('#jobs-body tr[data-status="succeeded"]').filter({ hasText: 'four stems' }).first().click();
    await page.evaluate(`document.querySelector('.workspace > .jobs').scrollTop = 0`);
    await page.locator('#job-panel audio[src]').first().waitFor({ timeout: 15_000 });
    await page.mouse.move(1, 1);
  }
  await page.screenshot({ path: out });
  console.log(`screenshot: ${out}`);
} finally {
  await browser.close();
  await stack.close();
}
