import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');

/** Runs an example the way the README says (`npx tsx examples/<file>`), bounded in time; rejects unless it exits with 0. */
async function runExample(file: string): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', join(root, 'examples', file)], { cwd: root, timeout: 60_000 });
  return stdout;
}

describe('examples', () => {
  it('observe-in-code.ts follows a transcription to success and lists its files', async () => {
    const out = await runExample('observe-in-code.ts');
    const versions = [...out.matchAll(/^v(\d+) (\w+)/gm)].map((m) => [Number(m[1]), m[2]]);
    expect(versions.at(-1)?.[1]).toBe('succeeded');
    expect(versions.map(([v]) => v)).toEqual([...versions.map(([v]) => v)].sort((a, b) => Number(a) - Number(b)));
    expect(out).toContain('finished: succeeded');
    expect(out).toContain('files: transcript.json, transcript.txt, transcript.srt');
    expect(out).toMatch(/Speaker \d: /);
  });

  it('wait-for-batch.ts waits for eight jobs at two providers and counts them by status', async () => {
    const out = await runExample('wait-for-batch.ts');
    expect(out).toContain('submitted 8 jobs');
    const jobs = [...out.matchAll(/^(\w+)\s+(\w+\/[\w-]+)\s+(.+?)\s+\d+\.\d+ s {2}(.*)$/gm)].map((m) => ({ status: m[1], what: m[2], name: m[3], files: m[4] }));
    expect(jobs).toHaveLength(8);
    expect(jobs.every((job) => job.status === 'succeeded')).toBe(true);
    expect(new Set(jobs.map((job) => job.what))).toEqual(new Set(['klangio/transcription', 'klangio/chord-recognition', 'klangio/beat-tracking', 'cambai/transcription']));
    expect(jobs.find((job) => job.name === 'take 3 score')?.files).toBe('score.musicxml, performance.mid');
    expect(jobs.find((job) => job.name === 'take 2 speech')?.files).toContain('transcript.json');
    expect(out).toMatch(/^by status: succeeded 8$/m);
  });

  it('websocket-client.ts follows a job over the raw stream, then resumes and gets what it missed', async () => {
    const out = await runExample('websocket-client.ts');
    expect(out).toMatch(/^hello: epoch \S+, seq 0$/m);
    expect(out).toContain('snapshot: 0 jobs as of seq 0');
    const [before, after] = out.split(/^disconnected at seq \d+$/m);
    expect(before).toMatch(/^change seq \d+: first \w+ -> succeeded v\d+ \(via \w+\)$/m);
    const at = Number(/^disconnected at seq (\d+)$/m.exec(out)?.[1]);
    expect(out).toContain(`resumed from seq ${at}`);
    const seqs = [...out.matchAll(/^change seq (\d+):/gm)].map((m) => Number(m[1]));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length); // each change exactly once, across the reconnect
    expect(after).toMatch(/^change seq \d+: second new -> queued v1 \(via submit\) \(missed while away\)$/m);
    expect(after).toMatch(/^change seq \d+: second \w+ -> succeeded v\d+/m);
    expect([...(after ?? '').matchAll(/^change seq (\d+):/gm)].every((m) => Number(m[1]) > at)).toBe(true);
    expect(out).toContain('second job: succeeded');
  });

  it('separation-to-midi.ts starts the MIDI job only once the separation has succeeded', async () => {
    const out = await runExample('separation-to-midi.ts');
    const lines = out.split('\n');
    const waiting = lines.findIndex((line) => /^midi\s+v1 queued\s+provider says waiting/.test(line));
    const separated = lines.findIndex((line) => /^vocal-separation\s+v\d+ succeeded/.test(line));
    const started = lines.findIndex((line) => /^midi\s+v\d+ \w+\s+provider says (?!waiting)/.test(line));
    expect(waiting).toBeGreaterThanOrEqual(0);
    expect(separated).toBeGreaterThan(waiting);
    expect(started).toBeGreaterThan(separated);
    expect(out).toMatch(/^midi\s+v\d+ succeeded\s+provider says \S+ \(via webhook\)$/m); // the callback reached the server
    expect(out).toMatch(/^separation: succeeded, task \w+, stems .*vocal/m);
    expect(out).toContain('midi: succeeded, made from that task');
    const instruments = [...out.matchAll(/^ {2}(.+): (\d+) notes$/gm)];
    expect(instruments.length).toBeGreaterThan(0);
    expect(instruments.some((m) => Number(m[2]) > 0)).toBe(true);
  });

  it('adopt-external-job.ts adopts a Music.AI job created outside jobstream, once', async () => {
    const out = await runExample('adopt-external-job.ts');
    expect(out).toMatch(/^created at Music\.AI: [0-9a-f-]{36}$/m);
    expect(out).toMatch(/^tracking as job_\w+ \(\w+\)$/m);
    expect(out).toContain('tracking again: the same job');
    expect(out).toContain('finished: succeeded (provider says SUCCEEDED)');
    expect(out).toContain('files: vocals.wav, drums.wav, bass.wav, other.wav');
  });

  it("scoped-token-page.ts serves the page and follows user 42's job over Server-Sent Events with a scoped token, refused everything else", async () => {
    const out = await runExample('scoped-token-page.ts');
    expect(out).toMatch(/^page: http:\/\/127\.0\.0\.1:\d+\/$/m);
    expect(out).toContain('stream: 200 text/event-stream; charset=utf-8');
    expect(out).toMatch(/^snapshot: v\d+ \w+ \(id \S+:\d+\)$/m);
    const versions = [...out.matchAll(/^(?:snapshot|change): v(\d+) (\w+)/gm)].map((m) => ({ version: Number(m[1]), status: m[2] }));
    expect(versions.map((v) => v.version)).toEqual(versions.map((v, i) => versions[0]!.version + i)); // each version once, in order
    expect(versions.at(-1)?.status).toBe('succeeded');
    const ids = [...out.matchAll(/\(id \S+:(\d+)\)$/gm)].map((m) => Number(m[1]));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(out).toMatch(/^end: settled$/m);
    expect(out).toContain("another user's job: 404 UNKNOWN_JOB");
    expect(out).toContain('submit with the scoped token: 403 SCOPE_FORBIDDEN');
    expect(out).toContain('jobs it can list: 1 (the one shown)');
  });

  it('remote-client.ts connects, uploads a job, follows it to the end, lists it and closes', async () => {
    const out = await runExample('remote-client.ts');
    const states = [...out.matchAll(/^connection: (\w+)$/gm)].map((m) => m[1]);
    expect(states[0]).toBe('connecting');
    expect(states).toContain('open');
    expect(states.at(-1)).toBe('closed');
    const id = /^submitted (job_\w+)$/m.exec(out)?.[1];
    expect(id).toBeDefined();
    const versions = [...out.matchAll(/^v(\d+) (\w+)/gm)].map((m) => ({ version: Number(m[1]), status: m[2] }));
    expect(versions.map((v) => v.version)).toEqual([...versions.map((v) => v.version)].sort((a, b) => a - b));
    expect(versions.at(-1)?.status).toBe('succeeded');
    expect(out).toContain('finished: succeeded, files score.musicxml, performance.mid');
    expect(out).toContain(`listed: ${id} klangio/transcription riff succeeded`);
  });

  it('webhook-receiver.ts verifies every signed delivery of a job with standardwebhooks, in version order', async () => {
    const out = await runExample('webhook-receiver.ts');
    expect(out).toMatch(/^registered whe_\w+ -> http:\/\/127\.0\.0\.1:\d+\/hooks\/jobstream \(secret whsec_/m);
    const job = /^submitted (job_\w+)$/m.exec(out)?.[1];
    const events = [...out.matchAll(/^verified (job_\w+)\.v(\d+): \w+ -> (\w+) \(seq \d+\)$/gm)].map((m) => ({ job: m[1], version: Number(m[2]), status: m[3] }));
    expect(events.length).toBeGreaterThan(1);
    expect(events.every((e) => e.job === job)).toBe(true);
    expect(events.map((e) => e.version)).toEqual([...new Set(events.map((e) => e.version))].sort((a, b) => a - b));
    expect(events.at(-1)?.status).toBe('succeeded');
    expect(out).toContain('the job succeeded: every event verified');
  });
});
