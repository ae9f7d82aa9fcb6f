import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/server.js';
import type { FakeProvider } from '../support/fake-provider.js';
import { startTestServer, TOKEN } from '../support/test-server.js';
import { PseudoTerminal } from './pseudo-terminal.js';

let server: RunningServer;
let provider: FakeProvider;
let term: PseudoTerminal | undefined;
const env = (): Record<string, string> => ({ JOBSTREAM_URL: server.url, JOBSTREAM_TOKEN: TOKEN });

beforeAll(async () => {
  ({ server, provider } = await startTestServer());
});
afterEach(async () => {
  await term?.kill();
  term = undefined;
});
afterAll(async () => {
  await server.close();
});

/** What a person's terminal must never show: a second header, a wrapped line, scrolled-off frames. */
function expectOneFittedFrame(t: PseudoTerminal): void {
  const lines = t.lines();
  expect(lines.filter((line) => line.text.startsWith('jobstream watch')), lines.map((l) => l.text).join('\n')).toHaveLength(1);
  expect(lines.filter((line) => line.wrapped)).toEqual([]);
  expect(t.scrollback()).toBe(0);
}

describe('jobstream watch in a terminal', () => {
  it('fits 180 jobs into 80x24 with one header, redraws in place and never grows the scrollback', async () => {
    const jobs = [];
    for (let i = 0; i < 180; i += 1) {
      jobs.push(await server.engine.submit({ provider: 'fake', kind: 'transcription', name: `a rather long job name number ${i}`, input: { type: 'url', url: `https://example.com/${i}.wav` } }));
    }
    term = PseudoTerminal.run(['watch'], { rows: 24, columns: 80, env: env() });
    const t = term;
    // Anywhere in the terminal (screen or scrollback): a view that overflows must fail the
    // assertions below, not time out here.
    const shows = (id: string, text: string) => (x: PseudoTerminal) => x.logicalLines().some((line) => line.includes(id.slice(0, 20)) && line.includes(text));
    await t.waitFor(shows(jobs.at(-1)!.id, 'queued'), 'the first frame');

    // Move the newest jobs (on screen) through several states: every change is a new frame.
    for (const [i, job] of jobs.slice(-5).entries()) {
      provider.set(job.externalId!, 'WORKING', { progress: 0.5 });
      await t.waitFor(shows(job.id, '50%'), `job ${i} at 50%`);
      provider.set(job.externalId!, 'DONE', { result: 'ok' });
      await t.waitFor(shows(job.id, 'succeeded'), `job ${i} succeeded`);
    }
    expectOneFittedFrame(t);
    // Many jobs changing at once (a burst of frames): still one header, nothing scrolled off.
    for (const job of jobs.slice(0, 100)) provider.set(job.externalId!, 'DONE', { result: 'ok' });
    await t.waitFor((x) => x.screen()[0]?.includes('180 jobs: 75 queued, 105 succeeded') === true, 'the burst of 100 successes in the title');
    expectOneFittedFrame(t);
    // The terminal parses output as it comes: wait for a whole frame with its overflow line.
    await t.waitFor((x) => x.screen().some((line) => /…and \d+ more/.test(line)), 'the overflow line');
    const screen = t.screen();
    expect(screen[0]).toMatch(/^jobstream watch/);
    expect(screen.find((line) => /…and \d+ more/.test(line))).toMatch(/…and 160 more \(60 queued, 100 succeeded\)/);
    expectOneFittedFrame(t);

    t.pressCtrlC();
    expect(await t.exited).toBe(130);
    expectOneFittedFrame(t);
  }, 60_000);

  it('submit --watch redraws a long row in a narrow terminal without wrapping, and exits 0 when it succeeds', async () => {
    const created = provider.created.length;
    term = PseudoTerminal.run(['submit', 'fake', 'separation', 'https://example.com/song.wav', '--name', `stems ${'of a very long song title '.repeat(4)}`, '--watch'], {
      rows: 10,
      columns: 60,
      env: env(),
    });
    const t = term;
    await t.waitFor(() => provider.created.length > created && server.hub.stats.subscriptions > 0, 'the job is submitted and watched');
    await t.waitFor((x) => x.screen().some((line) => line.includes('queued')), 'the job on screen');
    const externalId = [...provider.jobs.keys()].at(-1)!;
    provider.set(externalId, 'WORKING', { progress: 0.3 });
    await t.waitFor((x) => x.screen().some((line) => line.includes('30%')), 'the job at 30%');
    provider.set(externalId, 'DONE', { result: 'ok' });
    expect(await t.exited).toBe(0);
    expect(t.screen().some((line) => line.includes('succeeded'))).toBe(true);
    // Below the last frame: the job's result files.
    const screen = t.screen();
    const listed = screen.findIndex((line) => /^result files of job_\w+:$/.test(line));
    expect(listed, screen.join('\n')).toBeGreaterThan(0);
    expect(screen[listed + 1]).toBe('  result.txt  text/plain');
    expectOneFittedFrame(t);
  }, 60_000);
});
