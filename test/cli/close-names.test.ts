import { describe, expect, it } from 'vitest';
import { closestName, editDistance, misspeltEnv } from '../../src/cli/close-names.js';
import { serverEnvNames } from '../../src/server/server-config.js';

describe('closestName', () => {
  it.each([
    ['wacth', 'watch'],
    ['jbos', 'jobs'],
    ['sumbit', 'submit'],
    ['serv', 'serve'],
    ['frobnicate', undefined],
    ['list', undefined],
  ])('"%s" → %s', (typed, meant) => {
    expect(closestName(typed, ['demo', 'serve', 'simulate', 'submit', 'jobs', 'watch'])).toBe(meant);
  });

  it('counts a swap of neighbours as one edit', () => {
    expect(editDistance('wacth', 'watch')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });
});

describe('misspeltEnv', () => {
  const known = serverEnvNames();

  it('names each variable that looks like a misspelt setting, with the one it meant', () => {
    const env = {
      KLANGIO_APIKEY: 'k',
      MUSICAI_API_KYE: 'k',
      CAMB_AI_API_KEY: 'k',
      JOBSTREAM_LOGLEVEL: 'debug',
      JOBSTREAM_PORT: '8080',
      SUNOAPI_API_KEY: 'k',
      PATH: '/usr/bin',
      HOME: '/root',
      JOBSTREAM_URL: 'http://127.0.0.1:8080',
      NODE_OPTIONS: '',
    };
    expect(misspeltEnv(env, known)).toEqual([
      { name: 'CAMB_AI_API_KEY', meant: 'CAMBAI_API_KEY' },
      { name: 'JOBSTREAM_LOGLEVEL', meant: 'JOBSTREAM_LOG_LEVEL' },
      { name: 'KLANGIO_APIKEY', meant: 'KLANGIO_API_KEY' },
      { name: 'MUSICAI_API_KYE', meant: 'MUSICAI_API_KEY' },
    ]);
  });

  it('says nothing about a machine environment full of unrelated variables', () => {
    expect(misspeltEnv(process.env, known).filter(({ name }) => !/^(JOBSTREAM|KLANGIO|MUSICAI|SUNOAPI|CAMBAI)/.test(name))).toEqual([]);
  });
});
