import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

/**
 * The source files a bundle of `entries` pulls in, as paths relative to the repository root
 * (`src/streams/engine.ts`). npm packages and Node built-ins stay outside: only our own modules
 * are listed, static and dynamic imports alike.
 */
async function modulesLoadedBy(entries: string[]): Promise<string[]> {
  const result = await build({
    entryPoints: entries.map((entry) => join(root, entry)),
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    metafile: true,
    write: false,
    outdir: join(root, '.tmp', 'architecture'),
    logLevel: 'silent',
  });
  return Object.keys(result.metafile.inputs).sort();
}

describe('architecture (docs/architecture.md)', () => {
  it('the root import loads no simulator module', async () => {
    const loaded = await modulesLoadedBy(['src/index.ts']);
    expect(loaded).toContain('src/streams/engine.ts');
    expect(loaded.filter((path) => path.startsWith('src/simulators/') || /simulator/i.test(path))).toEqual([]);
  });

  it('the root import loads no cluster module (the Redis client comes with jobstream/cluster only)', async () => {
    const loaded = await modulesLoadedBy(['src/index.ts']);
    expect(loaded.filter((path) => path.startsWith('src/cluster/'))).toEqual([]);
    const cluster = await modulesLoadedBy(['src/cluster/index.ts']);
    expect(cluster.filter((path) => !path.startsWith('src/cluster/') && !path.startsWith('src/streams/'))).toEqual([]);
  });

  it('src/streams imports nothing from outside src/streams', async () => {
    const entries = (await readdir(join(root, 'src', 'streams'), { recursive: true }))
      .filter((file) => file.endsWith('.ts'))
      .map((file) => `src/streams/${file}`);
    expect(entries.length).toBeGreaterThan(10);
    const loaded = await modulesLoadedBy(entries);
    expect(loaded.filter((path) => !path.startsWith('src/streams/'))).toEqual([]);
  });
});
