import { connect, type Socket } from 'node:net';

/** One part of a hand-built multipart body. */
export interface RawPart {
  name: string;
  filename?: string;
  contentType?: string;
  data: Buffer | string;
}

/** A `multipart/form-data` body built byte by byte, so tests can cut or damage it anywhere. */
export function multipartBody(boundary: string, parts: readonly RawPart[]): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const disposition = `form-data; name="${part.name}"${part.filename === undefined ? '' : `; filename="${part.filename}"`}`;
    const type = part.contentType === undefined ? '' : `Content-Type: ${part.contentType}\r\n`;
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n${type}\r\n`), Buffer.from(part.data), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

/** The head of a `POST /v1/jobs` declaring `contentLength` bytes of body (`Connection: close`). */
export function uploadHead(options: { token: string; contentType: string; contentLength: number }): string {
  return (
    'POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n' +
    `Authorization: Bearer ${options.token}\r\nContent-Type: ${options.contentType}\r\nContent-Length: ${options.contentLength}\r\n\r\n`
  );
}

/** How a raw request ended, as the client saw it. */
export interface RawOutcome {
  /** The response's status, when a response head arrived. */
  status: number | undefined;
  /** The response as text (head and body), possibly partial. */
  text: string;
}

/**
 * Sends `head` then `body` over a fresh TCP connection, then (after `beforeFinish`, if given)
 * ends the connection the way `finish` says: `'wait'` keeps it open for the answer, `'half-close'` sends
 * FIN and waits for the answer, `'destroy'` cuts it (an aborted upload: no answer expected).
 * Resolves when the server closed the connection or, with `'destroy'`, at once.
 */
export function rawRequest(
  port: number,
  head: string,
  body: Buffer,
  finish: 'wait' | 'half-close' | 'destroy',
  beforeFinish?: () => Promise<void>,
): Promise<RawOutcome> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    const outcome = (): RawOutcome => {
      const text = Buffer.concat(received).toString('latin1');
      const match = /^HTTP\/1\.1 (\d{3})/.exec(text);
      return { status: match === null ? undefined : Number(match[1]), text };
    };
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    // A reset from the server (it closed while we were still sending) is an answer too.
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(outcome()));
    socket.once('connect', () => {
      socket.write(head);
      socket.write(body, () => {
        (beforeFinish ?? (() => Promise.resolve()))().then(() => {
          if (finish === 'destroy') {
            socket.destroy();
            resolve(outcome());
          } else if (finish === 'half-close') socket.end();
        }, reject);
      });
    });
  });
}
