import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { resolveSimulatorOptions } from '../../../src/simulators/kit/simulator.js';
import {
  readStateFile,
  SimulatorStateError,
  simulatorStateSchema,
  timelineSchema,
  writeStateFile,
} from '../../../src/simulators/kit/state-file.js';

const State = simulatorStateSchema('demo', { jobs: z.array(z.object({ id: z.string(), timeline: timelineSchema(z.enum(['A', 'B'])) })) });

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'state-file-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('state file', () => {
  it('reads nothing when the file does not exist, and reads back what it wrote', async () => {
    const file = join(dir, 'nested', 'demo.json');
    expect(await readStateFile(file, State)).toBeUndefined();
    const state = { format: 1 as const, provider: 'demo' as const, jobs: [{ id: 'j1', timeline: [{ status: 'A' as const, atMs: 1, progress: 0 }, { status: 'B' as const, atMs: 5 }] }] };
    await writeStateFile(file, state);
    expect(await readStateFile(file, State)).toEqual(state);
    await writeStateFile(file, { ...state, jobs: [] });
    expect(await readStateFile(file, State)).toEqual({ ...state, jobs: [] });
    expect(await readdir(join(dir, 'nested'))).toEqual(['demo.json']);
  });

  it('names the file and the first problem when it is damaged', async () => {
    const file = join(dir, 'demo.json');
    const problem = async (contents: string) => {
      await writeFile(file, contents);
      const error = await readStateFile(file, State).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SimulatorStateError);
      expect((error as SimulatorStateError).file).toBe(file);
      return (error as Error).message;
    };
    expect(await problem('')).toBe(`simulator state file ${file}: the file is empty`);
    expect(await problem('{"format":1,')).toMatch(/: not valid JSON \(/);
    expect(await problem('{"format":1,"provider":"other","jobs":[]}')).toMatch(/: not a valid state: provider: /);
    const late = '{"format":1,"provider":"demo","jobs":[{"id":"j","timeline":[{"status":"A","atMs":5},{"status":"B","atMs":1}]}]}';
    expect(await problem(late)).toMatch(/: not a valid state: jobs\[0\]\.timeline: timeline steps must be in time order$/);
    expect(await problem('{"format":1,"provider":"demo","jobs":[{"id":"j","timeline":[]}]}')).toMatch(/jobs\[0\]\.timeline: /);
  });

  it('names a file it cannot read', async () => {
    const file = join(dir, 'a-directory');
    await mkdir(file);
    await expect(readStateFile(file, State)).rejects.toThrow(`simulator state file ${file}: cannot be read`);
  });

  it('writes through a temporary file, leaving none behind', async () => {
    const file = join(dir, 'demo.json');
    await writeStateFile(file, { a: 1 });
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ a: 1 });
    expect(await readdir(dir)).toEqual(['demo.json']);
  });

  it('is an option every simulator takes; an empty path is refused', () => {
    expect(resolveSimulatorOptions({ stateFile: '/tmp/x.json' }).stateFile).toBe('/tmp/x.json');
    expect(resolveSimulatorOptions().stateFile).toBeUndefined();
    expect(() => resolveSimulatorOptions({ stateFile: ' ' })).toThrow(RangeError);
  });
});
