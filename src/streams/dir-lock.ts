import { constants } from 'node:fs';
import { chmod, mkdir, open, stat, type FileHandle } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { StoreLockedError } from './errors.js';

/** A held lock on a data directory. */
export interface DirLock {
  /** The lock file, `<dir>/LOCK`. */
  readonly file: string;
  /** Gives the directory up. Idempotent. */
  release(): Promise<void>;
}

/** Who holds a lock: written into the lock file for people, never used to decide. */
interface LockOwner {
  pid: number;
  host: string;
  since: string;
}

/** Mode of the data directory: it holds webhook secrets. */
const PRIVATE_DIR_MODE = 0o700;
/** Mode of every file jobstream writes into the data directory. */
const PRIVATE_FILE_MODE = 0o600;

/** The part of fs-ext used here (a native addon, loaded on first use). */
interface Flock {
  flockSync: (fd: number, flags: 'exnb') => void;
}
let flock: Flock | undefined;

/**
 * The lock files this process holds, by `dev:ino`, with the holder's description. The kernel
 * already refuses a second `flock` through another open file description of the same file; this
 * map makes the refusal hold where `flock` is emulated with per-process `fcntl` locks (Linux NFS
 * clients), which would grant it, and where merely opening and closing the file again would drop
 * the lock. A directory this process holds is therefore refused before its file is opened again.
 */
const held = new Map<string, string>();
/** Lock attempts in this process run one at a time (see {@link held}). */
let queue: Promise<unknown> = Promise.resolve();

/**
 * Makes `dir` this process's own, or refuses with {@link StoreLockedError} while another
 * process, or another lock in this process, holds it.
 *
 * The decision is an exclusive, non-blocking `flock` on `<dir>/LOCK` (through the `fs-ext`
 * addon). The kernel drops it when the holder's file is closed or the holder dies in any way
 * (`kill -9`, OOM kill, a container stopped), so a dead holder never blocks a restart, whatever
 * its pid or host name were (a container restarted as PID 1, a new pod on the same volume).
 * Pid, host and start time are written into the file while it is held, only so the refusal can
 * name the holder. The file is never deleted (deleting it would let a process that opened it just
 * before lock an orphan while a newcomer locks a new file); after locking, the name is checked to
 * still be the file that was locked.
 *
 * Also prepares the directory (see {@link preparePrivateDirectory}). The lock file is `0600`.
 *
 * @example
 * const lock = await lockDirectory('./data'); // throws StoreLockedError while another process runs
 * try { ... } finally { await lock.release(); }
 */
export function lockDirectory(dir: string): Promise<DirLock> {
  const attempt = queue.then(() => takeLock(dir));
  queue = attempt.catch(() => undefined);
  return attempt;
}

async function takeLock(dir: string): Promise<DirLock> {
  await preparePrivateDirectory(dir);
  const file = join(dir, 'LOCK');
  const { flockSync } = loadFlock();
  for (let attempt = 0; attempt < 5; attempt++) {
    const before = await stat(file).catch(ignoreMissing);
    const ours = before === undefined ? undefined : held.get(keyOf(before));
    if (ours !== undefined) throw new StoreLockedError(dir, ours);
    // O_NOFOLLOW: a LOCK symlinked elsewhere must not get that file truncated.
    const handle = await open(file, constants.O_RDWR | constants.O_CREAT | (constants.O_NOFOLLOW ?? 0), PRIVATE_FILE_MODE);
    let key: string | undefined;
    try {
      const locked = await handle.stat();
      if (!tryLock(flockSync, handle.fd, dir)) throw new StoreLockedError(dir, await describeHolder(handle));
      key = keyOf(locked);
      const named = await stat(file).catch(ignoreMissing);
      if (named === undefined || keyOf(named) !== key) {
        // The name was deleted or replaced after we opened it: this lock guards nothing. Again.
        await handle.close();
        continue;
      }
      if ((locked.mode & 0o777) !== PRIVATE_FILE_MODE) await handle.chmod(PRIVATE_FILE_MODE);
      const owner: LockOwner = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
      await handle.truncate(0);
      await handle.write(`${JSON.stringify(owner)}\n`, 0);
      held.set(key, describe(owner));
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
    return heldLock(file, handle, key);
  }
  throw new StoreLockedError(dir, 'its LOCK file keeps being deleted or replaced by something else');
}

/**
 * Creates `dir` (and missing parents) with mode `0700`, or narrows an existing `dir` to `0700`
 * when group or others have any access to it. An `EPERM` from narrowing (the directory belongs
 * to another user) leaves it as it is: the files inside are `0600` either way.
 */
async function preparePrivateDirectory(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const { mode } = await stat(dir);
  if ((mode & 0o077) === 0) return;
  try {
    await chmod(dir, PRIVATE_DIR_MODE);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') throw error;
  }
}

function heldLock(file: string, handle: FileHandle, key: string): DirLock {
  let released: Promise<void> | undefined;
  return {
    file,
    release() {
      released ??= (async () => {
        try {
          // Emptied so that a refused process racing the close reads "no holder", not us.
          await handle.truncate(0).catch(() => undefined);
        } finally {
          // Closing the last descriptor drops the flock.
          await handle.close();
          held.delete(key);
        }
      })();
      return released;
    },
  };
}

/** `true` when the exclusive lock was taken, `false` when another holds it. */
function tryLock(flockSync: Flock['flockSync'], fd: number, dir: string): boolean {
  try {
    flockSync(fd, 'exnb');
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EAGAIN' || code === 'EWOULDBLOCK') return false;
    // ENOLCK, EOPNOTSUPP…: a file system without locks. Refuse to run unguarded.
    throw new Error(`could not lock data directory ${dir}: ${code ?? String(error)} (the file system must support flock)`, { cause: error });
  }
}

/** Names the holder from the lock file's content, which is informative only. */
async function describeHolder(handle: FileHandle): Promise<string> {
  try {
    const buffer = Buffer.alloc(4096);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const parsed = JSON.parse(buffer.subarray(0, bytesRead).toString('utf8')) as Partial<LockOwner>;
    if (typeof parsed.pid === 'number' && typeof parsed.host === 'string') {
      return describe({ pid: parsed.pid, host: parsed.host, since: String(parsed.since) });
    }
  } catch {
    // Empty or half-written: the holder is between taking the lock and naming itself.
  }
  return 'a process that has not named itself yet';
}

function loadFlock(): Flock {
  if (flock !== undefined) return flock;
  try {
    flock = createRequire(import.meta.url)('fs-ext') as Flock;
  } catch (error) {
    throw new Error('the file-lock addon fs-ext could not be loaded; reinstall dependencies so it is built (npm ci, or npm rebuild fs-ext)', { cause: error });
  }
  return flock;
}

function describe(owner: LockOwner): string {
  return `pid ${owner.pid} on ${owner.host} since ${owner.since}`;
}

function keyOf(stats: { dev: number; ino: number }): string {
  return `${stats.dev}:${stats.ino}`;
}

function ignoreMissing(error: unknown): undefined {
  if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  return undefined;
}
