import { WebSocket } from 'ws';
import type { WsFrame } from './ws-cases.js';

/**
 * One WebSocket connection for the frame fuzzer: sends a frame, then a ping with a fresh id,
 * and collects what the server sent in between. The server answers messages in order, so the
 * pong marks the end of the answer to the frame.
 *
 * @example
 * const conn = await WsConnection.open(wsUrl, token);
 * const { messages, closed } = await conn.exchange({ kind: 'text', binary: false, data: Buffer.from('{oops') }, 'probe-1');
 */
export class WsConnection {
  readonly #ws: WebSocket;
  #inbox: unknown[] = [];
  #waiting: ((closed?: string) => void) | undefined;
  #closed: string | undefined;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.on('message', (data: Buffer) => {
      this.#inbox.push(JSON.parse(data.toString('utf8')));
      this.#waiting?.();
    });
    ws.on('close', (code, reason) => {
      this.#closed = `close ${code} ${reason.toString()}`;
      this.#waiting?.(this.#closed);
    });
    ws.on('error', () => undefined);
  }

  static async open(url: string, token: string): Promise<WsConnection> {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
    const conn = new WsConnection(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    await conn.#until((messages) => messages.some((m) => (m as { type?: string }).type === 'hello'));
    conn.#inbox = [];
    return conn;
  }

  async exchange(frame: WsFrame, probe: string): Promise<{ messages: unknown[]; closed?: string }> {
    this.#ws.send(frame.data, { binary: frame.binary });
    this.#ws.send(JSON.stringify({ type: 'ping', id: probe }));
    const closed = await this.#until((messages) => messages.some((m) => (m as { type?: string; id?: string }).type === 'pong' && (m as { id?: string }).id === probe));
    const messages = this.#inbox;
    this.#inbox = [];
    const at = messages.findIndex((m) => (m as { type?: string; id?: string }).type === 'pong' && (m as { id?: string }).id === probe);
    return closed === undefined ? { messages: messages.slice(0, at) } : { messages, closed };
  }

  async close(): Promise<void> {
    if (this.#closed !== undefined) return;
    const done = new Promise<void>((resolve) => this.#ws.once('close', () => resolve()));
    this.#ws.close();
    await done;
  }

  /** Resolves (with the close reason, if it closed) once `done` holds for the inbox; 5 s at most. */
  #until(done: (messages: unknown[]) => boolean): Promise<string | undefined> {
    return new Promise((resolve, reject) => {
      const check = (closed?: string): void => {
        if (closed !== undefined || this.#closed !== undefined) return finish(() => resolve(closed ?? this.#closed));
        if (done(this.#inbox)) finish(() => resolve(undefined));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`no answer within 5 s; got ${JSON.stringify(this.#inbox).slice(0, 300)}`))), 5000);
      const finish = (settle: () => void): void => {
        clearTimeout(timer);
        this.#waiting = undefined;
        settle();
      };
      this.#waiting = check;
      check();
    });
  }
}
