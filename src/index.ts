/**
 * jobstream: a reactive job-state engine for long jobs on audio-AI APIs.
 *
 * @example
 * import { createEngine } from 'jobstream';
 * const engine = await createEngine({ providers, dataDir: './data' });
 * engine.changes$().subscribe((change) => console.log(change.seq, change.job.status));
 */
export { createEngine, Engine } from './streams/engine.js';
export type { EngineEvent, EngineHealth, EngineOptions, EngineSnapshot, WebhookResult } from './streams/engine.js';
export type { LaneError, OpenedResult, ProviderLaneHealth } from './streams/engine.js';
export { RangeNotSatisfiableError, resolveByteRange, type ByteRange } from './streams/byte-range.js';
export { computeJobStats, resolveStatsQuery, type JobStats, type JobStatsQuery } from './streams/job-stats.js';
export type { LaneHealth } from './streams/poll-scheduler.js';
export { SubmitRequest, TrackRequest } from './streams/engine-requests.js';
export { JobStatus, TERMINAL_STATUSES, isTerminal, rank } from './streams/job-status.js';
export { JobSnapshot, Observation, JobError, JobMetadata, ObservationSource, JsonValue } from './streams/job-snapshot.js';
export { JobChange } from './streams/job-change.js';
export { JobFilter, compileFilter } from './streams/job-filter.js';
export type { JobPredicate } from './streams/job-filter.js';
export { reduce, createSnapshot } from './streams/job-reducer.js';
export type { NewJob } from './streams/job-reducer.js';
export { PollScheduler } from './streams/poll-scheduler.js';
export type { PollOutcome, PollPolicy, PollSchedulerOptions, PollTarget } from './streams/poll-scheduler.js';
export type { BackoffPolicy } from './streams/backoff.js';
export { fullJitter } from './streams/backoff.js';
export { parseRetryAfter } from './providers/retry-after.js';
export { MemoryStore, StoredJob } from './streams/job-store.js';
export type { JobRemoval, JobStore } from './streams/job-store.js';
export type { RetentionStatus, RetentionSweep } from './streams/retention.js';
export { FileStore } from './streams/file-store.js';
export type { FileStoreOptions } from './streams/file-store.js';
export {
  EngineClosedError,
  InvalidRequestError,
  InvalidWebhookError,
  JobstreamError,
  ProviderError,
  StoreCorruptError,
  StoreLockedError,
  StoreUnavailableError,
  UnknownJobError,
  UnknownProviderError,
  UnknownWebhookTokenError,
  WaitTimeoutError,
} from './streams/errors.js';
export type { ProviderFailure, RequestIssue } from './streams/errors.js';
export { JobInput } from './streams/provider-port.js';
export type {
  CallContext,
  CancelMode,
  CreateJobRequest,
  CreateJobResult,
  ParsedWebhook,
  ProviderAdapter,
  ProviderJobRef,
  ProviderReport,
  WebhookDelivery,
} from './streams/provider-port.js';
export type { ResultDownload, ResultFile } from './streams/provider-port.js';

// Providers: the shared HTTP layer and the adapters. Their simulators are in 'jobstream/simulators'.
export { createDispatcher, credentialIdOf } from './providers/provider-http.js';
export type { HttpOptions } from './providers/provider-http.js';
export { guardedDispatcher, isPublicAddress, UrlRefusedError } from './providers/url-guard.js';
export type { OutsideUrlOptions, ResolvedAddress, UrlGuardHooks } from './providers/url-guard.js';
export { PROVIDERS, PROVIDER_NAMES, isProviderName } from './providers/provider-catalog.js';
export type { AdapterSettings, ProviderInfo, ProviderName } from './providers/provider-catalog.js';
export { createKlangioAdapter } from './providers/klangio/klangio-adapter.js';
export type { KlangioAdapterOptions } from './providers/klangio/klangio-adapter.js';
export { createMusicaiAdapter } from './providers/musicai/musicai-adapter.js';
export type { MusicaiAdapterOptions } from './providers/musicai/musicai-adapter.js';
export { listMusicaiWorkflows } from './providers/musicai/musicai-adapter-client.js';
export { createSunoapiAdapter } from './providers/sunoapi/sunoapi-adapter.js';
export type { SunoapiAdapterOptions } from './providers/sunoapi/sunoapi-adapter.js';
export { createCambaiAdapter } from './providers/cambai/cambai-adapter.js';
export type { CambaiAdapterOptions } from './providers/cambai/cambai-adapter.js';

// Server: start it in-process, and the WebSocket protocol for clients.
export { startServer } from './server/server.js';
export type { RunningServer, ServerOptions } from './server/server.js';
export { loadServerConfig, ConfigError } from './server/server-config.js';
export type { ServerConfig } from './server/server-config.js';
export { createLogger, LOG_FORMATS, LOG_LEVELS } from './server/logger.js';
export type { LogFormat, Logger, LoggerConfig, LogLevel } from './server/logger.js';
export {
  ClientMessage,
  ServerMessage,
  SubscribeMessage,
  UnsubscribeMessage,
  PingMessage,
  HelloMessage,
  SnapshotMessage,
  ResumedMessage,
  ChangeMessage,
  PongMessage,
  ErrorMessage,
  WireChange,
  ResumePoint,
  WsErrorCode,
  CLOSE_CODES,
} from './server/ws-protocol.js';
// Server-Sent Events and scoped read tokens: the wire schemas, and minting tokens in code.
export { SseSnapshot, SseChange, SseResumed, SseEnd, eventId, parseEventId } from './server/sse-protocol.js';
export { TokenScope, MintTokenRequest, MintedToken, TokenInfo } from './server/token-protocol.js';
export { ScopedTokens, narrowFilter } from './server/scoped-tokens.js';
export type { ScopedTokensOptions, VerifiedToken } from './server/scoped-tokens.js';
