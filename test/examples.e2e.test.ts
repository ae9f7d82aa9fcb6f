import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');

/** Runs an example the way the README says (`npx tsx examples/<file>`), bounded in time. */
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
});
