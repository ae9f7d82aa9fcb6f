import { WebSocket } from 'ws';
import { ServerMessage } from '../../src/server/ws-protocol.js';

/**
 * A WebSocket client for tests: validates every server message against the exported schema,
 * keeps them in order, and lets a test await the next one that matches (event-driven, with a
 * bounded timeout; no sleeping).
 */
export class WsTestClient {
  readonly messages: ServerMessage[] = [];
  readonly ws: WebSocket;
  #cursor = 0;
  #waiters: (() => void)[] = [];
  closed: Promise<{ code: number; reason: string }>;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data) => {
      this.messages.push(ServerMessage.parse(JSON.parse((data as Buffer).toString('utf8'))));
      for (const wake of this.#waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static connect(url: string, token: string | undefined, via: 'header' | 'query' = 'header'): Promise<WsTestClient> {
    const target = via === 'query' && token !== undefined ? `${url}?token=${encodeURIComponent(token)}` : url;
    const ws = new WebSocket(target, via === 'header' && token !== undefined ? { headers: { authorization: `Bearer ${token}` } } : {});
    const client = new WsTestClient(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** Resolves with the next message (after the ones already taken) that matches. */
  async next<T extends ServerMessage['type']>(
    type: T,
    where: (m: Extract<ServerMessage, { type: T }>) => boolean = () => true,
    timeoutMs = 5000,
  ): Promise<Extract<ServerMessage, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.#cursor < this.messages.length) {
        const message = this.messages[this.#cursor++]!;
        if (message.type === type && where(message as Extract<ServerMessage, { type: T }>)) return message as Extract<ServerMessage, { type: T }>;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no "${type}" message within ${timeoutMs} ms; got ${JSON.stringify(this.messages.slice(-3))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** All changes received for a subscription, flattened, in arrival order. */
  changes(sub: string) {
    return this.messages.flatMap((m) => (m.type === 'change' && m.sub === sub ? m.changes : []));
  }

  close(): Promise<{ code: number; reason: string }> {
    this.ws.close();
    return this.closed;
  }
}
