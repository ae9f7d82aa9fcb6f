/**
 * Child process for the directory-lock tests: takes the lock on the directory given as argv[2]
 * and prints `LOCKED <pid>`, or `REFUSED <code>` when it cannot; a holder then stays alive
 * until it is killed.
 */
import { lockDirectory } from '../../src/streams/dir-lock.js';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: dir-lock-child <dir>');

try {
  await lockDirectory(dir);
  process.stdout.write(`LOCKED ${process.pid}\n`);
  setInterval(() => undefined, 1 << 30);
} catch (error) {
  process.stdout.write(`REFUSED ${(error as { code?: string }).code ?? String(error)}\n`);
}
