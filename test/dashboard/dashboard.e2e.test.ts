import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { wavFile } from '../../src/simulators/kit/media.js';
import type { JobSnapshot } from '../../src/streams/job-snapshot.js';
import { launchBrowser, type TestBrowser } from './browser.js';
import { startDashboardStack, TOKEN, type DashboardStack } from './dashboard-stack.js';
import { ensureChromium } from './ensure-chromium.js';

const WAIT = { timeout: 15_000 };
const TERMINAL = ['succeeded', 'failed', 'canceled'];

let unavailable: string | undefined;
let stack: DashboardStack;
let browser: TestBrowser | undefined;
let page: Page;
let shots: string;
let sample: string;
const pageErrors: string[] = [];
const foreignRequests: string[] = [];
const seeded: JobSnapshot[] = [];

beforeAll(async () => {
  const chromium = ensureChromium();
  if ('unavailable' in chromium) {
    if (process.env.CI === 'true') throw new Error(chromium.unavailable);
    unavailable = chromium.unavailable;
    return;
  }
  // Camb.ai jobs all fail (the panel shows errors); Klangio repeats every webhook (counted as dropped duplicates).
  stack = await startDashboardStack({ speed: 4, faults: { cambai: { jobFailureRate: 1 }, klangio: { webhook: { duplicateRate: 1 } } } });
  shots = await mkdtemp(join(tmpdir(), 'jobstream-dashboard-screenshots-'));
  sample = join(stack.dataDir, 'sample.wav');
  await writeFile(sample, wavFile({ seconds: 0.3, channels: 1, sampleRate: 8000 }));
  browser = await launchBrowser(chromium.executablePath);
  page = await browser.context.newPage();
  watch(page);
}, 10 * 60_000);

beforeEach(({ skip }) => {
  if (unavailable !== undefined) skip(unavailable);
});

afterAll(async () => {
  await browser?.close();
  // Both are unset when chromium is missing.
  await stack?.close();
  if (shots !== undefined) console.log(`dashboard screenshots: ${shots}`);
});

/** Collects script errors and any request that leaves the server (there must be none). */
function watch(target: Page): void {
  target.on('pageerror', (error) => pageErrors.push(error.message));
  target.on('request', (request) => {
    const url = new URL(request.url());
    if (url.origin !== new URL(stack.url).origin && url.protocol !== 'blob:' && url.protocol !== 'data:') foreignRequests.push(url.href);
  });
}

const rows = (target = page) => target.locator('#jobs-body tr');
const row = (name: string) => rows().filter({ has: page.locator('.job-name', { hasText: new RegExp(`^${name}$`) }) });
const shot = (name: string) => page.screenshot({ path: join(shots, `${name}.png`) });

/**
 * Records every status a row takes while it is in the table: a change of `data-status` on a
 * row already there is an update in place (a new row gets its first status before it is added).
 * Page scripts are strings here: this test compiles without the DOM library.
 */
const RECORD_STATUS_CHANGES = `
  window.statusChanges = {};
  new MutationObserver((records) => {
    for (const { target } of records) {
      if (target.dataset.jobId !== undefined) (window.statusChanges[target.dataset.jobId] ??= []).push(target.dataset.status);
    }
  }).observe(document.getElementById('jobs-body'), { subtree: true, attributes: true, attributeFilter: ['data-status'] });
`;
const statusChanges = (id: string) => page.evaluate<string[]>(`window.statusChanges[${JSON.stringify(id)}] ?? []`);

/** Clicks a filter chip. */
const chip = (group: string, value: string) => page.locator(`#filters [data-group="${group}"] button.chip[data-value="${value}"]`).click();

describe('dashboard', () => {
  it('signs in from the printed link and takes the token out of the address bar', async () => {
    await page.goto(`${stack.url}/?token=${TOKEN}`);
    await page.locator('#connection[data-state="open"]').waitFor(WAIT);
    expect(page.url()).toBe(`${stack.url}/`);
    expect(await page.evaluate(`sessionStorage.getItem('jobstream.token')`)).toBe(TOKEN);
    await expect.poll(() => page.locator('#connection .label').textContent(), WAIT).toBe('Live');
    await page.locator('#jobs-empty', { hasText: 'No jobs yet' }).waitFor(WAIT);
    await page.evaluate(RECORD_STATUS_CHANGES);
  });

  it('asks for a token when it has none, and says when one is refused', async () => {
    const other = await browser!.context.newPage(); // a new tab: its own, empty sessionStorage
    watch(other);
    try {
      await other.goto(`${stack.url}/`);
      const form = other.locator('#token-form');
      await form.waitFor(WAIT);
      await form.locator('input[name="token"]').fill('not-the-token-0123456789');
      await form.locator('button[type="submit"]').click();
      await form.locator('.form-error', { hasText: 'refused' }).waitFor(WAIT);
      await other.screenshot({ path: join(shots, 'sign-in.png') });
      await form.locator('input[name="token"]').fill(TOKEN);
      await form.locator('button[type="submit"]').click();
      await other.locator('#connection[data-state="open"]').waitFor(WAIT);
      await other.locator('#dashboard').waitFor(WAIT);
    } finally {
      await other.close();
    }
  });

  it('shows every job, newest first, moving to its final state live, with counters', async () => {
    const file = { type: 'file' as const, path: sample, filename: 'sample.wav', contentType: 'audio/wav' };
    const engine = stack.server.engine;
    seeded.push(
      await engine.submit({ provider: 'klangio', kind: 'transcription', input: file, name: 'riff', options: { model: 'guitar', outputs: ['mxml', 'midi'] } }),
      await engine.submit({ provider: 'musicai', kind: 'workflow', input: file, name: 'stems', options: { workflow: 'stems-four' } }),
      await engine.submit({ provider: 'cambai', kind: 'transcription', input: file, name: 'interview', options: { language: 1 } }),
      await engine.submit({ provider: 'sunoapi', kind: 'vocal-separation', name: 'split', options: { taskId: 'suno-task-1', audioId: 'suno-audio-1' } }),
    );
    await expect.poll(() => rows().count(), WAIT).toBe(seeded.length);
    expect(await page.locator('#jobs-body .job-name').allTextContents()).toEqual(['split', 'interview', 'stems', 'riff']);
    const unfinished = page.locator(`#jobs-body tr${TERMINAL.map((status) => `:not([data-status="${status}"])`).join('')}`);
    await expect.poll(() => unfinished.count(), WAIT).toBe(0);
    expect(await row('interview').getAttribute('data-status')).toBe('failed');
    expect(await row('riff').getAttribute('data-status')).toBe('succeeded');
    // Each row was on the page before its job finished, and was updated in place.
    for (const job of seeded) expect(TERMINAL).toContain((await statusChanges(job.id)).at(-1));
    const counter = (name: string) => page.locator(`[data-counter="${name}"] .counter-value`).textContent();
    await expect.poll(() => counter('succeeded'), WAIT).toBe('3');
    expect(await counter('failed')).toBe('1');
    expect(await counter('running')).toBe('0');
    // Webhooks and polls come from /v1/stats, refreshed every 2 s.
    await expect.poll(async () => Number(await counter('duplicates')), WAIT).toBeGreaterThan(0);
    await expect.poll(async () => Number(await counter('polls')), WAIT).toBeGreaterThan(0);
    const age = await row('riff').locator('.age').textContent();
    expect(age).toMatch(/^\d+s$/);
    await expect.poll(() => row('riff').locator('.age').textContent(), WAIT).not.toBe(age); // it ticks
    await shot('jobs');
  });

  it('filters by provider, kind and status', async () => {
    const names = () => page.locator('#jobs-body .job-name').allTextContents();
    await chip('provider', 'klangio');
    expect(await names()).toEqual(['riff']);
    await chip('provider', 'cambai');
    expect(await names()).toEqual(['interview', 'riff']);
    await chip('status', 'succeeded');
    expect(await names()).toEqual(['riff']);
    // Kind chips follow the chosen providers.
    expect(await page.locator('#filters [data-group="kind"] button.chip').allTextContents()).toEqual(['beat-tracking', 'chord-recognition', 'chord-recognition-extended', 'source-separation', 'strum-recognition', 'transcription']);
    await chip('kind', 'beat-tracking');
    expect(await names()).toEqual([]);
    await page.locator('#jobs-empty', { hasText: 'No jobs match these filters.' }).waitFor(WAIT);
    await shot('filtered-empty');
    await page.getByRole('button', { name: 'Clear filters' }).click();
    expect(await names()).toEqual(['split', 'interview', 'stems', 'riff']);
    await chip('status', 'failed');
    expect(await names()).toEqual(['interview']);
    await page.getByRole('button', { name: 'Clear filters' }).click();
  });

  it("opens a failed job's panel with its error and timeline", async () => {
    await row('interview').click();
    const panel = page.locator('#job-panel');
    await panel.locator('.panel-title', { hasText: 'interview' }).waitFor(WAIT);
    const failed = stack.server.engine.get(seeded[2]!.id)!;
    expect(await panel.locator('.error-code').textContent()).toBe(failed.error!.code);
    expect(await panel.locator('.error-message').textContent()).toBe(failed.error!.message);
    // Every version, from the server's history of the job, in order.
    await expect.poll(() => panel.locator('.timeline-entry').count(), WAIT).toBe(failed.version);
    const versions = await Promise.all((await panel.locator('.timeline-entry').all()).map((entry) => entry.getAttribute('data-version')));
    expect(versions).toEqual(Array.from({ length: failed.version }, (_, i) => String(i + 1)));
    expect(await panel.locator('.timeline-entry').first().locator('.source').textContent()).toBe('submit');
    expect(await panel.locator('.timeline-entry').last().getAttribute('data-status')).toBe('failed');
    expect(await row('interview').getAttribute('aria-selected')).toBe('true');
    await panel.getByRole('button', { name: 'Close' }).click();
    await panel.waitFor({ state: 'hidden', ...WAIT });
  });

  it("lists a finished job's result files and downloads one with the token", async () => {
    await row('riff').click();
    const panel = page.locator('#job-panel');
    await panel.locator('.file').first().waitFor(WAIT);
    const riff = stack.server.engine.get(seeded[0]!.id)!;
    expect(riff.artifacts?.state).toBe('complete');
    expect(await panel.locator('.file-name').allTextContents()).toEqual(riff.artifacts!.files.map((file) => file.name));
    // Klangio reports by webhook; the result copies are the last change.
    const sources = await panel.locator('.timeline-entry .source').allTextContents();
    expect(sources).toContain('webhook');
    expect(sources.at(-1)).toBe('results');
    await shot('job-panel');
    const first = riff.artifacts!.files[0]!;
    const [download] = await Promise.all([page.waitForEvent('download', WAIT), panel.locator(`[data-download="${first.name}"]`).click()]);
    expect(download.suggestedFilename()).toBe(first.name);
    expect((await readFile(await download.path())).length).toBe(first.bytes);
  });

  it('submits a job from the form, with the server’s validation errors next to the fields', async () => {
    await page.getByRole('button', { name: 'New job' }).click();
    const dialog = page.locator('#new-job-dialog');
    await dialog.waitFor(WAIT);
    await dialog.locator('select[name="provider"]').selectOption('klangio');
    await dialog.locator('select[name="kind"]').selectOption('chord-recognition');
    const options = dialog.locator('textarea[name="options"]');
    expect(JSON.parse(await options.inputValue())).toEqual({ vocabulary: 'full' });
    // A sunoapi.org MIDI job is prefilled with the separation that succeeded.
    await dialog.locator('select[name="provider"]').selectOption('sunoapi');
    await dialog.locator('select[name="kind"]').selectOption('midi');
    expect(JSON.parse(await options.inputValue())).toEqual({ taskId: stack.server.engine.get(seeded[3]!.id)!.externalId });
    expect(await dialog.locator('input[name="file"]').isVisible()).toBe(false);

    await dialog.locator('select[name="provider"]').selectOption('klangio');
    await dialog.locator('select[name="kind"]').selectOption('chord-recognition');
    await dialog.locator('input[name="name"]').fill('from the page');
    await dialog.locator('input[name="file"]').setInputFiles({ name: 'take.wav', mimeType: 'audio/wav', buffer: await readFile(sample) });
    await options.fill('{"vocabulary": "jazz"}');
    await dialog.getByRole('button', { name: 'Submit job' }).click();
    const optionsError = dialog.locator('[data-field="options"] .field-error');
    await optionsError.waitFor(WAIT);
    expect(await optionsError.textContent()).toMatch(/^vocabulary: /);
    await shot('new-job-invalid');

    await options.fill('{"vocabulary": "major-minor"}');
    expect(await optionsError.isVisible()).toBe(false); // cleared as soon as the field is edited
    await dialog.getByRole('button', { name: 'Submit job' }).click();
    await dialog.waitFor({ state: 'hidden', ...WAIT });
    await page.locator('#job-panel .panel-title', { hasText: 'from the page' }).waitFor(WAIT);
    await row('from the page').waitFor(WAIT);
    expect(await rows().first().locator('.job-name').textContent()).toBe('from the page');
    await page.locator('#jobs-body tr[data-status="succeeded"]', { hasText: 'from the page' }).waitFor(WAIT);
    await page.locator('#job-panel .file').first().waitFor(WAIT);
    const job = stack.server.engine.list({ providers: ['klangio'], kinds: ['chord-recognition'] }).jobs[0]!;
    expect(job).toMatchObject({ name: 'from the page', options: { vocabulary: 'major-minor' } });
    expect(await statusChanges(job.id)).toContain('succeeded');
  });

  it('recovers after the server restarts: reconnecting, then live again', async () => {
    const connection = page.locator('#connection');
    await stack.stopServer();
    await page.locator('#connection[data-state="resuming"]').waitFor(WAIT);
    expect(await connection.locator('.label').textContent()).toBe('Reconnecting…');
    await shot('reconnecting');
    const server = await stack.startServer();
    await page.locator('#connection[data-state="open"]').waitFor({ timeout: 20_000 });
    const file = { type: 'file' as const, path: sample, filename: 'sample.wav' };
    await server.engine.submit({ provider: 'musicai', kind: 'workflow', input: file, name: 'after restart', options: { workflow: 'stems-four' } });
    await page.locator('#jobs-body tr[data-status="succeeded"]', { hasText: 'after restart' }).waitFor(WAIT);
    expect(await rows().count()).toBe(seeded.length + 2);
    await shot('after-restart');
  }, 40_000);

  it('loaded nothing from anywhere but the server, without a script error', () => {
    expect(foreignRequests).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
