import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/server/server.js';
import type { JobSnapshot } from '../../src/streams/job-snapshot.js';
import { launchBrowser, type TestBrowser } from '../dashboard/browser.js';
import { ensureChromium } from '../dashboard/ensure-chromium.js';
import { FakeProvider, tokenOf } from '../support/fake-provider.js';

const TOKEN = 'sse-browser-token-0123456789';
const WAIT = { timeout: 15_000 };
const PAGE = join(import.meta.dirname, '../../examples/scoped-token-page.html');

let unavailable: string | undefined;
let browser: TestBrowser | undefined;
let server: RunningServer | undefined;
let pages: Server | undefined;
let dataDir: string | undefined;
const others: RunningServer[] = [];

beforeAll(async () => {
  const chromium = ensureChromium();
  if ('unavailable' in chromium) {
    if (process.env.CI === 'true') throw new Error(chromium.unavailable);
    unavailable = chromium.unavailable;
    return;
  }
  browser = await launchBrowser(chromium.executablePath, { width: 900, height: 700 });
}, 10 * 60_000);

beforeEach(({ skip }) => {
  if (unavailable !== undefined) skip(unavailable);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  for (const other of others) await other.close();
  if (pages !== undefined) await new Promise<void>((resolve) => pages!.close(() => resolve()));
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
});

/** Serves the example page with `config` filled in, as the example's backend does, on its own origin. */
async function servePage(config: { server: string; job: string; token: string }): Promise<string> {
  const template = await readFile(PAGE, 'utf8');
  const html = template.replace(/(<script id="jobstream" type="application\/json">)[^<]*(<\/script>)/, (_, open: string, close: string) => `${open}${JSON.stringify(config)}${close}`);
  expect(html).not.toBe(template);
  pages = createServer((_request, response) => response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html));
  await new Promise<void>((resolve) => pages!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(pages.address() as AddressInfo).port}/`;
}

describe('the scoped-token page (examples/scoped-token-page.html) in a real browser', () => {
  it("follows one user's job with EventSource and a scoped token, resumes with Last-Event-ID across a server restart, and stops once the job has settled", async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'jobstream-sse-browser-'));
    // Only webhooks move jobs: the test decides when each version happens.
    const provider = new FakeProvider({ pollPolicy: { intervalMs: 3_600_000 } });
    const start = (port: number) => startServer({ providers: [provider], token: TOKEN, port, dataDir: dataDir! });
    server = await start(0);
    const port = server.port;
    const submit = (userId: string, name: string) =>
      server!.engine.submit({ provider: 'fake', kind: 'transcription', input: { type: 'url', url: 'https://example.com/a.wav' }, name, metadata: { userId } });
    const hook = (job: JobSnapshot, status: 'WORKING' | 'DONE', extra: object = {}) => {
      const created = provider.created.find((request) => request.webhookUrl?.includes(job.id));
      return server!.engine.ingestWebhook({ provider: 'fake', token: tokenOf(created?.webhookUrl), body: { id: job.externalId, status, ...extra } });
    };
    const mine = await submit('42', 'my song');
    const theirs = await submit('7', 'their song');
    const minted = await fetch(`${server.url}/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ filter: { metadata: { userId: '42' } }, ttlSeconds: 600 }),
    });
    const { token } = (await minted.json()) as { token: string };
    const pageUrl = await servePage({ server: server.url, job: mine.id, token });

    const page: Page = await browser!.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    const streams: Promise<{ url: string; lastEventId: string | undefined }>[] = [];
    page.on('request', (request) => {
      // allHeaders: what went on the wire (headers() leaves out some the browser adds).
      if (request.url().includes('/events')) streams.push(request.allHeaders().then((headers) => ({ url: request.url(), lastEventId: headers['last-event-id'] })));
    });
    await page.goto(pageUrl);
    const status = page.locator('#status');
    await page.locator(`#status[data-version="${mine.version}"]`).waitFor(WAIT);
    expect(await page.locator('#name').textContent()).toBe('my song');
    await hook(theirs, 'WORKING');
    await hook(mine, 'WORKING', { progress: 0.3 });
    await page.locator('#status[data-status="running"]').waitFor(WAIT);
    const beforeStop = server.engine.get(mine.id)!;
    await page.locator(`#status[data-version="${beforeStop.version}"]`).waitFor(WAIT);
    // The id of the last change the page saw: what the browser will send back.
    const lastSeen = server.engine.history(mine.id).at(-1)!;

    await server.close();
    await page.locator('#connection', { hasText: 'reconnecting' }).waitFor(WAIT);
    server = await start(port);
    // Changes made right after the restart, most likely before the browser is back (it waits a
    // few seconds): it gets them by resuming, and would get them live otherwise.
    await hook(mine, 'WORKING', { progress: 0.8 });
    await hook(theirs, 'DONE', { result: 'theirs' });
    await hook(mine, 'DONE', { result: 'mine' });
    await page.locator('#status[data-status="succeeded"]').waitFor(WAIT);
    await page.locator('body[data-ended="settled"]').waitFor(WAIT);

    // EventSource sent the token in the query string (it cannot send headers) and, after the
    // restart, the id of the last event it had.
    const requests = await Promise.all(streams);
    expect(requests.length).toBeGreaterThanOrEqual(2);
    expect(requests.every((s) => new URL(s.url).searchParams.get('token') === token && new URL(s.url).pathname === `/v1/jobs/${mine.id}/events`)).toBe(true);
    expect(requests[0]!.lastEventId).toBeUndefined();
    expect(requests[1]!.lastEventId).toBe(`${server.engine.epoch}:${lastSeen.seq}`);
    // Every version of the job, each once, in order, and nothing of the other user's job.
    const final = server.engine.get(mine.id)!;
    const versions = await page.locator('#versions li').evaluateAll((items): number[] => items.map((item) => Number((item as unknown as { dataset: { version: string } }).dataset.version)));
    expect(versions).toEqual(Array.from({ length: final.version - mine.version + 1 }, (_, i) => mine.version + i));
    expect(await status.textContent()).toBe('succeeded');
    expect(await page.locator('body').textContent()).not.toContain('their song');

    // The same token on the stream of every job, from this page: only user 42's job.
    const ids = await page.evaluate(
      `new Promise((resolve, reject) => {
        const source = new EventSource(${JSON.stringify(`${server.url}/v1/events?token=${encodeURIComponent(token)}`)});
        source.addEventListener('snapshot', (event) => { source.close(); resolve(JSON.parse(event.data).jobs.map((job) => job.id)); });
        source.onerror = () => { source.close(); reject(new Error('the stream failed')); };
      })`,
    );
    expect(ids).toEqual([mine.id]);
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);

  it('the dashboard with a scoped token shows only its jobs and no actions', async () => {
    const ownDir = await mkdtemp(join(tmpdir(), 'jobstream-scoped-dashboard-'));
    const provider = new FakeProvider({ pollPolicy: { intervalMs: 3_600_000 } });
    const dashboard = await startServer({ providers: [provider], token: TOKEN, port: 0, dataDir: ownDir });
    others.push({ ...dashboard, close: () => dashboard.close().then(() => rm(ownDir, { recursive: true, force: true })) });
    const submit = (userId: string, name: string) =>
      dashboard.engine.submit({ provider: 'fake', kind: userId === '42' ? 'transcription' : 'separation', input: { type: 'url', url: 'https://example.com/a.wav' }, name, metadata: { userId } });
    const mine = await submit('42', 'mine');
    await submit('7', 'theirs');
    const minted = await fetch(`${dashboard.url}/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ filter: { metadata: { userId: '42' } } }),
    });
    const { token } = (await minted.json()) as { token: string };

    const page = await browser!.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    const refused: string[] = [];
    page.on('response', (response) => {
      if (response.status() === 403) refused.push(new URL(response.url()).pathname);
    });
    await page.goto(`${dashboard.url}/?token=${encodeURIComponent(token)}`);
    await page.locator('#connection[data-state="open"]').waitFor(WAIT);
    await page.locator('#jobs-body tr').first().waitFor(WAIT);
    expect(await page.locator('#jobs-body .job-name').allTextContents()).toEqual(['mine']);
    expect(await page.locator('#access-note').textContent()).toMatch(/^Read-only: these jobs only, until /);
    expect(await page.locator('#new-job-button').isVisible()).toBe(false);
    expect(await page.locator('[data-counter="webhooks"]').isVisible()).toBe(false);
    // The filter chips offer what it can see, not the server's providers and kinds.
    expect(await page.locator('#filters [data-group="kind"] button.chip').allTextContents()).toEqual(['transcription']);
    await page.locator('#jobs-body tr').first().click();
    await page.locator('#job-panel .panel-title', { hasText: 'mine' }).waitFor(WAIT);
    await page.locator('#job-panel .timeline-entry').first().waitFor(WAIT);
    // Every action (cancel, retry) is there for the API token and hidden for a scoped one.
    const actions = page.locator('#job-panel .panel-footer button');
    expect(await actions.count()).toBeGreaterThan(0);
    expect(await page.locator('#job-panel .panel-footer button:visible').count()).toBe(0);
    expect(await page.locator('#job-panel').textContent()).toContain(mine.id);
    // It never asked for what the token may not read.
    expect(refused).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);
});
