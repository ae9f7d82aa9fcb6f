import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { filter, firstValueFrom, toArray } from 'rxjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocket, WebSocketServer, type WebSocket as ServerSocket } from 'ws';
import { StreamConnection, type StreamConnectionOptions, type WebSocketLike } from '../../src/client/stream-connection.js';
import type { ServerMessage } from '../../src/server/ws-protocol.js';

const TOKEN = 'stream-connection-token';
const hello = (seq = 0): ServerMessage => ({ type: 'hello', epoch: 'e1', seq, limits: { maxMessageBytes: 1 << 20, maxSubscriptions: 100, heartbeatMs: 15_000 } });

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * A bare `ws` server on port 0 standing in for the hub. `greet` decides what a new connection
 * is told first (by default `hello`); every connection and every message it receives is kept.
 */
async function hub(greet: (socket: ServerSocket, index: number) => void = (socket) => socket.send(JSON.stringify(hello()))) {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(server, 'listening');
  const sockets: ServerSocket[] = [];
  const authorizations: (string | undefined)[] = [];
  const received: unknown[] = [];
  const arrivals: ((socket: ServerSocket) => void)[] = [];
  const listeners: (() => void)[] = [];
  server.on('connection', (socket, request) => {
    sockets.push(socket);
    authorizations.push(request.headers.authorization);
    socket.on('message', (data) => {
      received.push(JSON.parse((data as Buffer).toString('utf8')));
      for (const heard of listeners.splice(0)) heard();
    });
    greet(socket, sockets.length - 1);
    for (const arrived of arrivals.splice(0)) arrived(socket);
  });
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of server.clients) socket.terminate();
        server.close(() => resolve());
      }),
  );
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/v1/stream`,
    sockets,
    authorizations,
    received,
    /** Settles with the next connection the server accepts. */
    nextConnection: () => new Promise<ServerSocket>((resolve) => arrivals.push(resolve)),
    /** Settles when the server next receives a message. */
    nextMessage: () => new Promise<void>((resolve) => listeners.push(resolve)),
  };
}

/** A connection to `url` over `ws`, with every callback recorded and `ready()` called at once. */
function connection(url: string, overrides: Partial<StreamConnectionOptions> = {}) {
  const messages: ServerMessage[] = [];
  const waiters: { count: number; resolve(): void }[] = [];
  const hellos: (() => void)[] = [];
  let failures = 0;
  const c = new StreamConnection({
    url,
    token: TOKEN,
    createSocket: (to, token) => new WebSocket(to, { headers: { authorization: `Bearer ${token}` } }) as unknown as WebSocketLike,
    backoff: { initialMs: 10, maxMs: 100 },
    heartbeatMs: 60_000,
    // Reconnect at once: the tests wait for states, not for time.
    random: () => 0,
    onMessage: (message) => {
      messages.push(message);
      for (const waiter of waiters.filter((w) => messages.length >= w.count)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    },
    onHello: (ready) => {
      hellos.push(ready);
      ready();
    },
    onFailure: () => {
      failures += 1;
      return Promise.resolve(true);
    },
    ...overrides,
  });
  cleanups.push(() => c.close());
  /** Settles once `count` messages have arrived in all. */
  const received = (count: number) =>
    new Promise<void>((resolve) => (messages.length >= count ? resolve() : waiters.push({ count, resolve })));
  return { c, messages, hellos, received, failures: () => failures };
}

const reach = (c: StreamConnection, state: string) => firstValueFrom(c.state$.pipe(filter((s) => s === state)));

describe('StreamConnection (against a ws server)', () => {
  it('connects with the bearer token and goes connecting → open only once onHello says ready', async () => {
    const server = await hub();
    let greeted: (ready: () => void) => void = () => undefined;
    const hello$ = new Promise<() => void>((resolve) => (greeted = resolve));
    const { c, messages } = connection(server.url, { onHello: (ready) => greeted(ready) });
    const states: string[] = [];
    c.state$.subscribe((s) => states.push(s));
    expect(c.send({ type: 'ping' })).toBe(false);
    c.start();
    const ready = await hello$;
    expect(c.state).toBe('connecting');
    expect(messages).toEqual([hello()]);
    ready();
    expect(c.state).toBe('open');
    expect(states).toEqual(['connecting', 'open']);
    expect(server.authorizations).toEqual([`Bearer ${TOKEN}`]);
    const heard = server.nextMessage();
    expect(c.send({ type: 'ping', id: 'p1' })).toBe(true);
    await heard;
    expect(server.received).toEqual([{ type: 'ping', id: 'p1' }]);
  });

  it('sends nothing on an open socket before the hello (the restore after it sends every subscription once)', async () => {
    const server = await hub(() => undefined);
    let opened: Promise<unknown> | undefined;
    const { c } = connection(server.url, {
      createSocket: (to, token) => {
        const socket = new WebSocket(to, { headers: { authorization: `Bearer ${token}` } });
        opened = once(socket, 'open');
        return socket as unknown as WebSocketLike;
      },
    });
    c.start();
    expect(opened).toBeDefined();
    await opened;
    expect(c.send({ type: 'ping', id: 'early' })).toBe(false);
    const open = reach(c, 'open');
    (server.sockets[0] as ServerSocket).send(JSON.stringify(hello()));
    await open;
    const heard = server.nextMessage();
    expect(c.send({ type: 'ping', id: 'late' })).toBe(true);
    await heard;
    expect(server.received).toEqual([{ type: 'ping', id: 'late' }]);
  });

  it('after losing an open connection: resuming, a new socket, onHello again, then open', async () => {
    const server = await hub((socket, index) => socket.send(JSON.stringify(hello(index * 10))));
    const { c, messages, hellos } = connection(server.url);
    c.start();
    await reach(c, 'open');
    const states: string[] = [];
    c.state$.subscribe((s) => states.push(s));
    const second = server.nextConnection();
    server.sockets[0]?.terminate();
    await second;
    await reach(c, 'open');
    expect(hellos).toHaveLength(2);
    expect(states).toEqual(['open', 'resuming', 'open']);
    expect(messages.map((m) => (m.type === 'hello' ? m.seq : m.type))).toEqual([0, 10]);
    expect(c.send({ type: 'ping' })).toBe(true);
  });

  it('ignores what is not protocol and keeps the connection', async () => {
    const server = await hub((socket) => {
      socket.send('not json');
      socket.send(JSON.stringify({ type: 'launch', at: 'now' }));
      socket.send(JSON.stringify(hello()));
      socket.send(JSON.stringify({ type: 'pong', id: 'x' }));
    });
    const { c, messages, received } = connection(server.url);
    c.start();
    await reach(c, 'open');
    await received(2);
    expect(messages).toEqual([hello(), { type: 'pong', id: 'x' }]);
    expect(server.sockets).toHaveLength(1);
  });

  it('a hello after the first on the same socket is passed on, not taken for a reconnect', async () => {
    const server = await hub((socket) => {
      socket.send(JSON.stringify(hello(1)));
      socket.send(JSON.stringify(hello(2)));
    });
    const { c, messages, hellos, received } = connection(server.url);
    c.start();
    await received(2);
    expect(messages).toEqual([hello(1), hello(2)]);
    expect(hellos).toHaveLength(1);
    expect(c.state).toBe('open');
  });

  it('asks onFailure when it never got in, and closes for good when told to give up', async () => {
    const server = await hub((socket) => socket.close(4401, 'unauthorized'));
    let asked = 0;
    const { c } = connection(server.url, {
      onFailure: () => {
        asked += 1;
        return Promise.resolve(false);
      },
    });
    const states = firstValueFrom(c.state$.pipe(toArray()));
    c.start();
    // state$ completes on close, so this also waits for it.
    expect(await states).toEqual(['connecting', 'closed']);
    expect(asked).toBe(1);
    expect(server.sockets).toHaveLength(1);
  });

  it('tries again when onFailure says so, and gets in once the server lets it', async () => {
    const server = await hub((socket, index) => (index < 2 ? socket.close(1011, 'not yet') : socket.send(JSON.stringify(hello()))));
    const { c, failures } = connection(server.url);
    c.start();
    await reach(c, 'open');
    expect(failures()).toBe(2);
    expect(server.sockets).toHaveLength(3);
  });

  it('close() closes the socket with 1000, completes state$, never reconnects and is idempotent', async () => {
    const server = await hub();
    const { c } = connection(server.url);
    c.start();
    await reach(c, 'open');
    const completed = firstValueFrom(c.state$.pipe(toArray()));
    const closed = once(server.sockets[0] as ServerSocket, 'close');
    c.close();
    c.close();
    const [code] = (await closed) as [number];
    expect(code).toBe(1000);
    expect(await completed).toEqual(['open', 'closed']);
    expect(c.state).toBe('closed');
    expect(c.send({ type: 'ping' })).toBe(false);
    expect(server.sockets).toHaveLength(1);
  });
});

/** A socket the test drives by hand: it opens, speaks and closes when told. */
class ScriptedSocket implements WebSocketLike {
  readyState = 0;
  readonly sent: unknown[] = [];
  closedWith: number | undefined;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;

  send(data: string): void {
    this.sent.push(JSON.parse(data));
  }

  close(code = 1005): void {
    this.closedWith = code;
    this.readyState = 3;
  }

  /** The server says hello. */
  greet(): void {
    this.readyState = 1;
    this.onmessage?.({ data: JSON.stringify(hello()) });
  }

  /** The connection is lost. */
  drop(): void {
    this.readyState = 3;
    this.onclose?.({ code: 1006, reason: '' });
  }
}

/** A connection over scripted sockets, on fake timers: delays are read off the virtual clock. */
function scripted(options: { failingFactoryCalls?: number } = {}) {
  vi.useFakeTimers();
  const sockets: ScriptedSocket[] = [];
  let calls = 0;
  const c = new StreamConnection({
    url: 'ws://hub.invalid/v1/stream',
    token: TOKEN,
    createSocket: () => {
      calls += 1;
      if (calls <= (options.failingFactoryCalls ?? 0)) throw new SyntaxError('bad url');
      const socket = new ScriptedSocket();
      sockets.push(socket);
      return socket;
    },
    backoff: { initialMs: 100, maxMs: 400 },
    heartbeatMs: 1000,
    // Half of each ceiling: delays of 50, 100, 200, 200, ... ms.
    random: () => 0.5,
    onMessage: () => undefined,
    onHello: (ready) => ready(),
    onFailure: () => Promise.resolve(true),
  });
  cleanups.push(() => c.close());
  return { c, sockets };
}

/** Advances virtual time to just before and then to `ms` later, and says how many sockets exist at each point. */
async function socketsAround(sockets: ScriptedSocket[], ms: number): Promise<[number, number]> {
  await vi.advanceTimersByTimeAsync(ms - 1);
  const before = sockets.length;
  await vi.advanceTimersByTimeAsync(1);
  return [before, sockets.length];
}

describe('StreamConnection (virtual time)', () => {
  it('backs off with full jitter, doubling per failed attempt up to the ceiling, and starts over after a hello', async () => {
    const { c, sockets } = scripted();
    c.start();
    expect(sockets).toHaveLength(1);
    sockets[0]?.greet();
    expect(c.state).toBe('open');

    sockets[0]?.drop();
    expect(c.state).toBe('resuming');
    expect(await socketsAround(sockets, 50)).toEqual([1, 2]);
    sockets[1]?.drop();
    expect(await socketsAround(sockets, 100)).toEqual([2, 3]);
    sockets[2]?.drop();
    expect(await socketsAround(sockets, 200)).toEqual([3, 4]);
    sockets[3]?.drop();
    // The ceiling (maxMs 400) holds: still 200.
    expect(await socketsAround(sockets, 200)).toEqual([4, 5]);

    sockets[4]?.greet();
    expect(c.state).toBe('open');
    sockets[4]?.drop();
    // Got in: the next loss starts from the first delay again.
    expect(await socketsAround(sockets, 50)).toEqual([5, 6]);
    expect(c.state).toBe('resuming');
  });

  it('pings every heartbeat and replaces a connection silent for a whole interval after a ping', async () => {
    const { c, sockets } = scripted();
    c.start();
    const first = sockets[0] as ScriptedSocket;
    first.greet();
    await vi.advanceTimersByTimeAsync(1000);
    expect(first.sent).toEqual([{ type: 'ping' }]);
    // An answer keeps it alive through the next interval.
    first.onmessage?.({ data: JSON.stringify({ type: 'pong' }) });
    await vi.advanceTimersByTimeAsync(1000);
    expect(first.sent).toEqual([{ type: 'ping' }, { type: 'ping' }]);
    expect(first.closedWith).toBeUndefined();
    // Silence: at the next tick it is closed and a new socket follows after the backoff.
    await vi.advanceTimersByTimeAsync(1000);
    expect(first.closedWith).toBe(4000);
    expect(c.state).toBe('resuming');
    expect(await socketsAround(sockets, 50)).toEqual([1, 2]);
    // The old socket's late close event changes nothing.
    first.drop();
    await vi.advanceTimersByTimeAsync(1000);
    expect(sockets).toHaveLength(2);
  });

  it('treats a socket factory that throws like a failed attempt', async () => {
    const { c, sockets } = scripted({ failingFactoryCalls: 1 });
    c.start();
    expect(c.state).toBe('connecting');
    expect(sockets).toHaveLength(0);
    expect(await socketsAround(sockets, 50)).toEqual([0, 1]);
    sockets[0]?.greet();
    expect(c.state).toBe('open');
  });
});
