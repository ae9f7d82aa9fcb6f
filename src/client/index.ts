/**
 * The jobstream remote client: the engine's observables over the network. Browser-safe: it
 * uses the global `WebSocket` and `fetch` (in Node 20 import `jobstream/client`, which resolves
 * to the Node entry and brings `ws`).
 *
 * @example
 * import { connect } from 'jobstream/client';
 * const client = await connect({ url: 'http://127.0.0.1:8080', token });
 * client.job$(id).subscribe((job) => render(job));
 */
export { connect, RemoteClient } from './remote-client.js';
export type { ClientChange, ClientOptions, ClientSubmitRequest } from './remote-client.js';
export { ClientError } from './client-error.js';
export { RestClient, ServerStats, HistoryEntry } from './rest-client.js';
export type { ListQuery } from './rest-client.js';
export type { ConnectionState, SocketFactory, WebSocketLike } from './stream-connection.js';
export { ServerMessage, ClientMessage } from '../server/ws-protocol.js';
export { TokenInfo, TokenScope } from '../server/token-protocol.js';
export { SseSnapshot, SseChange, SseResumed, SseEnd } from '../server/sse-protocol.js';
export { JobSnapshot } from '../streams/job-snapshot.js';
export type { JobFilter } from '../streams/job-filter.js';
export type { JobStatus } from '../streams/job-status.js';
