import { BehaviorSubject, distinctUntilChanged, type Observable } from 'rxjs';
import { fullJitter, type BackoffPolicy } from '../streams/backoff.js';
import { ServerMessage, type ClientMessage } from '../server/ws-protocol.js';

/** Where the connection stands. `resuming`: reconnected, subscriptions are being restored. */
export type ConnectionState = 'connecting' | 'open' | 'resuming' | 'closed';

/** The part of the WebSocket API the client uses: browsers' `WebSocket` and `ws` both have it. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

/** Opens a socket to `url` authenticated with `token`. */
export type SocketFactory = (url: string, token: string) => WebSocketLike;

/** Options of {@link StreamConnection}. */
export interface StreamConnectionOptions {
  /** `ws(s)://host:port/v1/stream` */
  url: string;
  token: string;
  createSocket: SocketFactory;
  /** Reconnect delays, full jitter. */
  backoff: BackoffPolicy;
  /** Interval of application pings; a connection silent for two of them is replaced. */
  heartbeatMs: number;
  random: () => number;
  /** Every valid server message, in order. */
  onMessage: (message: ServerMessage) => void;
  /** After each `hello`: restore subscriptions, then call `ready()`. */
  onHello: (ready: () => void) => void;
  /** A connection attempt failed before `hello`: decide whether to go on (true) or give up. */
  onFailure: () => Promise<boolean>;
}

const OPEN = 1;

/**
 * One WebSocket to the hub, kept up: reconnects with full-jitter backoff after any loss,
 * detects silent connections with application pings, validates every message against the
 * protocol schema, and reports its state.
 */
export class StreamConnection {
  readonly #options: StreamConnectionOptions;
  readonly #state = new BehaviorSubject<ConnectionState>('connecting');
  #socket: WebSocketLike | undefined;
  /** The socket the server has greeted (`hello`): sends go out only on it. */
  #greeted: WebSocketLike | undefined;
  #attempt = 0;
  #everOpen = false;
  #closed = false;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #heard = true;

  constructor(options: StreamConnectionOptions) {
    this.#options = options;
  }

  get state$(): Observable<ConnectionState> {
    return this.#state.pipe(distinctUntilChanged());
  }

  get state(): ConnectionState {
    return this.#state.value;
  }

  start(): void {
    this.#open();
  }

  /** Sends when connected; returns false otherwise (the message is restored on reconnect). */
  send(message: ClientMessage): boolean {
    // Not before the server's hello: the restore that follows it sends every subscription, so
    // one sent earlier on the same socket would arrive twice (DUPLICATE_SUBSCRIPTION).
    if (this.#socket?.readyState !== OPEN || this.#greeted !== this.#socket) return false;
    this.#socket.send(JSON.stringify(message));
    return true;
  }

  /** Closes for good. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#retry);
    clearInterval(this.#heartbeat);
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket !== undefined) {
      socket.onclose = null;
      socket.close(1000, 'client closed');
    }
    this.#state.next('closed');
    this.#state.complete();
  }

  #open(): void {
    if (this.#closed) return;
    this.#state.next(this.#everOpen ? 'resuming' : 'connecting');
    let socket: WebSocketLike;
    try {
      socket = this.#options.createSocket(this.#options.url, this.#options.token);
    } catch {
      this.#lost(false);
      return;
    }
    this.#socket = socket;
    let greeted = false;
    socket.onmessage = (event) => {
      this.#heard = true;
      let message: ServerMessage;
      try {
        message = ServerMessage.parse(JSON.parse(typeof event.data === 'string' ? event.data : String(event.data)));
      } catch {
        return; // Not protocol: ignore rather than tear everything down.
      }
      if (message.type === 'hello' && !greeted) {
        greeted = true;
        this.#greeted = socket;
        this.#attempt = 0;
        // Restoring subscriptions after a reconnect is `resuming`; the first connection is not.
        this.#state.next(this.#everOpen ? 'resuming' : 'connecting');
        this.#everOpen = true;
        this.#options.onMessage(message);
        this.#options.onHello(() => {
          if (this.#socket === socket) this.#state.next('open');
        });
        this.#startHeartbeat(socket);
        return;
      }
      this.#options.onMessage(message);
    };
    socket.onclose = () => {
      if (this.#socket !== socket) return;
      this.#socket = undefined;
      clearInterval(this.#heartbeat);
      this.#lost(greeted);
    };
    socket.onerror = () => undefined; // onclose follows
  }

  #lost(greeted: boolean): void {
    if (this.#closed) return;
    this.#state.next(this.#everOpen ? 'resuming' : 'connecting');
    const schedule = (): void => {
      this.#attempt += 1;
      this.#retry = setTimeout(() => this.#open(), fullJitter(this.#attempt, this.#options.backoff, this.#options.random));
    };
    if (greeted) return schedule();
    // Never got in: ask whether it is worth trying again (e.g. not when the token is refused).
    void this.#options.onFailure().then((goOn) => (goOn ? schedule() : this.close()));
  }

  #startHeartbeat(socket: WebSocketLike): void {
    clearInterval(this.#heartbeat);
    this.#heard = true;
    this.#heartbeat = setInterval(() => {
      if (!this.#heard) {
        // Silent for a whole interval after a ping: replace the connection.
        socket.close(4000, 'no answer to ping');
        if (this.#socket === socket) {
          this.#socket = undefined;
          clearInterval(this.#heartbeat);
          this.#lost(true);
        }
        return;
      }
      this.#heard = false;
      this.send({ type: 'ping' });
    }, this.#options.heartbeatMs);
  }
}
