import { z } from 'zod';
import { JobFilter } from '../../streams/job-filter.js';
import { JobSnapshot } from '../../streams/job-snapshot.js';
import { JobStatus } from '../../streams/job-status.js';

/** `POST /v1/webhooks`: a new endpoint. */
export const WebhookEndpointInput = z.strictObject({
  url: z.string().min(1).max(2048),
  filter: JobFilter.optional(),
  description: z.string().max(500).optional(),
});
export type WebhookEndpointInput = z.infer<typeof WebhookEndpointInput>;

/** `PATCH /v1/webhooks/:id`: what to change (at least one field). */
export const WebhookEndpointPatch = z
  .strictObject({
    url: z.string().min(1).max(2048).optional(),
    filter: JobFilter.optional(),
    description: z.string().max(500).optional(),
    enabled: z.boolean().optional(),
  })
  .refine((patch) => Object.keys(patch).length > 0, { message: 'name at least one of url, filter, description, enabled' });
export type WebhookEndpointPatch = z.infer<typeof WebhookEndpointPatch>;

/** An endpoint as the API shows it: never its secret. */
export const WebhookEndpoint = z.object({
  id: z.string(),
  url: z.string(),
  filter: JobFilter,
  description: z.string().optional(),
  enabled: z.boolean(),
  /** Why it was disabled (`410 Gone from the receiver`, `disabled by PATCH`), while it is. */
  disabledReason: z.string().optional(),
  /** `env` for the endpoint of `JOBSTREAM_WEBHOOK_URL`, else `api`. */
  source: z.enum(['api', 'env']),
  createdAt: z.number(),
  updatedAt: z.number(),
  /** Deliveries not yet delivered, failed or collapsed. */
  pending: z.number().int().nonnegative(),
});
export type WebhookEndpoint = z.infer<typeof WebhookEndpoint>;

/** An endpoint as the outbox keeps it: with its secret and where its deliveries start. */
export const StoredEndpoint = WebhookEndpoint.omit({ pending: true }).extend({
  secret: z.string(),
  /** The change log position at registration: earlier changes are never delivered to it. */
  epoch: z.string(),
  sinceSeq: z.number().int().nonnegative(),
});
export type StoredEndpoint = z.infer<typeof StoredEndpoint>;

/** One try of a delivery. */
export const DeliveryAttempt = z.object({
  /** 1 for the first try. */
  n: z.number().int().positive(),
  /** Unix milliseconds. */
  at: z.number(),
  /** The receiver's HTTP status, when it answered. */
  statusCode: z.number().int().optional(),
  /** Why there was no answer (timeout, connection refused, address refused). */
  error: z.string().optional(),
  latencyMs: z.number().nonnegative(),
  /** The first 200 characters of the answer, control characters replaced. */
  responseExcerpt: z.string().optional(),
});
export type DeliveryAttempt = z.infer<typeof DeliveryAttempt>;

/** Where a delivery stands. `collapsed`: a newer version of the job was pending, and went instead. */
export const DeliveryStatus = z.enum(['pending', 'delivered', 'failed', 'collapsed']);
export type DeliveryStatus = z.infer<typeof DeliveryStatus>;

/** A delivery as `GET /v1/webhooks/:id/deliveries` shows it. */
export const WebhookDelivery = z.object({
  id: z.string(),
  endpointId: z.string(),
  jobId: z.string(),
  version: z.number().int().positive(),
  /** The `webhook-id` header: `<jobId>.v<version>`, and `.replay-<n>` for a replay. */
  webhookId: z.string(),
  status: DeliveryStatus,
  createdAt: z.number(),
  /** Tries so far (the log keeps the newest 20). */
  attemptCount: z.number().int().nonnegative(),
  attempts: z.array(DeliveryAttempt),
  /** When the next try is due (pending only), unix milliseconds; null when none is planned. */
  nextAttemptAt: z.number().nullable(),
  /** For a collapsed delivery: the delivery that carries the newer version. */
  collapsedInto: z.string().optional(),
  /** For a replay: the delivery it replays. */
  replayOf: z.string().optional(),
});
export type WebhookDelivery = z.infer<typeof WebhookDelivery>;

/**
 * The body of every outbound webhook (Standard Webhooks `{type, timestamp, data}`): the job as
 * it is at `data.job.version`, its status before that change, and the change's place in the log.
 */
export const JobChangedPayload = z.object({
  type: z.literal('job.changed'),
  /** When the change was committed, ISO 8601. */
  timestamp: z.string(),
  data: z.object({
    job: JobSnapshot,
    previousStatus: JobStatus.nullable(),
    epoch: z.string(),
    seq: z.number().int().nonnegative(),
  }),
});
export type JobChangedPayload = z.infer<typeof JobChangedPayload>;
