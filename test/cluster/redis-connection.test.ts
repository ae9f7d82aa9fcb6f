import { describe, expect, it } from 'vitest';
import { isRedisConnectionError, parseRedisUrl, RedisUrlError } from '../../src/cluster/redis-connection.js';
import { StoreCorruptError } from '../../src/streams/errors.js';

describe('parseRedisUrl', () => {
  it.each([
    ['redis://127.0.0.1:6380', { host: '127.0.0.1', port: 6380, db: 0, username: undefined, password: undefined, tls: false }],
    ['redis://localhost', { host: 'localhost', port: 6379, db: 0, username: undefined, password: undefined, tls: false }],
    ['redis://:s3cr%40t@127.0.0.1:6379/2', { host: '127.0.0.1', port: 6379, db: 2, username: undefined, password: 's3cr@t', tls: false }],
    ['redis://app:pw@[::1]:7000/15', { host: '::1', port: 7000, db: 15, username: 'app', password: 'pw', tls: false }],
    ['rediss://cache.internal/', { host: 'cache.internal', port: 6379, db: 0, username: undefined, password: undefined, tls: true }],
  ])('reads %s', (url, endpoint) => {
    expect(parseRedisUrl(url)).toEqual(endpoint);
  });

  it.each([
    ['not a url', 'not a URL'],
    ['http://127.0.0.1:6379', 'the scheme is http:'],
    ['redis://127.0.0.1:6379/zero', 'database number'],
    ['redis://127.0.0.1:6379/0?family=6', 'query parameters'],
    ['redis://:hunter2@127.0.0.1:6379/x', 'database number'],
  ])('refuses %s with a reason', (url, reason) => {
    let error: unknown;
    try {
      parseRedisUrl(url);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(RedisUrlError);
    expect(error).toMatchObject({ code: 'INVALID_REDIS_URL', message: expect.stringContaining(reason) });
    expect((error as Error).message).not.toContain('hunter2');
  });
});

describe('isRedisConnectionError', () => {
  it('tells a lost connection from an answer of Redis and from errors of our own', () => {
    expect(isRedisConnectionError(new Error('Connection is closed.'))).toBe(true);
    expect(isRedisConnectionError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }))).toBe(true);
    const reply = new Error('WRONGTYPE Operation against a key holding the wrong kind of value');
    reply.name = 'ReplyError';
    expect(isRedisConnectionError(reply)).toBe(false);
    expect(isRedisConnectionError(new StoreCorruptError('Redis key x', 'bad'))).toBe(false);
    expect(isRedisConnectionError(new TypeError('bug'))).toBe(false);
  });
});
