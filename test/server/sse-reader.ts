import { request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';

/** One dispatched Server-Sent Event, as an `EventSource` would see it. */
export interface SseEvent {
  /** `message` when the event had no `event:` field. */
  event: string;
  data: string;
  /** The last event id seen so far in the stream (an event without `id:` keeps the previous one). */
  lastEventId: string;
  /** Whether this very event carried an `id:` field. */
  hasId: boolean;
}

/**
 * A raw HTTP client for Server-Sent Events: parses the stream the way the WHATWG spec says
 * (fields `event`, `data`, `id`, `retry`, comment lines, any line ending), keeps every event and
 * comment in order, and lets a test await the next event that matches (event-driven, bounded by a
 * timeout; no sleeping). Nothing but `node:http`, so it sees exactly what the server sent.
 *
 * @example
 * const sse = await SseReader.open(`${url}/v1/events`, { authorization: `Bearer ${TOKEN}` });
 * const snapshot = await sse.next('snapshot');
 */
export class SseReader {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  readonly response: IncomingMessage;
  /** Settles when the server ends the response or the connection closes. */
  readonly ended: Promise<void>;
  #cursor = 0;
  #waiters: (() => void)[] = [];
  #buffer = '';
  #pending: { event: string; data: string[]; hasId: boolean } = { event: '', data: [], hasId: false };
  #lastEventId = '';
  #done = false;

  private constructor(response: IncomingMessage) {
    this.response = response;
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => this.#feed(chunk));
    this.ended = new Promise((resolve) => {
      const end = () => {
        this.#done = true;
        this.#wake();
        resolve();
      };
      response.once('end', end);
      response.once('close', end);
      response.once('error', end);
    });
  }

  /** Opens the stream; resolves once the response head has arrived (any status). */
  static open(url: string, headers: Record<string, string> = {}): Promise<SseReader> {
    return new Promise((resolve, reject) => {
      const req = request(url, { headers: { accept: 'text/event-stream', ...headers } }, (response) => resolve(new SseReader(response)));
      req.once('error', reject);
      req.end();
    });
  }

  get status(): number {
    return this.response.statusCode ?? 0;
  }

  get headers(): IncomingHttpHeaders {
    return this.response.headers;
  }

  /** The whole body as text, for answers that are not a stream (errors). */
  async text(): Promise<string> {
    const parts: string[] = [];
    this.response.removeAllListeners('data');
    this.response.on('data', (chunk: string) => parts.push(chunk));
    parts.push(this.#buffer);
    await this.ended;
    return parts.join('');
  }

  /** Resolves with the next event (after the ones already taken) named `event` that matches. */
  async next(event: string, where: (e: SseEvent) => boolean = () => true, timeoutMs = 10_000): Promise<SseEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.#cursor < this.events.length) {
        const candidate = this.events[this.#cursor++]!;
        if (candidate.event === event && where(candidate)) return candidate;
      }
      const left = deadline - Date.now();
      if (this.#done) throw new Error(`the stream ended before an "${event}" event; got ${JSON.stringify(this.events.slice(-3))}`);
      if (left <= 0) throw new Error(`no "${event}" event within ${timeoutMs} ms; got ${JSON.stringify(this.events.slice(-3))}`);
      await this.#sleepUntilWoken(left);
    }
  }

  /** Resolves once `test` holds, checked after every event and comment. */
  async until(test: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!test()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      if (this.#done) throw new Error(`the stream ended before ${what}`);
      await this.#sleepUntilWoken(left);
    }
  }

  /** The `data` of every event named `event`, parsed as JSON. */
  all<T = unknown>(event: string): T[] {
    return this.events.filter((e) => e.event === event).map((e) => JSON.parse(e.data) as T);
  }

  /** Closes the connection from this side. */
  close(): Promise<void> {
    this.response.destroy();
    return this.ended;
  }

  #sleepUntilWoken(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #feed(chunk: string): void {
    this.#buffer += chunk;
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.#buffer);
      // A lone \r at the end may be the first half of \r\n: wait for more.
      if (match === null || (match[0] === '\r' && match.index === this.#buffer.length - 1)) break;
      const line = this.#buffer.slice(0, match.index);
      this.#buffer = this.#buffer.slice(match.index + match[0].length);
      this.#line(line);
    }
    this.#wake();
  }

  #line(line: string): void {
    if (line === '') {
      const { event, data, hasId } = this.#pending;
      this.#pending = { event: '', data: [], hasId: false };
      if (data.length === 0) return;
      this.events.push({ event: event === '' ? 'message' : event, data: data.join('\n'), lastEventId: this.#lastEventId, hasId });
      return;
    }
    if (line.startsWith(':')) {
      this.comments.push(line.slice(1).trimStart());
      return;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.#pending.event = value;
    else if (field === 'data') this.#pending.data.push(value);
    else if (field === 'id' && !value.includes('\0')) {
      this.#lastEventId = value;
      this.#pending.hasId = true;
    }
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }
}
