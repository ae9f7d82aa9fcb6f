import { connect, type Socket } from 'node:net';

/**
 * A WebSocket client done by hand on a raw TCP socket, for tests that need a peer misbehaving in
 * ways a real client library would not allow: it can stop reading (`stopReading()`) and it never
 * answers pings. Everything the server sends is kept as raw bytes; small text frames go
 * unmasked from the server, so a test can wait for a piece of JSON by searching them.
 *
 * @example
 * const peer = await RawWsPeer.open('ws://127.0.0.1:8080/v1/stream', token);
 * peer.sendText('{"type":"subscribe","sub":"s"}');
 * await peer.waitFor('"type":"snapshot"');
 * peer.stopReading();
 */
export class RawWsPeer {
  readonly socket: Socket;
  #received = Buffer.alloc(0);
  #waiters: (() => void)[] = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#received = Buffer.concat([this.#received, chunk]);
      for (const wake of this.#waiters.splice(0)) wake();
    });
    // The server may cut a stalled peer; the test looks at the server's side of it.
    socket.on('error', () => undefined);
  }

  /** Connects and completes the opening handshake (101) with a bearer token. */
  static async open(url: string, token: string, timeoutMs = 5000): Promise<RawWsPeer> {
    const { hostname, port, pathname } = new URL(url);
    const socket = connect(Number(port), hostname);
    const peer = new RawWsPeer(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    socket.write(
      `GET ${pathname} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer ${token}\r\n\r\n`,
    );
    try {
      await peer.waitFor('\r\n\r\n', timeoutMs);
    } catch (error) {
      socket.destroy();
      throw error;
    }
    const status = peer.text().split('\r\n', 1)[0];
    if (status !== 'HTTP/1.1 101 Switching Protocols') {
      socket.destroy();
      throw new Error(`WebSocket handshake refused: ${status}`);
    }
    return peer;
  }

  /** Everything received so far, as latin1 text (frame headers included). */
  text(): string {
    return this.#received.toString('latin1');
  }

  /** Sends one text frame, masked with an all-zero key (as a client must mask; zero leaves the payload as it is). */
  sendText(text: string): void {
    const payload = Buffer.from(text, 'utf8');
    const length =
      payload.length < 126
        ? Buffer.from([0x80 | payload.length])
        : payload.length < 65_536
          ? Buffer.from([0x80 | 126, payload.length >> 8, payload.length & 0xff])
          : Buffer.concat([Buffer.from([0x80 | 127]), bigEndian64(payload.length)]);
    this.socket.write(Buffer.concat([Buffer.from([0x81]), length, Buffer.alloc(4), payload]));
  }

  /** Resolves once the received bytes contain `fragment`; rejects after `timeoutMs`. */
  async waitFor(fragment: string, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.text().includes(fragment)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${JSON.stringify(fragment)} from the server within ${timeoutMs} ms; got ${JSON.stringify(this.text().slice(-300))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Stops reading: the kernel buffers fill up and the server's sends start to queue. */
  stopReading(): void {
    this.socket.pause();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

function bigEndian64(n: number): Buffer {
  const buffer = Buffer.alloc(8);
  buffer.writeBigUInt64BE(BigInt(n));
  return buffer;
}
