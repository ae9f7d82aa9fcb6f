import { z } from 'zod';
import { JobFilter } from '../streams/job-filter.js';
import { JobSnapshot } from '../streams/job-snapshot.js';
import { JobStatus } from '../streams/job-status.js';

/**
 * The WebSocket protocol of `/v1/stream`: JSON text messages, one object per frame, each with a
 * literal `type`. Client code can validate what it receives with {@link ServerMessage}.
 * See docs/protocol.md for the conversation with examples.
 */

/** How many held versions a resume point may list. */
export const MAX_RESUME_VERSIONS = 10_000;

/**
 * A point in the change log to resume from: the last `epoch` and `seq` a client saw, and
 * optionally the version of every job it holds for this subscription (all of them, or none):
 * when the log no longer has what was missed, the server then sends only the jobs newer than
 * those (resume by state) instead of all of them.
 */
export const ResumePoint = z.object({
  epoch: z.string().min(1),
  seq: z.number().int().nonnegative(),
  versions: z
    .record(z.string().min(1).max(256), z.number().int().positive())
    .refine((versions) => Object.keys(versions).length <= MAX_RESUME_VERSIONS, { message: `at most ${MAX_RESUME_VERSIONS} versions` })
    .optional(),
});
export type ResumePoint = z.infer<typeof ResumePoint>;

/** Names a subscription within one connection (chosen by the client). */
export const SubscriptionId = z.string().min(1).max(64);

/** Client → server: start a subscription. */
export const SubscribeMessage = z.object({
  type: z.literal('subscribe'),
  sub: SubscriptionId,
  filter: JobFilter.optional(),
  /** Resume where a previous connection stopped, instead of starting from a snapshot. */
  resume: ResumePoint.optional(),
});
/** Client → server: end a subscription. */
export const UnsubscribeMessage = z.object({ type: z.literal('unsubscribe'), sub: SubscriptionId });
/** Client → server: application-level ping (browsers cannot send protocol pings). */
export const PingMessage = z.object({ type: z.literal('ping'), id: z.string().max(64).optional() });

export const ClientMessage = z.discriminatedUnion('type', [SubscribeMessage, UnsubscribeMessage, PingMessage]);
export type ClientMessage = z.infer<typeof ClientMessage>;

/** Server → client, first message on every connection. */
export const HelloMessage = z.object({
  type: z.literal('hello'),
  epoch: z.string(),
  seq: z.number().int().nonnegative(),
  limits: z.object({
    maxMessageBytes: z.number().int().positive(),
    maxSubscriptions: z.number().int().positive(),
    heartbeatMs: z.number().int().positive(),
  }),
});

/**
 * Server → client: the jobs matching a subscription as of `seq`. Large sets come in several
 * messages; the last has `more: false`. `reason`:
 *
 * - `subscribe`: a new subscription; these are all the matching jobs.
 * - `resume-unavailable`: the client asked to resume but the server could not (another epoch
 *   and no versions, or a point in the future): the client must replace what it had with this
 *   snapshot.
 * - `resume-by-state`: the log no longer has every change the client missed, so these are only
 *   the jobs newer than what it holds (see {@link ResumePoint}); it keeps the others, and drops
 *   the ids listed in `gone` (jobs this server does not have).
 */
export const SnapshotMessage = z.object({
  type: z.literal('snapshot'),
  sub: SubscriptionId,
  epoch: z.string(),
  seq: z.number().int().nonnegative(),
  reason: z.enum(['subscribe', 'resume-unavailable', 'resume-by-state']),
  jobs: z.array(JobSnapshot),
  /** `resume-by-state` only, first message only: held jobs this server does not have. */
  gone: z.array(z.string()).optional(),
  more: z.boolean(),
});

/** Server → client: the resume point was accepted; the missed changes follow as `change` messages. */
export const ResumedMessage = z.object({
  type: z.literal('resumed'),
  sub: SubscriptionId,
  epoch: z.string(),
  seq: z.number().int().nonnegative(),
});

/** One change as sent on the wire. */
export const WireChange = z.object({
  seq: z.number().int().positive(),
  job: JobSnapshot,
  previousStatus: JobStatus.nullable(),
});
export type WireChange = z.infer<typeof WireChange>;

/**
 * Server → client: one or more changes of a subscription, in `seq` order, with nothing missed
 * since the snapshot (or the resume point). Seqs may skip: changes of jobs outside the filter
 * are not sent, and a client that falls behind gets only the latest state of each job.
 */
export const ChangeMessage = z.object({
  type: z.literal('change'),
  sub: SubscriptionId,
  epoch: z.string(),
  changes: z.array(WireChange).min(1),
});

export const PongMessage = z.object({ type: z.literal('pong'), id: z.string().optional() });

/** Stable codes of `error` messages. */
export const WsErrorCode = z.enum([
  'BAD_MESSAGE',
  'MESSAGE_TOO_LARGE',
  'TOO_MANY_SUBSCRIPTIONS',
  'DUPLICATE_SUBSCRIPTION',
  'UNKNOWN_SUBSCRIPTION',
]);
export type WsErrorCode = z.infer<typeof WsErrorCode>;

/** Server → client: a message was refused. The connection stays up. */
export const ErrorMessage = z.object({
  type: z.literal('error'),
  code: WsErrorCode,
  message: z.string(),
  sub: SubscriptionId.optional(),
});

export const ServerMessage = z.discriminatedUnion('type', [
  HelloMessage,
  SnapshotMessage,
  ResumedMessage,
  ChangeMessage,
  PongMessage,
  ErrorMessage,
]);
export type ServerMessage = z.infer<typeof ServerMessage>;
export type HelloMessage = z.infer<typeof HelloMessage>;
export type SnapshotMessage = z.infer<typeof SnapshotMessage>;
export type ResumedMessage = z.infer<typeof ResumedMessage>;
export type ChangeMessage = z.infer<typeof ChangeMessage>;
export type PongMessage = z.infer<typeof PongMessage>;
export type ErrorMessage = z.infer<typeof ErrorMessage>;
export type SubscribeMessage = z.infer<typeof SubscribeMessage>;

/** WebSocket close codes the server uses. */
export const CLOSE_CODES = {
  /** The server is shutting down. */
  goingAway: 1001,
  /** The connection's scoped read token expired. */
  policyViolation: 1008,
  /** The client stopped reading and its send buffer passed the limit. */
  tryAgainLater: 1013,
} as const;
