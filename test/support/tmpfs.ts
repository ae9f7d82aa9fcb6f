import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A mounted tmpfs of a fixed size: a real file system that runs out of space on demand. */
export interface Tmpfs {
  readonly dir: string;
  /** Unmounts and removes the mount point. Idempotent. */
  remove(): Promise<void>;
}

/**
 * Mounts a tmpfs of `size` (e.g. `'256k'`) on a new temporary directory, or returns `undefined`
 * where that is impossible (not root): the caller skips its test then. Under `CI=true` a failed
 * mount throws instead, so CI never skips a full-disk test silently.
 */
export async function mountTmpfs(size: string): Promise<Tmpfs | undefined> {
  const dir = await mkdtemp(join(tmpdir(), 'jobstream-tmpfs-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir]);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    if (process.env.CI === 'true') throw new Error(`a full-disk test needs to mount a tmpfs (run it as root): ${String(error)}`);
    return undefined;
  }
  let removed: Promise<void> | undefined;
  return {
    dir,
    remove() {
      removed ??= (async () => {
        await run('umount', [dir]);
        await rm(dir, { recursive: true, force: true });
      })();
      return removed;
    },
  };
}
