import { z } from 'zod';

const rate = z.number().min(0).max(1);

/** Webhook delivery faults, each a probability per delivery. */
export const WebhookFaults = z.object({
  /** Probability that a delivery is sent twice. @default 0 */
  duplicateRate: rate.default(0),
  /** Probability that a delivery is held back and released after the next one for the same key. @default 0 */
  reorderRate: rate.default(0),
  /** Probability that a delivery is silently never sent. @default 0 */
  dropRate: rate.default(0),
  /** Probability that a delivery is delayed by `lateMs`. @default 0 */
  lateRate: rate.default(0),
  /** Delay of late deliveries, and the longest a reordered delivery is held. @default 1000 */
  lateMs: z.number().int().min(0).default(1000),
});
export type WebhookFaults = z.infer<typeof WebhookFaults>;

/** Fixed-window rate limit per API key. */
export const RateLimit = z.object({
  /** Requests allowed per window. */
  limit: z.number().int().min(1),
  /** Window length in milliseconds. */
  windowMs: z.number().int().min(1),
  /** Value of the `Retry-After` header on refused requests (seconds). */
  retryAfterSeconds: z.number().int().min(0),
});
export type RateLimit = z.infer<typeof RateLimit>;

/**
 * The fault knobs every simulator understands. Every field is defaulted, so
 * `FaultProfile.parse({})` means "no faults at all".
 *
 * @example
 * const faults = FaultProfile.parse({ serverErrorRate: 0.1, webhook: { dropRate: 0.5 } });
 */
export const FaultProfile = z.object({
  /** Extra latency added to every answer, drawn uniformly in [min, max] ms. @default {min:0,max:0} */
  latencyMs: z
    .object({ min: z.number().min(0).default(0), max: z.number().min(0).default(0) })
    .refine((l) => l.max >= l.min, 'latencyMs.max must be >= latencyMs.min')
    .default({ min: 0, max: 0 }),
  /** Probability that a request is answered with 500, 502 or 503. @default 0 */
  serverErrorRate: rate.default(0),
  /** Probability that an answer is delayed by `slowMs`. @default 0 */
  slowRate: rate.default(0),
  /** Delay of slow answers in milliseconds. @default 5000 */
  slowMs: z.number().int().min(0).default(5000),
  /** Fixed-window rate limit per API key, or `null` for none. @default null */
  rateLimit: RateLimit.nullable().default(null),
  /** Probability that a job ends in the provider's failure state. @default 0 */
  jobFailureRate: rate.default(0),
  /** Webhook delivery faults. */
  webhook: WebhookFaults.default(() => WebhookFaults.parse({})),
});
export type FaultProfile = z.infer<typeof FaultProfile>;

/** A partial fault profile, nested objects partial too (what `setFaults` accepts). */
export interface FaultProfilePatch {
  latencyMs?: { min?: number; max?: number };
  serverErrorRate?: number;
  slowRate?: number;
  slowMs?: number;
  rateLimit?: RateLimit | null;
  jobFailureRate?: number;
  webhook?: Partial<WebhookFaults>;
}

/**
 * Returns `base` with the fields of `partial` applied (nested objects merged) and
 * validated again; throws a zod error on out-of-range values.
 *
 * @example
 * mergeFaults(faultPresets.none, { webhook: { duplicateRate: 1 } });
 */
export function mergeFaults(base: FaultProfile, partial: FaultProfilePatch | Partial<FaultProfile>): FaultProfile {
  return FaultProfile.parse({
    ...base,
    ...partial,
    latencyMs: { ...base.latencyMs, ...partial.latencyMs },
    webhook: { ...base.webhook, ...partial.webhook },
    rateLimit: partial.rateLimit === undefined ? base.rateLimit : partial.rateLimit,
  });
}

const none = FaultProfile.parse({});

/**
 * Ready-made profiles: `none`; `mild` (a little latency, 2% 5xx, 5% duplicate webhooks,
 * 10% job failures); `hostile` (10% 5xx, 429 bursts, 20% duplicate, 20% reordered,
 * 10% dropped webhooks, 5% slow answers, 15% job failures).
 *
 * @example
 * startKlangioSimulator({ faults: faultPresets.mild });
 */
export const faultPresets: { readonly none: FaultProfile; readonly mild: FaultProfile; readonly hostile: FaultProfile } = {
  none,
  mild: mergeFaults(none, {
    latencyMs: { min: 5, max: 40 },
    serverErrorRate: 0.02,
    jobFailureRate: 0.1,
    webhook: { duplicateRate: 0.05 },
  }),
  hostile: mergeFaults(none, {
    latencyMs: { min: 20, max: 150 },
    serverErrorRate: 0.1,
    slowRate: 0.05,
    slowMs: 3000,
    rateLimit: { limit: 5, windowMs: 1000, retryAfterSeconds: 1 },
    jobFailureRate: 0.15,
    webhook: { duplicateRate: 0.2, reorderRate: 0.2, dropRate: 0.1, lateRate: 0.1, lateMs: 1500 },
  }),
};
