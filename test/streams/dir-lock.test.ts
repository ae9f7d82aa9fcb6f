import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockDirectory, type DirLock } from '../../src/streams/dir-lock.js';
import { StoreLockedError } from '../../src/streams/errors.js';

const CHILD = join(import.meta.dirname, '../support/dir-lock-child.ts');

let root: string;
let dir: string;
const locks: DirLock[] = [];
const children: { child: ChildProcess; exited: Promise<unknown> }[] = [];

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'jobstream-lock-'));
  dir = join(root, 'data');
});

afterEach(async () => {
  for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all(children.splice(0).map((c) => c.exited));
  await Promise.all(locks.splice(0).map((lock) => lock.release()));
  await rm(root, { recursive: true, force: true });
});

/** Runs test/support/dir-lock-child.ts on `dir`; `answer` is its first stdout line. */
function lockInChild(on: string): { child: ChildProcess; answer: Promise<string>; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, on], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  const answer = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    void exited.then((how) => reject(new Error(`lock child exited without answering (${JSON.stringify(how)}): ${stderr}`)));
  });
  children.push({ child, exited });
  return { child, answer, exited };
}

async function take(on = dir): Promise<DirLock> {
  const lock = await lockDirectory(on);
  locks.push(lock);
  return lock;
}

describe('lockDirectory: a lock the kernel releases with its holder', () => {
  it('takes the lock at once after its holder was killed with SIGKILL', async () => {
    const holder = lockInChild(dir);
    expect(await holder.answer).toBe(`LOCKED ${holder.child.pid}`);
    // What the dead holder leaves behind names it, pid and host: only the kernel lock is gone.
    expect(JSON.parse(await readFile(join(dir, 'LOCK'), 'utf8'))).toMatchObject({ pid: holder.child.pid, host: hostname() });
    holder.child.kill('SIGKILL');
    expect(await holder.exited).toEqual({ code: null, signal: 'SIGKILL' });
    await take();
    expect(JSON.parse(await readFile(join(dir, 'LOCK'), 'utf8'))).toMatchObject({ pid: process.pid, host: hostname() });
  });

  it('refuses while a live child process holds it, naming its pid and host', async () => {
    const holder = lockInChild(dir);
    expect(await holder.answer).toBe(`LOCKED ${holder.child.pid}`);
    const refused = await lockDirectory(dir).then(
      (lock) => void locks.push(lock),
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(StoreLockedError);
    expect(refused).toMatchObject({ code: 'STORE_LOCKED', message: expect.stringContaining(`pid ${holder.child.pid} on ${hostname()} since `) });
  });

  it('is refused to a child process while this process holds it', async () => {
    await take();
    expect(await lockInChild(dir).answer).toBe('REFUSED STORE_LOCKED');
  });

  it.each([
    ['this host: a container restarted as PID 1 sees its own pid alive', () => hostname()],
    ['another host: a new pod on the same volume', () => 'pod-gone-7f9c'],
  ])('takes over a lock file naming a live-looking PID 1 on %s, since no process holds the kernel lock', async (_case, host) => {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'LOCK'), JSON.stringify({ pid: 1, host: host(), since: '2026-01-01T00:00:00.000Z' }));
    await take();
    expect(JSON.parse(await readFile(join(dir, 'LOCK'), 'utf8'))).toMatchObject({ pid: process.pid, host: hostname() });
  });

  it('refuses a second lock on the same directory in this process, also when both are asked at once, and allows one after release', async () => {
    const first = await take();
    await expect(lockDirectory(dir)).rejects.toMatchObject({ code: 'STORE_LOCKED', message: expect.stringContaining(`pid ${process.pid}`) });
    // The refused attempt must not have dropped the first lock (closing a second descriptor
    // would, with fcntl-style locks): a child is still refused.
    expect(await lockInChild(dir).answer).toBe('REFUSED STORE_LOCKED');
    await first.release();
    await first.release();

    const both = await Promise.allSettled([lockDirectory(dir), lockDirectory(join(dir, '.'))]);
    for (const outcome of both) if (outcome.status === 'fulfilled') locks.push(outcome.value);
    expect(both.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(both.find((o) => o.status === 'rejected')).toMatchObject({ reason: { code: 'STORE_LOCKED' } });
  });

  it('creates the data directory 0700 with a 0600 LOCK, and narrows an existing 0755 directory to 0700', async () => {
    const umask = process.umask(0o022);
    try {
      const lock = await take();
      expect((await stat(dir)).mode & 0o777).toBe(0o700);
      expect((await stat(lock.file)).mode & 0o777).toBe(0o600);
      await lock.release();

      const open = join(root, 'open');
      await mkdir(open, { mode: 0o755 });
      await chmod(open, 0o755);
      await writeFile(join(open, 'LOCK'), '', { mode: 0o644 });
      const again = await take(open);
      expect((await stat(open)).mode & 0o777).toBe(0o700);
      expect((await stat(again.file)).mode & 0o777).toBe(0o600);
    } finally {
      process.umask(umask);
    }
  });
});
