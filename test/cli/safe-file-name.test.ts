import { describe, expect, it } from 'vitest';
import { join, relative } from 'node:path';
import { safeFileName, uniqueFileNames } from '../../src/cli/safe-file-name.js';

describe('safeFileName', () => {
  it.each([
    ['vocals.wav', 'vocals.wav'],
    ['../x', '__x'],
    ['../../etc/passwd', '__.._etc_passwd'],
    ['..', '_'],
    ['.', '_'],
    ['', '_'],
    ['.hidden', '_hidden'],
    ['a/b\\c.txt', 'a_b_c.txt'],
    ['C:\\Windows\\evil.dll', 'C__Windows_evil.dll'],
    ['bell\x07\u202eevil.txt', 'bell__evil.txt'],
    ['line\nbreak', 'line_break'],
    ['trailing. . ', 'trailing'],
    ['NUL', '_NUL'],
    ['con.txt', '_con.txt'],
    ['what?*<>|".mid', 'what______.mid'],
    ['Grüße.mid', 'Grüße.mid'],
  ])('%j becomes %j', (name, safe) => {
    expect(safeFileName(name)).toBe(safe);
  });

  it('keeps every name inside the directory it is joined to', () => {
    const dir = '/tmp/out';
    for (const name of ['../x', '..', '../../..', '/abs/path', 'a/../../b', '\\..\\..\\x', '.\u0000./x', '%2e%2e/x']) {
      const path = join(dir, safeFileName(name));
      expect(relative(dir, path), name).not.toMatch(/^\.\.|\//);
      expect(relative(dir, path), name).not.toBe('');
    }
  });

  it('cuts a long name to 200 characters, keeping its extension', () => {
    const safe = safeFileName(`${'x'.repeat(500)}.musicxml`);
    expect(safe).toHaveLength(200);
    expect(safe.endsWith('x.musicxml')).toBe(true);
  });
});

describe('uniqueFileNames', () => {
  it('makes names that collide once made safe (or differ only in case) unique, in order', () => {
    expect(uniqueFileNames(['a/b.txt', 'a\\b.txt', 'A_B.TXT', 'c'])).toEqual(['a_b.txt', 'a_b-2.txt', 'A_B-3.TXT', 'c']);
  });
});
