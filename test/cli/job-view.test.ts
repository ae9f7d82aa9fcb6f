import { describe, expect, it } from 'vitest';
import { byteSize, duration, jobLine, jobTable } from '../../src/cli/job-view.js';
import { columnsOf, fitColumns, printable } from '../../src/cli/terminal-text.js';
import { createSnapshot } from '../../src/streams/job-reducer.js';
import type { JobSnapshot } from '../../src/streams/job-snapshot.js';

const job = (patch: Partial<JobSnapshot> = {}): JobSnapshot => ({
  ...createSnapshot({
    id: 'job_01m96n7g9vxjb8dcngzjg5176k',
    provider: 'musicai',
    kind: 'workflow',
    externalId: null,
    name: 'four stems #1',
    metadata: {},
    options: {},
    createdAt: 0,
  }),
  ...patch,
});

describe('jobTable', () => {
  it('lists every column when no width is given', () => {
    const [header, row] = jobTable([job({ status: 'failed', error: { code: 'BAD_INPUT', message: 'corrupt' } })], { now: 5000, colour: false });
    expect(header).toMatch(/^ID +PROVIDER\/KIND +NAME +STATUS +PROGRESS +AGE +VIA +ERROR$/);
    expect(row).toMatch(/^job_01m96n7g9vxjb8dcngzjg5176k +musicai\/workflow +four stems #1 +failed +5s +submit +BAD_INPUT: corrupt$/);
  });

  it('gives way in a narrow terminal: source and age go, the name narrows, provider/kind goes, and no line is wider', () => {
    const rows = [job({ name: 'a name far too long for any narrow terminal at all' }), job({ id: 'job_01m96n7g9vxjb8dcngzjg5176m', status: 'running', progress: 0.4 })];
    for (const width of [120, 79, 59, 39]) {
      const table = jobTable(rows, { now: 0, colour: true, width });
      expect(Math.max(...table.map(columnsOf)), `width ${width}`).toBeLessThanOrEqual(width);
    }
    expect(jobTable(rows, { now: 0, colour: false, width: 79 })[0]).toMatch(/^ID +NAME +STATUS +PROGRESS$/);
    expect(jobTable(rows, { now: 0, colour: false, width: 79 })[1]).toMatch(/^job_01m96n7g9vxjb8dcngzjg5176m {2}four stems … +running +\[####------\] {2}40%$/);
  });

  it('prints names and errors from the server without their control characters', () => {
    const hostile = job({ name: 'evil\x1b[2J\x1b]0;pwned\x07name', status: 'failed', error: { code: 'X', message: 'line one\nline two\u202e' } });
    const text = [...jobTable([hostile], { now: 0, colour: false }), jobLine(hostile)].join('\n');
    for (const control of ['\x1b', '\x07', '\u202e']) expect(text).not.toContain(control);
    expect(text).toContain('evil�[2J�]0;pwned�name');
    expect(text).toContain('line one line two�');
  });
});

describe('jobLine', () => {
  it('says in one line when, which job, what it is and where it stands', () => {
    expect(jobLine(job({ status: 'running', progress: 0.4, source: 'webhook', updatedAt: Date.UTC(2026, 0, 1, 12, 4, 31) }))).toBe(
      '12:04:31  job_01m96n7g9vxjb8dcngzjg5176k  musicai/workflow  four stems #1  running  40%  via webhook',
    );
  });
});

describe('terminal text', () => {
  it('measures and cuts by terminal columns', () => {
    expect(fitColumns('transcription', 6)).toBe('trans…');
    expect(fitColumns('日本語', 4)).toBe('日…');
    expect(columnsOf('\x1b[31m日本\x1b[0m')).toBe(4);
    expect(printable('a\tb\r\nc')).toBe('a b c');
  });
});

describe('duration and byteSize', () => {
  it.each([
    [0, '0ms'],
    [850, '850ms'],
    [12_340, '12.3s'],
    [245_000, '4m 05s'],
    [7_380_000, '2h 03m'],
    [273_600_000, '3d 04h'],
    [-5, '0ms'],
  ])('duration(%d) is %s', (ms, text) => {
    expect(duration(ms)).toBe(text);
  });

  it.each([
    [0, '0 B'],
    [999, '999 B'],
    [12_345, '12.3 kB'],
    [4_000_000, '4.0 MB'],
    [2_500_000_000, '2.5 GB'],
  ])('byteSize(%d) is %s', (bytes, text) => {
    expect(byteSize(bytes)).toBe(text);
  });
});
