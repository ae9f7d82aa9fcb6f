/**
 * The remote client for Node: the same API as the browser entry, with `ws` as the socket
 * (Node 20 has no global WebSocket) and the token in an `Authorization` header rather than the
 * URL.
 *
 * @example
 * import { connect } from 'jobstream/client';
 * const client = await connect({ url: process.env.JOBSTREAM_URL!, token: process.env.JOBSTREAM_TOKEN! });
 */
import { WebSocket } from 'ws';
import { connect as connectWith, type ClientOptions, type RemoteClient } from './remote-client.js';
import type { WebSocketLike } from './stream-connection.js';

export * from './index.js';

/** {@link connectWith | connect}, with `ws` for the socket unless another is given. */
export function connect(options: ClientOptions): Promise<RemoteClient> {
  return connectWith({
    createSocket: (url, token) => new WebSocket(url, { headers: { authorization: `Bearer ${token}` } }) as unknown as WebSocketLike,
    ...options,
  });
}
