import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROVIDER_NAMES, PROVIDERS } from '../../src/providers/provider-catalog.js';
import { ConfigError, loadServerConfig, SERVER_SETTINGS } from '../../src/server/server-config.js';

describe('loadServerConfig', () => {
  it('applies defaults and generates a token when none is set', () => {
    const config = loadServerConfig({});
    expect(config).toMatchObject({ host: '127.0.0.1', port: 8080, dataDir: './data', publicUrl: undefined, tokenGenerated: true, providers: [] });
    expect(config.token.length).toBeGreaterThanOrEqual(16);
    expect(loadServerConfig({}).token).not.toBe(config.token);
  });

  it('prefers flags over the environment and reads providers from <PROVIDER>_API_KEY / _BASE_URL', () => {
    const config = loadServerConfig(
      { JOBSTREAM_PORT: '9000', JOBSTREAM_TOKEN: 'a-token-of-sixteen+', KLANGIO_API_KEY: 'k', MUSICAI_API_KEY: 'm', MUSICAI_BASE_URL: 'http://127.0.0.1:4100/v1/', MUSICAI_POLL_INTERVAL_MS: '250' },
      { port: '9100', data: '/tmp/x' },
    );
    expect(config).toMatchObject({ port: 9100, dataDir: '/tmp/x', token: 'a-token-of-sixteen+', tokenGenerated: false });
    expect(config.providers).toEqual([
      { name: 'klangio', apiKey: 'k', baseUrl: 'https://api.klang.io' },
      { name: 'musicai', apiKey: 'm', baseUrl: 'http://127.0.0.1:4100/v1', pollIntervalMs: 250 },
    ]);
  });

  it('reports every bad value at once', () => {
    let error: unknown;
    try {
      loadServerConfig({
        JOBSTREAM_PORT: '70000',
        JOBSTREAM_TOKEN: 'short',
        JOBSTREAM_PUBLIC_URL: 'not a url',
        JOBSTREAM_WS_HEARTBEAT_MS: '1.5',
        SUNOAPI_BASE_URL: 'http://127.0.0.1:1',
        JOBSTREAM_WS_LAG_BYTES: '9000000',
        CAMBAI_API_KEY: 'c',
        CAMBAI_POLL_INTERVAL_MS: '5',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'JOBSTREAM_TOKEN must be at least 16 characters (or unset it to have one generated)',
      'SUNOAPI_BASE_URL is set but SUNOAPI_API_KEY is not',
      'CAMBAI_POLL_INTERVAL_MS must be a whole number of milliseconds from 100, got "5"',
      'JOBSTREAM_PORT must be a whole number from 0 to 65535, got "70000"',
      'JOBSTREAM_PUBLIC_URL must be an http(s) URL, got "not a url"',
      'JOBSTREAM_WS_HEARTBEAT_MS must be a whole number from 100, got "1.5"',
      'JOBSTREAM_WS_DROP_BYTES must be larger than JOBSTREAM_WS_LAG_BYTES',
    ]);
  });

  it('reads JOBSTREAM_LOG_LEVEL and JOBSTREAM_LOG_FORMAT in any case; by default info, and the format left to the terminal check', () => {
    expect(loadServerConfig({}).log).toEqual({ level: 'info', format: undefined });
    expect(loadServerConfig({ JOBSTREAM_LOG_LEVEL: 'DEBUG', JOBSTREAM_LOG_FORMAT: 'Pretty' }).log).toEqual({ level: 'debug', format: 'pretty' });
    expect(loadServerConfig({ JOBSTREAM_LOG_LEVEL: 'silent', JOBSTREAM_LOG_FORMAT: 'json' }).log).toEqual({ level: 'silent', format: 'json' });
  });

  it('refuses an unknown log level or format (JOBSTREAM_LOG_LEVEL=verbose), naming the choices', () => {
    let error: unknown;
    try {
      loadServerConfig({ JOBSTREAM_LOG_LEVEL: 'verbose', JOBSTREAM_LOG_FORMAT: 'xml' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'JOBSTREAM_LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent, got "verbose"',
      'JOBSTREAM_LOG_FORMAT must be one of json, pretty, got "xml"',
    ]);
  });

  it('reads the cluster settings: --redis over JOBSTREAM_REDIS_URL, a redis:// URL only (never echoed), the poll lease and the results directory', () => {
    const config = loadServerConfig({ JOBSTREAM_REDIS_URL: 'redis://10.0.0.5:6379/2', JOBSTREAM_POLL_LEASE_MS: '5000', JOBSTREAM_RESULTS_DIR: '/shared/results' }, { redis: 'redis://127.0.0.1:6380' });
    expect(config).toMatchObject({ redisUrl: 'redis://127.0.0.1:6380', pollLeaseMs: 5000, resultsDir: '/shared/results' });
    expect(loadServerConfig({})).toMatchObject({ redisUrl: undefined, pollLeaseMs: 60_000, resultsDir: undefined });
    let error: unknown;
    try {
      loadServerConfig({ JOBSTREAM_REDIS_URL: 'http://:hunter2@cache:6379', JOBSTREAM_POLL_LEASE_MS: '10' });
    } catch (caught) {
      error = caught;
    }
    expect(String((error as Error).message)).toMatch(/JOBSTREAM_REDIS_URL must be a redis:\/\//);
    expect(String((error as Error).message)).toMatch(/JOBSTREAM_POLL_LEASE_MS must be a whole number from 1000/);
    expect(String((error as Error).message)).not.toContain('hunter2');
  });

  it('is documented: the README names every setting and every provider variable', async () => {
    const readme = await readFile(join(import.meta.dirname, '../../README.md'), 'utf8');
    for (const setting of Object.values(SERVER_SETTINGS)) expect(readme).toContain(`\`${setting.env}\``);
    for (const name of PROVIDER_NAMES) expect(readme).toContain(`\`${PROVIDERS[name].envPrefix}_API_KEY\``);
  });
});
