import { z } from 'zod';
import { JobFilter } from '../streams/job-filter.js';
import { JobSnapshot } from '../streams/job-snapshot.js';
import { JobStatus } from '../streams/job-status.js';

/**
 * The WebSocket protocol of `/v1/stream`: JSON text messages, one object per frame, each with a
 * literal `type`. Client code can validate what it receives with {@link ServerMessage}.
 * See docs/protocol.md for the conversation with examples.
 */

/** A point in the change log to resume from: the last `epoch` and `seq` a client saw. */
export const ResumePoint = z.object({ epoch: z.string().min(1), seq: z.number().int().nonnegative() });
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
 * messages; the last has `more: false`. `reason` is `resume-unavailable` when the client asked
 * to resume but the server could not (another epoch, or changes no longer kept): the client
 * must replace what it had with this snapshot.
 */
export const SnapshotMessage = z.object({
  type: z.literal('snapshot'),
  sub: SubscriptionId,
  epoch: z.string(),
  seq: z.number().int().nonnegative(),
  reason: z.enum(['subscribe', 'resume-unavailable']),
  jobs: z.array(JobSnapshot),
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
  /** The client stopped reading and its send buffer passed the limit. */
  tryAgainLater: 1013,
} as const;
