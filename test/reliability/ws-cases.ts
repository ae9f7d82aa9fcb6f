import fc from 'fast-check';
import { ClientMessage, SubscriptionId, type WsErrorCode } from '../../src/server/ws-protocol.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** One fuzzed client frame. */
export interface WsFrame {
  kind: 'json' | 'near-miss' | 'valid' | 'text' | 'binary' | 'oversize';
  binary: boolean;
  data: Buffer;
}

/** What the server must answer to one frame, before the answer to the ping that follows it. */
export type WsExpectation =
  /** `sub` is the name the error must carry; `maybeSub` one it may carry (a BAD_MESSAGE echo). */
  | { type: 'error'; code: WsErrorCode; sub: string | undefined; maybeSub?: string }
  | { type: 'snapshot'; sub: string; reason: 'subscribe' | 'resume-unavailable' }
  | { type: 'resumed'; sub: string }
  | { type: 'pong'; id: string | undefined }
  | { type: 'nothing' };

/** What the oracle needs to know about the connection and the server. */
export interface WsModel {
  /** Subscriptions open on this connection. */
  subs: Set<string>;
  maxSubscriptions: number;
  maxMessageBytes: number;
  /** Whether a resume point would be accepted (the server's `changesSince` is defined). */
  canResume: (epoch: string, seq: number) => boolean;
}

/**
 * The documented answer to a frame (docs/protocol.md, "Errors on the stream"), and the model
 * updated as the server would. The size limit is checked first, then binary, JSON, the schema,
 * and the per-connection rules.
 */
export function expectedWsAnswer(frame: WsFrame, model: WsModel): WsExpectation {
  if (frame.data.length > model.maxMessageBytes) return { type: 'error', code: 'MESSAGE_TOO_LARGE', sub: undefined };
  if (frame.binary) return { type: 'error', code: 'BAD_MESSAGE', sub: undefined };
  let raw: unknown;
  try {
    raw = JSON.parse(frame.data.toString('utf8'));
  } catch {
    return { type: 'error', code: 'BAD_MESSAGE', sub: undefined };
  }
  const parsed = ClientMessage.safeParse(raw);
  if (!parsed.success) {
    // The protocol does not say whether a refused message's `sub` is echoed; when it is, it must
    // be a valid subscription name (the ServerMessage schema).
    const sub = SubscriptionId.safeParse((raw as { sub?: unknown } | null)?.sub);
    return { type: 'error', code: 'BAD_MESSAGE', sub: undefined, ...(sub.success ? { maybeSub: sub.data } : {}) };
  }
  const message = parsed.data;
  switch (message.type) {
    case 'ping':
      return { type: 'pong', id: message.id };
    case 'unsubscribe':
      if (!model.subs.has(message.sub)) return { type: 'error', code: 'UNKNOWN_SUBSCRIPTION', sub: message.sub };
      model.subs.delete(message.sub);
      return { type: 'nothing' };
    case 'subscribe': {
      if (model.subs.has(message.sub)) return { type: 'error', code: 'DUPLICATE_SUBSCRIPTION', sub: message.sub };
      if (model.subs.size >= model.maxSubscriptions) return { type: 'error', code: 'TOO_MANY_SUBSCRIPTIONS', sub: message.sub };
      model.subs.add(message.sub);
      if (message.resume === undefined) return { type: 'snapshot', sub: message.sub, reason: 'subscribe' };
      return model.canResume(message.resume.epoch, message.resume.seq)
        ? { type: 'resumed', sub: message.sub }
        : { type: 'snapshot', sub: message.sub, reason: 'resume-unavailable' };
    }
  }
}

const json = fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>;

/**
 * Frames a client might send: arbitrary JSON, valid messages (with a small pool of names so
 * duplicates and unknown names happen), near misses of them, text that is not JSON, binary
 * frames, and text past `maxMessageBytes` (below the WebSocket library's own ceiling).
 */
export function wsFrames(epoch: string, seq: () => number, maxMessageBytes: number): fc.Arbitrary<WsFrame> {
  // Mostly a small pool of names, so subscriptions come and go and names collide; now and then
  // any string (too long, empty, odd), which may also take a slot for good.
  const name = fc.oneof({ weight: 30, arbitrary: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f') }, { weight: 1, arbitrary: fc.string({ minLength: 0, maxLength: 70 }) });
  const filter = fc.record(
    {
      ids: fc.array(fc.string({ maxLength: 30 }), { maxLength: 3 }),
      providers: fc.array(fc.constantFrom('klangio', 'sunoapi', 'musicai', 'cambai', 'other'), { maxLength: 3 }),
      kinds: fc.array(fc.constantFrom('transcription', 'vocal-separation', 'workflow', 'nope'), { maxLength: 2 }),
      statuses: fc.array(fc.constantFrom('queued', 'running', 'succeeded', 'failed', 'canceled'), { maxLength: 3 }),
    },
    { requiredKeys: [] },
  );
  const resume = fc.record({
    epoch: fc.oneof(fc.constant(epoch), fc.string({ maxLength: 20 })),
    seq: fc.oneof(fc.nat({ max: 3 }).map((back) => Math.max(0, seq() - back)), fc.integer({ min: -2, max: 1_000_000 })),
  });
  const valid: fc.Arbitrary<Json> = fc.oneof(
    fc.record({ type: fc.constant('subscribe'), sub: name, filter, resume }, { requiredKeys: ['type', 'sub'] }) as fc.Arbitrary<Json>,
    fc.record({ type: fc.constant('unsubscribe'), sub: name }),
    fc.record({ type: fc.constant('unsubscribe'), sub: name }),
    fc.record({ type: fc.constant('ping'), id: fc.string({ maxLength: 70 }) }, { requiredKeys: ['type'] }),
  );
  const nearMiss: fc.Arbitrary<Json> = fc
    .tuple(valid, fc.constantFrom('type', 'sub', 'filter', 'resume', 'id', 'extra'), json)
    .map(([message, key, value]) => (message !== null && typeof message === 'object' && !Array.isArray(message) ? { ...message, [key]: value } : message));
  const text = (kind: WsFrame['kind']) => (value: Json | string, asIs = false): WsFrame => ({
    kind,
    binary: false,
    data: Buffer.from(asIs ? (value as string) : JSON.stringify(value)),
  });
  return fc.oneof(
    { weight: 3, arbitrary: json.map((value) => text('json')(value)) },
    { weight: 4, arbitrary: valid.map((value) => text('valid')(value)) },
    { weight: 5, arbitrary: nearMiss.map((value) => text('near-miss')(value)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 100 }).map((value) => text('text')(value, true)) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 2 * maxMessageBytes }).map((bytes) => ({ kind: 'binary' as const, binary: true, data: Buffer.from(bytes) })) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(valid, fc.integer({ min: maxMessageBytes + 1, max: 4 * maxMessageBytes }))
        .map(([value, size]) => {
          const base = JSON.stringify(value);
          const grown = base.startsWith('{') ? `{"pad":"${'p'.repeat(Math.max(0, size - base.length - 9))}",${base.slice(1)}` : base.padEnd(size, ' ');
          return text('oversize')(grown, true);
        }),
    },
  );
}
