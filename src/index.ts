/**
 * jobstream: a reactive job-state engine for long jobs on audio-AI APIs.
 *
 * @example
 * import { createEngine } from 'jobstream';
 * const engine = await createEngine({ providers, dataDir: './data' });
 * engine.changes$().subscribe((change) => console.log(change.seq, change.job.status));
 */
export { createEngine, Engine } from './streams/engine.js';
export type { EngineEvent, EngineOptions, EngineSnapshot, WebhookResult } from './streams/engine.js';
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
export { parseRetryAfter } from './streams/retry-after.js';
export { MemoryStore, StoredJob } from './streams/job-store.js';
export type { JobStore } from './streams/job-store.js';
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
  UnknownJobError,
  UnknownProviderError,
  UnknownWebhookTokenError,
  WaitTimeoutError,
} from './streams/errors.js';
export type { ProviderFailure, RequestIssue } from './streams/errors.js';
export { JobInput } from './providers/provider-adapter.js';
export type {
  CallContext,
  CreateJobRequest,
  CreateJobResult,
  ParsedWebhook,
  ProviderAdapter,
  ProviderJobRef,
  ProviderReport,
  WebhookDelivery,
} from './providers/provider-adapter.js';
