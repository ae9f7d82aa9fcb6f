import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/server.js';
import { startTestServer, TOKEN } from '../support/test-server.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';
import { launchBrowser, type TestBrowser } from './browser.js';
import { ensureChromium } from './ensure-chromium.js';

const WAIT = { timeout: 15_000 };

let unavailable: string | undefined;
let server: RunningServer;
let inbox: WebhookReceiver;
let browser: TestBrowser | undefined;
const pageErrors: string[] = [];

beforeAll(async () => {
  const chromium = ensureChromium();
  if ('unavailable' in chromium) {
    if (process.env.CI === 'true') throw new Error(chromium.unavailable);
    unavailable = chromium.unavailable;
    return;
  }
  ({ server } = await startTestServer({ webhooks: { allowPrivateTargets: true, backoffBaseMs: 5, backoffCapMs: 20 } }));
  inbox = await WebhookReceiver.start();
  browser = await launchBrowser(chromium.executablePath);
}, 120_000);
beforeEach(({ skip }) => {
  if (unavailable !== undefined) skip(unavailable);
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
  await inbox?.close();
});

describe('dashboard: the Webhooks section', () => {
  it('lists the endpoints and their deliveries, replays one with its button, and is absent for a scoped token', async () => {
    const created = await fetch(`${server.url}/v1/webhooks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: inbox.url, description: 'dashboard' }),
    });
    const { endpoint } = (await created.json()) as { endpoint: { id: string } };
    const job = await server.engine.submit({ provider: 'fake', kind: 'transcription', input: { type: 'url', url: 'https://example.com/a.wav' }, metadata: { userId: '7' } });
    const version = server.engine.get(job.id)!.version;
    await inbox.until(() => inbox.accepted().some((p) => p.data.job.version === version), 'the delivery');

    const page = await browser!.context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(`${server.url}/?token=${TOKEN}`);
    const section = page.locator('#webhooks');
    await section.locator('summary').click(WAIT);
    const endpointRow = section.locator('tr', { hasText: endpoint.id });
    await expect.poll(() => endpointRow.textContent(), WAIT).toContain(inbox.url);
    expect(await endpointRow.getAttribute('data-state')).toBe('enabled');
    await endpointRow.getByRole('button', { name: 'Deliveries' }).click();
    const delivered = section.locator('.webhooks-log tr[data-status="delivered"]', { hasText: `v${version}` });
    await delivered.first().waitFor(WAIT);
    expect(await delivered.first().textContent()).toMatch(/200 in \d+ ms/);

    const before = inbox.received.length;
    await delivered.first().getByRole('button', { name: 'Replay' }).click();
    await inbox.until(() => inbox.received.length > before, 'the replay');
    expect(String(inbox.received.at(-1)!.headers['webhook-id'])).toMatch(new RegExp(`^${job.id}\\.v${version}\\.replay-\\d+$`));
    // The log shows the replay after its refresh.
    await expect.poll(() => section.locator('.webhooks-log tbody tr').count(), WAIT).toBeGreaterThan(1);
    await page.close();

    // A scoped read token: no Webhooks section (and the API would refuse it anyway).
    const { token } = server.mintToken({ metadata: { userId: '7' } });
    const reader = await browser!.context.newPage();
    reader.on('pageerror', (error) => pageErrors.push(error.message));
    await reader.goto(`${server.url}/?token=${token}`);
    await reader.locator('#jobs-body tr').first().waitFor(WAIT);
    expect(await reader.locator('#webhooks').isHidden()).toBe(true);
    await reader.close();
    expect(pageErrors).toEqual([]);
  });
});
