import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFailed } from 'vitest';
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
      await engine.submit({ provider: 'musicai', kind: 'workflow', input: file, name: 'stems', options: { workflow: 'stems-four' }, metadata: { customer: 'acme-42' } }),
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
    // Which counts are all-time and which since the server started; what the server keeps.
    expect(await page.locator('#counters .counter-group-label').allTextContents()).toEqual(['Jobs kept, all time · kept forever', 'Since the server started']);
    const age = await row('riff').locator('.age').textContent();
    expect(age).toMatch(/^\d+s$/);
    await expect.poll(() => row('riff').locator('.age').textContent(), WAIT).not.toBe(age); // it ticks
    await shot('jobs');
  });

  it('filters by provider, kind and status, through the list API, with the filters in the URL', async () => {
    const names = () => page.locator('#jobs-body .job-name').allTextContents();
    await chip('provider', 'klangio');
    await expect.poll(names, WAIT).toEqual(['riff']);
    expect(new URL(page.url()).searchParams.getAll('provider')).toEqual(['klangio']);
    await chip('provider', 'cambai');
    await expect.poll(names, WAIT).toEqual(['interview', 'riff']);
    await chip('status', 'succeeded');
    await expect.poll(names, WAIT).toEqual(['riff']);
    // Kind chips follow the chosen providers.
    expect(await page.locator('#filters [data-group="kind"] button.chip').allTextContents()).toEqual(['beat-tracking', 'chord-recognition', 'chord-recognition-extended', 'source-separation', 'strum-recognition', 'transcription']);
    await chip('kind', 'beat-tracking');
    await expect.poll(names, WAIT).toEqual([]);
    await page.locator('#jobs-empty', { hasText: 'No jobs match' }).waitFor(WAIT);
    await shot('filtered-empty');
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await expect.poll(names, WAIT).toEqual(['split', 'interview', 'stems', 'riff']);
    expect(new URL(page.url()).search).toBe('');
    await chip('status', 'failed');
    await expect.poll(names, WAIT).toEqual(['interview']);
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await expect.poll(names, WAIT).toEqual(['split', 'interview', 'stems', 'riff']);
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
    // The result JSON, folded until asked for.
    const result = panel.locator('details.json');
    expect(await result.getAttribute('open')).toBeNull();
    await result.locator('summary').click();
    expect(JSON.parse((await result.locator('pre').textContent())!)).toEqual(riff.result);
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
    // New rows go in by themselves only while the pointer is not over the table.
    await page.mouse.move(1, 1);
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

  it('searches by name, id and metadata, with the search in the URL', async () => {
    const names = () => page.locator('#jobs-body .job-name').allTextContents();
    const search = page.locator('#toolbar input[name="q"]');
    onTestFailed(() => search.fill(''));
    await search.fill('RIF');
    await expect.poll(names, WAIT).toEqual(['riff']);
    expect(new URL(page.url()).searchParams.get('q')).toBe('RIF');
    await search.fill(seeded[1]!.id.slice(-10)); // part of the id of "stems"
    await expect.poll(names, WAIT).toEqual(['stems']);
    await search.fill('ACME'); // a metadata value of "stems"
    await expect.poll(names, WAIT).toEqual(['stems']);
    await search.fill('nothing-is-called-this');
    await page.locator('#jobs-empty', { hasText: 'No jobs match' }).waitFor(WAIT);
    await search.fill('');
    await expect.poll(async () => (await names()).length, WAIT).toBe(seeded.length + 2);
    expect(new URL(page.url()).searchParams.has('q')).toBe(false);
    expect(await page.locator('#jobs-footer .list-count').textContent()).toBe(`1–${seeded.length + 2} of ${seeded.length + 2}`);
  });

  it('opens a deep link in a fresh page: the open job, the filters and the search come back', async () => {
    const interview = seeded[2]!;
    const fresh = await browser!.context.newPage();
    watch(fresh);
    try {
      await fresh.goto(`${stack.url}/?token=${TOKEN}&status=failed&q=inter&job=${interview.id}`);
      await fresh.locator('#job-panel .panel-title', { hasText: 'interview' }).waitFor(WAIT);
      // The token left the address bar; the rest stayed.
      const url = new URL(fresh.url());
      expect(url.searchParams.has('token')).toBe(false);
      expect(url.searchParams.getAll('status')).toEqual(['failed']);
      expect(url.searchParams.get('job')).toBe(interview.id);
      await expect.poll(() => fresh.locator('#jobs-body .job-name').allTextContents(), WAIT).toEqual(['interview']);
      expect(await fresh.locator('#toolbar input[name="q"]').inputValue()).toBe('inter');
      expect(await fresh.locator('#filters [data-group="status"] button.chip[data-value="failed"]').getAttribute('aria-pressed')).toBe('true');
      // A reload restores it too (the token is kept by the tab).
      await fresh.reload();
      await fresh.locator('#job-panel .panel-title', { hasText: 'interview' }).waitFor(WAIT);
      expect(await fresh.locator('#job-panel .row-error, #job-panel .error-code').first().textContent()).toBeTruthy();
      // Closing the panel takes the job out of the address bar.
      await fresh.locator('#job-panel').getByRole('button', { name: 'Close' }).click();
      expect(new URL(fresh.url()).searchParams.has('job')).toBe(false);
    } finally {
      await fresh.close();
    }
  });

  it('shows the error in the row and the duration of finished jobs', async () => {
    const interview = row('interview');
    const failed = stack.server.engine.get(seeded[2]!.id)!;
    expect(await interview.locator('.row-error').textContent()).toBe(`${failed.error!.code}: ${failed.error!.message}`);
    expect(await interview.locator('.row-error').isVisible()).toBe(true);
    expect(await row('riff').locator('.duration').textContent()).toMatch(/^\d+s$/);
  });

  it('retries a failed job: the new job links back to it, and it lists its retry', async () => {
    await page.mouse.move(1, 1);
    await row('interview').click();
    const panel = page.locator('#job-panel');
    await panel.locator('.panel-title', { hasText: 'interview' }).waitFor(WAIT);
    const original = seeded[2]!.id;
    await panel.getByRole('button', { name: 'Retry' }).click();
    // The panel moves to the new job, which says what it retries.
    await panel.locator(`[data-link="retry-of"] a[data-job-link="${original}"]`).waitFor(WAIT);
    const retryId = await panel.locator('.panel-body').getAttribute('data-job-id');
    expect(retryId).not.toBe(original);
    expect(stack.server.engine.get(retryId!)).toMatchObject({ provider: 'cambai', kind: 'transcription', name: 'interview', retryOf: original });
    await page.locator(`#jobs-body tr[data-job-id="${retryId}"]`).waitFor(WAIT);
    expect(new URL(page.url()).searchParams.get('job')).toBe(retryId);
    // Back on the original, its retry is listed.
    await panel.locator(`[data-link="retry-of"] a`).click();
    await panel.locator(`[data-link="retry"] a[data-job-link="${retryId}"]`).waitFor(WAIT);
    await shot('retry');
    await panel.getByRole('button', { name: 'Close' }).click();
  });

  it('plays an audio result inline, with a short-lived token for that job only', async () => {
    await page.mouse.move(1, 1);
    await row('stems').click();
    await page.locator('#job-panel section[aria-label="Metadata"]', { hasText: 'acme-42' }).waitFor(WAIT);
    const audio = page.locator('#job-panel audio').first();
    await audio.waitFor(WAIT);
    await expect.poll(() => audio.getAttribute('src'), WAIT).toBeTruthy();
    const url = new URL((await audio.getAttribute('src'))!, stack.url);
    expect(url.searchParams.get('disposition')).toBe('inline');
    expect(url.searchParams.get('token')).not.toBe(TOKEN);
    await expect.poll(() => audio.evaluate((element) => (element as unknown as { duration: number }).duration), WAIT).toBeGreaterThan(0);
    expect(Number.isFinite(await audio.evaluate((element) => (element as unknown as { duration: number }).duration))).toBe(true);
    await page.locator('#job-panel').getByRole('button', { name: 'Close' }).click();
  });

  it('links the steps of a pipeline both ways', async () => {
    const stems = seeded[1]!;
    // New rows go in by themselves at the top of a table scrolled to the top, the pointer elsewhere.
    await page.mouse.move(1, 1);
    await page.evaluate(`document.querySelector('.workspace > .jobs').scrollTop = 0`);
    const next = await stack.server.engine.submit({ provider: 'klangio', kind: 'transcription', name: 'from vocals', after: { jobId: stems.id, inputFrom: 'vocals.wav' }, options: { model: 'guitar', outputs: ['midi'] } });
    await row('from vocals').click(WAIT);
    const panel = page.locator('#job-panel');
    const upstream = panel.locator(`[data-link="upstream"] a[data-job-link="${stems.id}"]`);
    await upstream.waitFor(WAIT);
    expect(await upstream.textContent()).toBe(`stems (${stems.id})`);
    await upstream.click();
    await panel.locator('.panel-title', { hasText: 'stems' }).waitFor(WAIT);
    await panel.locator(`[data-link="downstream"] a[data-job-link="${next.id}"]`).waitFor(WAIT);
    await panel.getByRole('button', { name: 'Close' }).click();
  });

  it('draws the charts from the stored jobs', async () => {
    await page.locator('#views button[data-view="charts"]').click();
    expect(new URL(page.url()).searchParams.get('view')).toBe('charts');
    const throughput = page.locator('[data-chart="throughput"]');
    await throughput.locator('rect.mark').first().waitFor(WAIT);
    const attributes = (name: string) => page.evaluate<string[]>(`[...document.querySelectorAll('[data-chart="throughput"] rect.mark')].map((mark) => mark.getAttribute(${JSON.stringify(name)}))`);
    expect((await attributes('height')).some((height) => Number(height) > 1)).toBe(true);
    expect((await attributes('data-value')).reduce((sum, value) => sum + Number(value), 0)).toBeGreaterThan(0);
    expect(await page.locator('[data-chart="durations"] rect.mark').count()).toBeGreaterThan(0);
    expect(await page.locator('[data-chart="failures"] .bar-label').allTextContents()).toContain('cambai');
    expect(await throughput.locator('.axis-title').allTextContents()).toEqual(['jobs / minute', 'time (local)']);
    await shot('charts');
  });

  it('shows a lane in an outage on the provider health view, and bulk cancels the jobs stuck there', async () => {
    const klangio = stack.simulators.get('klangio')!;
    const file = { type: 'file' as const, path: sample, filename: 'sample.wav', contentType: 'audio/wav' };
    const stuck = [
      await stack.server.engine.submit({ provider: 'klangio', kind: 'transcription', input: file, name: 'stuck one', options: { model: 'guitar', outputs: ['midi'] } }),
      await stack.server.engine.submit({ provider: 'klangio', kind: 'transcription', input: file, name: 'stuck two', options: { model: 'guitar', outputs: ['midi'] } }),
    ];
    // Every poll now fails and no webhook is sent: the jobs stay unfinished, the lane goes into an outage.
    klangio.setFaults({ serverErrorRate: 1, webhook: { dropRate: 1 } });
    try {
      await page.locator('#views button[data-view="providers"]').click();
      const lane = page.locator('#view-providers .lane[data-state="outage"]', { hasText: 'klangio' });
      await lane.waitFor({ timeout: 20_000 });
      expect(await lane.locator('.lane-state').textContent()).toBe('Outage');
      await expect.poll(() => lane.locator('.lane-countdown').textContent(), WAIT).toMatch(/^\((in \d|due now)/);
      expect(await lane.locator('.lane-errors li').count()).toBeGreaterThan(0);
      await shot('provider-health');

      await page.locator('#views button[data-view="jobs"]').click();
      for (const job of stuck) await page.locator(`#jobs-body tr[data-job-id="${job.id}"]:not([data-status="succeeded"])`).waitFor(WAIT);
      for (const job of stuck) await page.locator(`#jobs-body tr[data-job-id="${job.id}"] input.row-check`).check();
      const cancel = page.locator('#toolbar [data-action="cancel-selected"]');
      expect(await cancel.textContent()).toBe('Cancel selected (2)');
      let question = '';
      page.once('dialog', (dialog) => {
        question = dialog.message();
        void dialog.accept();
      });
      await cancel.click();
      for (const job of stuck) await page.locator(`#jobs-body tr[data-job-id="${job.id}"][data-status="canceled"]`).waitFor(WAIT);
      expect(question).toMatch(/^Cancel 2 jobs: stuck (one|two), stuck (one|two)\?/);
      expect(question).toContain('klangio cannot cancel jobs');
      expect(await cancel.isVisible()).toBe(false);
    } finally {
      klangio.setFaults({ serverErrorRate: 0, webhook: { dropRate: 0 } });
    }
  }, 40_000);

  it('fits a 390x844 phone: no sideways scrolling, the panel and the dialog fit, a long error wraps', async () => {
    const phone = await browser!.context.newPage();
    watch(phone);
    const overflow = (target: Page) => target.evaluate<boolean>('document.documentElement.scrollWidth > window.innerWidth');
    try {
      await phone.setViewportSize({ width: 390, height: 844 });
      await phone.goto(`${stack.url}/?token=${TOKEN}`);
      await rows(phone).first().waitFor(WAIT);
      expect(await overflow(phone)).toBe(false);
      await rows(phone).first().click();
      const panel = phone.locator('#job-panel');
      await panel.locator('.panel-title').waitFor(WAIT);
      const box = (await panel.boundingBox())!;
      const topbar = (await phone.locator('.topbar').boundingBox())!;
      expect(box.y).toBeGreaterThanOrEqual(topbar.y + topbar.height - 1); // below the top bar, its header visible
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(390);
      expect(await overflow(phone)).toBe(false);
      await panel.getByRole('button', { name: 'Close' }).click();
      for (const view of ['charts', 'providers']) {
        await phone.locator(`#views button[data-view="${view}"]`).click();
        await phone.locator(`#view-${view} .card`).first().waitFor(WAIT);
        expect(await overflow(phone)).toBe(false);
      }
      await phone.locator('#views button[data-view="jobs"]').click();
      // The server's answer to a bad model lists every valid one, without a space.
      await phone.getByRole('button', { name: 'New job' }).click();
      const dialog = phone.locator('#new-job-dialog');
      await dialog.locator('select[name="provider"]').selectOption('klangio');
      await dialog.locator('select[name="kind"]').selectOption('transcription');
      await dialog.locator('input[name="file"]').setInputFiles({ name: 'take.wav', mimeType: 'audio/wav', buffer: await readFile(sample) });
      await dialog.locator('textarea[name="options"]').fill(`{"model": "${'x'.repeat(120)}"}`);
      await dialog.getByRole('button', { name: 'Submit job' }).click();
      const error = dialog.locator('[data-field="options"] .field-error');
      await error.waitFor(WAIT);
      const dialogBox = (await dialog.boundingBox())!;
      const errorBox = (await error.boundingBox())!;
      expect(dialogBox.x).toBeGreaterThanOrEqual(0);
      expect(dialogBox.x + dialogBox.width).toBeLessThanOrEqual(390);
      expect(errorBox.x + errorBox.width).toBeLessThanOrEqual(dialogBox.x + dialogBox.width);
      expect(await dialog.evaluate((element) => element.scrollWidth <= element.clientWidth)).toBe(true);
      expect(await overflow(phone)).toBe(false);
      await phone.screenshot({ path: join(shots, 'phone-dialog.png') });
    } finally {
      await phone.close();
    }
  });

  it('announces new jobs rather than moving rows under the pointer, and pauses live updates', async () => {
    const engine = stack.server.engine;
    const file = { type: 'file' as const, path: sample, filename: 'sample.wav' };
    const names = () => page.locator('#jobs-body .job-name').allTextContents();
    await rows().nth(1).hover();
    const before = await names();
    await engine.submit({ provider: 'musicai', kind: 'workflow', input: file, name: 'announced', options: { workflow: 'stems-four' } });
    const notice = page.locator('#jobs-new');
    await notice.filter({ hasText: '1 new job' }).waitFor(WAIT);
    expect(await names()).toEqual(before);
    await notice.getByRole('button', { name: 'show' }).click();
    await expect.poll(() => rows().first().locator('.job-name').textContent(), WAIT).toBe('announced');
    expect(await notice.isVisible()).toBe(false);

    await page.locator('#toolbar [data-action="pause"]').click();
    await page.locator('#jobs-footer', { hasText: 'live updates paused' }).waitFor(WAIT);
    const quiet = await engine.submit({ provider: 'musicai', kind: 'workflow', input: file, name: 'while paused', options: { workflow: 'stems-four' } });
    await expect.poll(() => engine.get(quiet.id)?.status, WAIT).toBe('succeeded');
    expect(await row('while paused').count()).toBe(0);
    await page.locator('#toolbar [data-action="pause"]').click();
    await page.locator(`#jobs-body tr[data-job-id="${quiet.id}"][data-status="succeeded"]`).waitFor(WAIT);
  });

  it('pages with a chosen size and Load more, the size in the URL', async () => {
    const ids = () => page.evaluate<string[]>(`[...document.querySelectorAll('#jobs-body tr')].map((tr) => tr.dataset.jobId)`);
    const all = await ids();
    const total = stack.server.engine.list({}).jobs.length;
    expect(all.length).toBe(total);
    expect(total).toBeGreaterThan(10);
    await page.locator('#jobs-footer select[name="size"]').selectOption('10');
    await expect.poll(() => rows().count(), WAIT).toBe(10);
    expect(new URL(page.url()).searchParams.get('size')).toBe('10');
    expect(await page.locator('#jobs-footer .list-count').textContent()).toBe(`1–10 of ${total}`);
    await page.locator('#jobs-footer [data-action="load-more"]').click();
    await expect.poll(() => rows().count(), WAIT).toBe(Math.min(20, total));
    expect(await ids()).toEqual(all.slice(0, 20));
    expect(await page.locator('#jobs-footer .list-count').textContent()).toBe(`1–${Math.min(20, total)} of ${total}`);
    await page.locator('#jobs-footer select[name="size"]').selectOption('50');
    await expect.poll(() => rows().count(), WAIT).toBe(total);
  });

  it('with a scoped read token: its jobs only, no actions, no server-wide views, audio still plays', async () => {
    const stems = seeded[1]!;
    const minted = await fetch(`${stack.url}/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ filter: { ids: [stems.id] }, ttlSeconds: 300 }),
    });
    const { token } = (await minted.json()) as { token: string };
    const reader = await browser!.context.newPage();
    watch(reader);
    try {
      await reader.goto(`${stack.url}/?token=${token}&job=${stems.id}`);
      await reader.locator('#job-panel .panel-title', { hasText: 'stems' }).waitFor(WAIT);
      expect(await reader.locator('#jobs-body .job-name').allTextContents()).toEqual(['stems']);
      expect(await reader.locator('#jobs-body input.row-check').count()).toBe(0);
      expect(await reader.locator('#views button[data-view="charts"]').isVisible()).toBe(false);
      expect(await reader.locator('#views button[data-view="providers"]').isVisible()).toBe(false);
      expect(await reader.locator('#new-job-button').isVisible()).toBe(false);
      expect(await reader.locator('#job-panel [data-action="retry"]').isVisible()).toBe(false);
      const audio = reader.locator('#job-panel audio').first();
      await expect.poll(() => audio.evaluate((element) => (element as unknown as { duration: number }).duration), WAIT).toBeGreaterThan(0);
    } finally {
      await reader.close();
    }
  });

  it('loaded nothing from anywhere but the server, without a script error', () => {
    expect(foreignRequests).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
