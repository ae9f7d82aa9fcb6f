import { describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../src/streams/errors.js';
import { GroupCommit } from '../../src/streams/group-commit.js';

const enospc = (): Error => Object.assign(new Error("ENOSPC: no space left on device, open '/srv/data/journal-00000001.jsonl'"), { code: 'ENOSPC' });

/** A committer over a "disk" the test can break and repair; records what it wrote and published. */
function committer() {
  const disk = { broken: false, attempts: 0 };
  const written: string[][] = [];
  const published: string[][] = [];
  const errors: number[] = [];
  let onRecovered: (recovery: { attempts: number; downMs: number }) => void = () => undefined;
  const recovered = new Promise<{ attempts: number; downMs: number }>((resolve) => (onRecovered = resolve));
  const commit = new GroupCommit<string>({
    write: (batch) => {
      disk.attempts += 1;
      if (disk.broken) return Promise.reject(enospc());
      written.push([...batch]);
      return Promise.resolve();
    },
    onDurable: (batch) => published.push([...batch]),
    onError: (_error, attempt) => errors.push(attempt),
    onRecovered: (recovery) => onRecovered(recovery),
    retry: { initialMs: 1, maxMs: 10 },
  });
  return { commit, disk, written, published, errors, recovered };
}

describe('GroupCommit', () => {
  it('full disk: rejects the waiters of a failing batch after its first failed attempt instead of leaving them hanging', async () => {
    const { commit, disk, published, errors } = committer();
    disk.broken = true;
    const answer = commit.enqueue('a');
    await expect(answer).rejects.toBeInstanceOf(StoreUnavailableError);
    // One attempt was enough to answer; nothing was published.
    expect(errors[0]).toBe(1);
    expect(published).toEqual([]);
    // The reason is safe to show: code and description, not the path from the message.
    const error = (await answer.catch((e: unknown) => e)) as StoreUnavailableError;
    expect(error.reason).toBe('ENOSPC: no space left on device');
    expect(error.message).not.toContain('/srv/data');
    expect(commit.failure).toMatchObject({ reason: 'ENOSPC: no space left on device' });
    disk.broken = false;
    await commit.close();
  });

  it('full disk: refuses new items at once while failing, keeps them queued, and publishes everything once, in order, after recovery', async () => {
    const { commit, disk, written, published, recovered } = committer();
    await commit.enqueue('before');
    disk.broken = true;
    await expect(commit.enqueue('a')).rejects.toBeInstanceOf(StoreUnavailableError);
    const attemptsBefore = disk.attempts;
    // Refused without waiting for another write attempt.
    const refused = commit.enqueue('b');
    await expect(refused).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(commit.enqueue('c')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect(disk.attempts).toBeLessThanOrEqual(attemptsBefore + 1);
    expect(published).toEqual([['before']]);

    disk.broken = false;
    const recovery = await recovered;
    await commit.flush();
    expect(recovery.attempts).toBeGreaterThanOrEqual(1);
    expect(commit.failure).toBeUndefined();
    // The failed batch first, then what was queued while failing: each item once, in order.
    expect(published.flat()).toEqual(['before', 'a', 'b', 'c']);
    expect(written.flat()).toEqual(['before', 'a', 'b', 'c']);
    expect(published).toEqual(written);

    // Healthy again: an enqueue waits for its write and resolves.
    await commit.enqueue('d');
    expect(published.at(-1)).toEqual(['d']);
    await commit.close();
  });

  it('full disk: close abandons the retries and rejects what was never written', async () => {
    const { commit, disk, published } = committer();
    disk.broken = true;
    await expect(commit.enqueue('a')).rejects.toBeInstanceOf(StoreUnavailableError);
    await commit.close();
    expect(published).toEqual([]);
    await expect(commit.enqueue('b')).rejects.toMatchObject({ code: 'ENGINE_CLOSED' });
  });
});
