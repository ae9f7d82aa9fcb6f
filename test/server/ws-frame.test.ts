import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { sendFrame, textFrame } from '../../src/server/ws-frame.js';

let server: WebSocketServer | undefined;

afterEach(async () => {
  for (const client of server?.clients ?? []) client.terminate();
  await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
  server = undefined;
});

/** A real ws server on port 0 and a real ws client; resolves with the server side of it and the client. */
async function connect(): Promise<{ near: WebSocket; far: WebSocket }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false, maxPayload: 1 << 20 });
  server = wss;
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  const near = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
  const far = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`);
  await new Promise<void>((resolve, reject) => {
    far.once('open', () => resolve());
    far.once('error', reject);
  });
  return { near: await near, far };
}

describe('pre-encoded text frames', () => {
  it('frame every payload length class as ws reads it: 0, 125, 126, 65,535, 65,536 and 200,000 bytes, multi-byte UTF-8 included', async () => {
    const { near, far } = await connect();
    const lengths = [0, 1, 125, 126, 127, 65_535, 65_536, 200_000];
    const payloads = lengths.map((n, i) => Buffer.from((i % 2 === 0 ? 'x' : 'é').repeat(i % 2 === 0 ? n : Math.floor(n / 2)) + (i % 2 === 0 ? '' : 'x'.repeat(n % 2))));
    const received: string[] = [];
    const all = new Promise<void>((resolve, reject) => {
      far.on('message', (data, isBinary) => {
        if (isBinary) reject(new Error('a binary frame'));
        received.push((data as Buffer).toString());
        if (received.length === payloads.length) resolve();
      });
      far.once('close', (code) => reject(new Error(`closed with ${code}`)));
    });
    const written: Array<Error | undefined> = [];
    for (const payload of payloads) sendFrame(near, textFrame(payload), payload, (error) => written.push(error ?? undefined));
    await all;
    expect(received.map((text) => Buffer.byteLength(text))).toEqual(payloads.map((p) => p.length));
    expect(received).toEqual(payloads.map((p) => p.toString()));
    expect(written).toEqual(payloads.map(() => undefined));
    far.close();
  });

  it('keeps its place among ws sends, and counts in bufferedAmount until written', async () => {
    const { near, far } = await connect();
    const received: string[] = [];
    const three = new Promise<void>((resolve) => far.on('message', (data) => received.push((data as Buffer).toString()) === 3 && resolve()));
    const big = Buffer.from('y'.repeat(4 * 1024 * 1024));
    near.send('first');
    sendFrame(near, textFrame(big), big);
    // Four MB cannot all go to the socket at once: ws reports what waits.
    expect(near.bufferedAmount).toBeGreaterThan(0);
    near.send('last');
    await three;
    expect(received.map((text) => text.slice(0, 5))).toEqual(['first', 'yyyyy', 'last']);
    expect(received[1]).toHaveLength(big.length);
    far.close();
  });

  it('falls back to an ordinary send on a WebSocket without ws\'s sender', () => {
    const sent: unknown[] = [];
    const fake = { send: (...args: unknown[]) => sent.push(args) } as unknown as WebSocket;
    const payload = Buffer.from('{"a":1}');
    sendFrame(fake, textFrame(payload), payload);
    expect(sent).toEqual([[payload, { binary: false }, undefined]]);
  });
});
