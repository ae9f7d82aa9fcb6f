import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { StoreLockedError } from './errors.js';

/** A held lock on a data directory. */
export interface DirLock {
  readonly file: string;
  /** Gives the directory up. Idempotent. */
  release(): Promise<void>;
}

interface LockOwner {
  pid: number;
  host: string;
  since: string;
}

/**
 * Makes `dir` this process's own: creates `<dir>/LOCK` holding our pid, or refuses with
 * {@link StoreLockedError} when a live process holds it. A lock left by a dead process on this
 * host (a crash, `kill -9`) is taken over.
 *
 * The lock file is written in full under a temporary name and hard-linked into place, so a
 * reader never sees a half-written lock; `link` fails when the name exists, which is the mutual
 * exclusion.
 */
export async function lockDirectory(dir: string): Promise<DirLock> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'LOCK');
  const owner: LockOwner = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  const temp = join(dir, `LOCK.${process.pid}.${Date.now()}.tmp`);
  await writeFile(temp, JSON.stringify(owner));
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await link(temp, file);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw lockError(dir, error);
        const holder = await readOwner(file);
        if (holder !== undefined && (holder.host !== owner.host || isAlive(holder.pid))) {
          throw new StoreLockedError(dir, `pid ${holder.pid} on ${holder.host} since ${holder.since}`);
        }
        await unlink(file).catch(ignoreMissing);
      }
    }
  } finally {
    await unlink(temp).catch(ignoreMissing);
  }
  let released = false;
  return {
    file,
    async release() {
      if (released) return;
      released = true;
      await unlink(file).catch(ignoreMissing);
    },
  };
}

function lockError(dir: string, error: unknown): Error {
  if (error instanceof StoreLockedError) return error;
  if ((error as NodeJS.ErrnoException).code === 'EEXIST') return new StoreLockedError(dir, 'another process took the lock at the same moment');
  return error as Error;
}

async function readOwner(file: string): Promise<LockOwner | undefined> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<LockOwner>;
    if (typeof parsed.pid === 'number' && typeof parsed.host === 'string') {
      return { pid: parsed.pid, host: parsed.host, since: String(parsed.since) };
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  }
  // Unreadable lock content cannot come from lockDirectory (it links complete files): stale.
  return undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function ignoreMissing(error: unknown): void {
  if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
}
