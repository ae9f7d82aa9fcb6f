import { describe, expect, it } from 'vitest';
import { DEFAULT_STATE, rangeBounds, readState, writeState } from '../../src/dashboard/url-state.js';

describe('the dashboard state in the address bar', () => {
  it('reads what a link holds and writes it back the same', () => {
    const search = '?view=charts&q=riff&status=failed&status=canceled&provider=klangio&kind=transcription&sort=updatedAt&order=asc&range=24h&span=7d&size=10&job=job_1';
    const state = readState(search);
    expect(state).toEqual({
      view: 'charts',
      q: 'riff',
      statuses: ['failed', 'canceled'],
      providers: ['klangio'],
      kinds: ['transcription'],
      sort: 'updatedAt',
      order: 'asc',
      range: '24h',
      from: undefined,
      to: undefined,
      job: 'job_1',
      span: '7d',
      size: 10,
    });
    expect(writeState(state)).toBe(search);
  });

  it('leaves defaults out, and an empty query is the default state', () => {
    expect(writeState(DEFAULT_STATE)).toBe('');
    expect(readState('')).toEqual(DEFAULT_STATE);
  });

  it('falls back to the default for anything unknown or malformed', () => {
    expect(readState('?view=admin&status=exploded&sort=name&order=sideways&range=1y&span=9y&size=7&from=yesterday')).toEqual(DEFAULT_STATE);
  });

  it('takes custom bounds as epoch ms or ISO 8601, and turns a preset into a lower bound', () => {
    const state = readState('?from=2026-01-02T03:04:05.000Z&to=1767323045000');
    expect(state).toMatchObject({ range: 'custom', from: Date.parse('2026-01-02T03:04:05.000Z'), to: 1_767_323_045_000 });
    expect(writeState(state)).toBe('?range=custom&from=2026-01-02T03%3A04%3A05.000Z&to=2026-01-02T03%3A04%3A05.000Z');
    expect(rangeBounds(state, 0)).toEqual({ from: state.from, to: state.to });
    expect(rangeBounds({ ...DEFAULT_STATE, range: '1h' }, 10_000_000)).toEqual({ from: 10_000_000 - 3_600_000 });
    expect(rangeBounds(DEFAULT_STATE, 10_000_000)).toEqual({});
  });
});
