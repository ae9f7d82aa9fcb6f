import { readdir, stat } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Counts the bytes written into a directory from file sizes: every file (by inode and birth time, so a temp
 * file renamed into place and a journal deleted after compaction are each counted once) adds
 * its largest size seen minus its size when counting started. The directory is scanned every
 * `everyMs`; append-only and write-once files make that exact as long as a file lives longer
 * than one scan (a compaction's snapshot and journals do; see `wchar` for a cross-check).
 */
export class DiskBytes {
  readonly #dir: string;
  readonly #initial = new Map<string, number>();
  readonly #largest = new Map<string, { name: string; size: number }>();
  #timer: NodeJS.Timeout | undefined;
  #scanning: Promise<void> | undefined;

  private constructor(dir: string) {
    this.#dir = dir;
  }

  static async start(dir: string, everyMs = 20): Promise<DiskBytes> {
    const counter = new DiskBytes(dir);
    for (const [ino, { size }] of await counter.#list()) counter.#initial.set(ino, size);
    counter.#timer = setInterval(() => {
      counter.#scanning ??= counter.#scan().finally(() => (counter.#scanning = undefined));
    }, everyMs);
    return counter;
  }

  /** Stops scanning (after a last scan) and returns the bytes written, by file name. */
  async stop(): Promise<{ total: number; byFile: Record<string, number> }> {
    clearInterval(this.#timer);
    await this.#scanning;
    await this.#scan();
    const byFile: Record<string, number> = {};
    let total = 0;
    for (const [ino, { name, size }] of this.#largest) {
      const written = size - (this.#initial.get(ino) ?? 0);
      if (written <= 0) continue;
      const key = name.replace(/\.\d+\.tmp$/, '.tmp');
      byFile[key] = (byFile[key] ?? 0) + written;
      total += written;
    }
    return { total, byFile };
  }

  async #scan(): Promise<void> {
    for (const [ino, entry] of await this.#list()) {
      const known = this.#largest.get(ino);
      if (known === undefined || entry.size >= known.size) this.#largest.set(ino, entry);
    }
  }

  async #list(): Promise<Map<string, { name: string; size: number }>> {
    const out = new Map<string, { name: string; size: number }>();
    for (const name of await readdir(this.#dir)) {
      try {
        const s = await stat(join(this.#dir, name));
        // An inode number can be reused once a file is deleted; its birth time tells the files apart.
        if (s.isFile()) out.set(`${s.ino}:${s.birthtimeMs}`, { name, size: s.size });
      } catch {
        // deleted between readdir and stat
      }
    }
    return out;
  }
}

/** Bytes this process has passed to write(2) and friends, from /proc/self/io (0 where missing). */
export function writtenChars(): number {
  try {
    return Number(/^wchar:\s*(\d+)/m.exec(readFileSync('/proc/self/io', 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}
