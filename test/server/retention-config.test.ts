import { describe, expect, it } from 'vitest';
import { ConfigError, loadServerConfig } from '../../src/server/server-config.js';

const env = { JOBSTREAM_TOKEN: 'change-me-please-16' };

describe('the retention setting (JOBSTREAM_RETAIN_DAYS, serve --retain-days)', () => {
  it('keeps every job by default, takes a number of days from the environment, and the flag wins', () => {
    expect(loadServerConfig(env).retainDays).toBeUndefined();
    expect(loadServerConfig({ ...env, JOBSTREAM_RETAIN_DAYS: '30' }).retainDays).toBe(30);
    expect(loadServerConfig({ ...env, JOBSTREAM_RETAIN_DAYS: '30' }, { 'retain-days': '7' }).retainDays).toBe(7);
  });

  it('refuses a period that is not a whole number of days from 1', () => {
    for (const bad of ['0', '-1', 'abc', '1.5']) {
      expect(() => loadServerConfig({ ...env, JOBSTREAM_RETAIN_DAYS: bad })).toThrow(ConfigError);
    }
    expect(() => loadServerConfig(env, { 'retain-days': 'soon' })).toThrow(/--retain-days|JOBSTREAM_RETAIN_DAYS/);
  });
});
