import { isTerminal, rank } from './job-status.js';
import type { JobArtifacts, JobInputRecord, JobLink, JobMetadata, JobSnapshot, JsonValue, Observation } from './job-snapshot.js';

/** What a new job is made from; everything else starts empty. */
export interface NewJob {
  id: string;
  provider: string;
  kind: string;
  externalId: string | null;
  name: string | null;
  metadata: JobMetadata;
  options: Record<string, JsonValue>;
  createdAt: number;
  /** Set for a job that waits for another (see {@link JobLink}). */
  after?: JobLink | null;
  /** What the job was given to work on, as it is shown and resent (see {@link JobInputRecord}). */
  input?: JobInputRecord | null;
  /** The job this one retries. */
  retryOf?: string | null;
}

/** The first snapshot of a job: `queued`, version 1, nothing observed yet. */
export function createSnapshot(job: NewJob): JobSnapshot {
  // Field by field: callers may pass wider objects (a request with its input), which must not leak.
  return {
    id: job.id,
    provider: job.provider,
    kind: job.kind,
    externalId: job.externalId,
    name: job.name,
    metadata: job.metadata,
    options: job.options,
    createdAt: job.createdAt,
    status: 'queued',
    // A job that waits for another says so until it starts.
    providerStatus: job.after === undefined || job.after === null ? null : 'waiting',
    progress: null,
    result: null,
    error: null,
    version: 1,
    updatedAt: job.createdAt,
    source: 'submit',
    artifacts: null,
    after: job.after ?? null,
    providerData: null,
    finished: null,
    input: job.input ?? null,
    retryOf: job.retryOf ?? null,
  };
}

/**
 * The job state machine: folds one observation into a snapshot. Pure: no I/O, no clock.
 *
 * An observation is accepted when it raises the status rank, or keeps the rank and adds
 * information (higher progress, a result, an error or the external id where there was none).
 * Everything else, duplicates, late and reordered deliveries, returns the very same snapshot
 * object, so callers detect "no change" with `===`. A terminal snapshot never changes again.
 * Every accepted change bumps `version` by one.
 *
 * @example
 * const next = reduce(snapshot, { status: 'running', source: 'poll', observedAt: Date.now() });
 * if (next !== snapshot) publish(next);
 */
export function reduce(snapshot: JobSnapshot, observation: Observation): JobSnapshot {
  if (isTerminal(snapshot.status)) return snapshot;
  const before = rank(snapshot.status);
  const after = rank(observation.status);
  if (after < before) return snapshot;

  const gainsProgress =
    observation.progress !== undefined && (snapshot.progress === null || observation.progress > snapshot.progress);
  const gainsResult = observation.result !== undefined && observation.result !== null && snapshot.result === null;
  const gainsError = observation.error !== undefined && snapshot.error === null;
  const gainsExternalId = observation.externalId !== undefined && snapshot.externalId === null;
  if (after === before && !gainsProgress && !gainsResult && !gainsError && !gainsExternalId) return snapshot;

  const status = after > before ? observation.status : snapshot.status;
  return {
    ...snapshot,
    status,
    providerStatus: observation.providerStatus ?? snapshot.providerStatus,
    progress: status === 'succeeded' ? 1 : gainsProgress ? (observation.progress ?? null) : snapshot.progress,
    result: gainsResult ? (observation.result ?? null) : snapshot.result,
    error: gainsError ? (observation.error ?? null) : snapshot.error,
    externalId: snapshot.externalId ?? observation.externalId ?? null,
    // Kept with the external id it came with, once: a later observation never rewrites it.
    providerData: gainsExternalId ? (observation.providerData ?? null) : snapshot.providerData,
    version: snapshot.version + 1,
    updatedAt: Math.max(snapshot.updatedAt, observation.observedAt),
    source: observation.source,
    finished: isTerminal(status) ? { at: observation.observedAt, source: observation.source, confirmLagMs: null } : (snapshot.finished ?? null),
  };
}

/**
 * Records that the other channel (a webhook after a poll, or a poll after a webhook) reported the
 * terminal status a job already has: `finished.confirmLagMs` becomes the gap, once (the same
 * object comes back otherwise: not terminal, already confirmed, another status, the same
 * channel, or not a poll/webhook). Pure; bumps `version`.
 */
export function recordConfirmation(snapshot: JobSnapshot, observation: Pick<Observation, 'status' | 'source' | 'observedAt'>): JobSnapshot {
  const finished = snapshot.finished ?? null;
  if (!isTerminal(snapshot.status) || finished === null || finished.confirmLagMs !== null || observation.status !== snapshot.status) return snapshot;
  const channels = new Set(['poll', 'webhook']);
  if (!channels.has(finished.source) || !channels.has(observation.source) || observation.source === finished.source) return snapshot;
  return {
    ...snapshot,
    finished: { ...finished, confirmLagMs: Math.max(0, observation.observedAt - finished.at) },
    version: snapshot.version + 1,
    updatedAt: Math.max(snapshot.updatedAt, observation.observedAt),
    // `source` keeps saying which channel saw the outcome; the confirmation is in `finished`.
  };
}

/**
 * Whether a job will not change again: terminal, with no result copies still being fetched.
 * Per-job streams complete at the settled snapshot.
 */
export function isSettled(snapshot: JobSnapshot): boolean {
  return isTerminal(snapshot.status) && snapshot.artifacts?.state !== 'pending';
}

/**
 * Records the outcome of copying a succeeded job's result files. Pure, and forward-only like
 * {@link reduce}: only `null → pending` and `pending → complete | failed` are accepted (the
 * same object comes back otherwise); status, result and error are never touched. Bumps `version`.
 */
export function recordArtifacts(snapshot: JobSnapshot, artifacts: JobArtifacts, at: number): JobSnapshot {
  const from = snapshot.artifacts?.state ?? null;
  const allowed = snapshot.status === 'succeeded' && (from === null ? artifacts.state === 'pending' : from === 'pending' && artifacts.state !== 'pending');
  if (!allowed) return snapshot;
  return { ...snapshot, artifacts, version: snapshot.version + 1, updatedAt: Math.max(snapshot.updatedAt, at), source: 'results' };
}

/**
 * Keeps the adapter's data of a create answer (`providerData`) that `reduce` could not take with
 * it: a webhook had named the job and raised its status before the create call returned, so the
 * answer's lower status was refused. Pure, and once, like the external id: only where nothing is
 * kept yet, for the job's own external id, before it is terminal (the same object comes back
 * otherwise). Bumps `version`.
 */
export function recordProviderData(snapshot: JobSnapshot, externalId: string, data: JsonValue, at: number): JobSnapshot {
  if (isTerminal(snapshot.status) || (snapshot.providerData ?? null) !== null || snapshot.externalId !== externalId) return snapshot;
  return { ...snapshot, providerData: data, version: snapshot.version + 1, updatedAt: Math.max(snapshot.updatedAt, at), source: 'submit' };
}

/**
 * Records that a waiting pipeline job was handed to its provider (once; the same object comes
 * back otherwise), with the options it was started with (including any filled in from the job
 * it waited for). Durable before the provider is called, so that after a crash a job still
 * waiting is started again, and one that may have reached the provider is not.
 */
export function markStarted(snapshot: JobSnapshot, at: number, options: Record<string, JsonValue> = snapshot.options): JobSnapshot {
  if (snapshot.after === null || snapshot.after.startedAt !== null || snapshot.status !== 'queued') return snapshot;
  return {
    ...snapshot,
    options,
    after: { ...snapshot.after, startedAt: at },
    providerStatus: 'starting',
    version: snapshot.version + 1,
    updatedAt: Math.max(snapshot.updatedAt, at),
    source: 'submit',
  };
}
