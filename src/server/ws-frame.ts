import type { WebSocket } from 'ws';

/**
 * A whole WebSocket text frame (RFC 6455 §5.2: FIN, opcode 1, unmasked as a server sends it,
 * no extension bits) around `payload`, UTF-8 text. A server's frames carry no mask, so one
 * frame is the same bytes for every client: it is built once per broadcast and written as is.
 *
 * @example
 * const frame = textFrame(Buffer.from('{"type":"change"}'));
 * for (const ws of clients) sendFrame(ws, frame);
 */
export function textFrame(payload: Buffer): Buffer {
  const length = payload.length;
  const headerBytes = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerBytes + length);
  frame[0] = 0x81;
  if (length < 126) {
    frame[1] = length;
  } else if (length < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  payload.copy(frame, headerBytes);
  return frame;
}

/** The part of ws's (internal) `Sender` that writes an already framed message. */
interface FrameSender {
  sendFrame(list: Buffer[], cb?: (error?: Error) => void): void;
}

/**
 * Writes a frame made by {@link textFrame} to `ws`, through ws's own sender so that it takes its
 * place among ws's other writes (and counts in `bufferedAmount`); `payload` is sent the usual way
 * when this ws has no such sender. This is how Engine.IO sends its pre-encoded broadcast frames;
 * it is right only without per-message compression (the hub has none) and without Blob data
 * (the hub sends none), when ws's sender never holds a message back.
 */
export function sendFrame(ws: WebSocket, frame: Buffer, payload: Buffer, cb?: (error?: Error) => void): void {
  const sender = (ws as unknown as { _sender?: Partial<FrameSender> })._sender;
  if (typeof sender?.sendFrame === 'function') {
    sender.sendFrame([frame], cb);
    return;
  }
  ws.send(payload, { binary: false }, cb);
}
