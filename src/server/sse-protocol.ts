import { z } from 'zod';
import { JobSnapshot } from '../streams/job-snapshot.js';
import { JobStatus } from '../streams/job-status.js';

/**
 * The Server-Sent Events of `GET /v1/events` and `GET /v1/jobs/:id/events`: the event names and
 * the JSON of their `data`, as zod schemas a client can validate with. Browser-safe (zod only).
 * docs/protocol.md, "Server-Sent Events", has the conversation.
 *
 * Each `change` event's `id` is `<epoch>:<seq>`; a client that reconnects sends the last one as
 * `Last-Event-ID` (browsers do it by themselves) and gets exactly what it missed.
 */

/**
 * `event: snapshot`: the matching jobs as of `seq`, in pages of up to 500 jobs; the last page
 * has `more: false` and carries the event id. `reason` as in the WebSocket protocol:
 * `subscribe` (a new stream), `resume-by-state` (the change log no longer had everything missed:
 * only the jobs that changed since; keep the others), `resume-unavailable` (another epoch:
 * replace everything with this).
 */
export const SseSnapshot = z.object({
  epoch: z.string(),
  seq: z.number().int().nonnegative(),
  reason: z.enum(['subscribe', 'resume-by-state', 'resume-unavailable']),
  jobs: z.array(JobSnapshot),
  more: z.boolean(),
});
export type SseSnapshot = z.infer<typeof SseSnapshot>;

/** `event: resumed`: `Last-Event-ID` was accepted; the changes after `seq` follow. */
export const SseResumed = z.object({ epoch: z.string(), seq: z.number().int().nonnegative() });
export type SseResumed = z.infer<typeof SseResumed>;

/** `event: change`: one new version of a matching job (`id: <epoch>:<seq>`). */
export const SseChange = z.object({
  seq: z.number().int().positive(),
  job: JobSnapshot,
  previousStatus: JobStatus.nullable(),
});
export type SseChange = z.infer<typeof SseChange>;

/**
 * `event: end`: the stream is over and will not resume: `settled` (the one job of
 * `/v1/jobs/:id/events` will not change again) or `token-expired`. Close the `EventSource`:
 * reconnecting gets `204` (settled) or `401`.
 */
export const SseEnd = z.object({ reason: z.enum(['settled', 'token-expired']) });
export type SseEnd = z.infer<typeof SseEnd>;

/** The id of the event that carries `seq` of `epoch`. */
export function eventId(epoch: string, seq: number): string {
  return `${epoch}:${seq}`;
}

/** The `{ epoch, seq }` of an event id, or `undefined` when it is not one. */
export function parseEventId(id: string): { epoch: string; seq: number } | undefined {
  const at = id.lastIndexOf(':');
  if (at <= 0 || at > 128) return undefined;
  const seq = id.slice(at + 1);
  if (!/^\d{1,15}$/.test(seq)) return undefined;
  return { epoch: id.slice(0, at), seq: Number(seq) };
}
