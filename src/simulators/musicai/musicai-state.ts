import { z } from 'zod';
import { simulatorStateSchema, timelineSchema } from '../kit/state-file.js';
import { MusicaiJobError, MusicaiMetadata } from './musicai-schemas.js';
import { findWorkflow } from './musicai-workflows.js';

const Uuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);

/**
 * An upload slot as the state file keeps it: its id and signatures, and the size and content
 * type of what was PUT (`size: null` when nothing was). The bytes are a file named after the
 * slot id in the uploads folder next to the state file.
 */
export const UploadSlotState = z.object({
  id: Uuid,
  writeSignature: z.string().min(1),
  readSignature: z.string().min(1),
  size: z.number().int().nonnegative().nullable(),
  contentType: z.string().exactOptional(),
});
export type UploadSlotState = z.infer<typeof UploadSlotState>;

/**
 * A job as the state file keeps it: the request (its workflow by slug, turned back into the
 * workflow on reading), the planned timeline in absolute times, everything decided at
 * creation (result signature, BPM the results are drawn from, drawn failure), the input
 * verdict (`null` while a probe was running at close: probed again), the finished
 * `copyResultsTo` uploads (`null` when not finished: run again once the job is done), and
 * whether the job was deleted (kept for `outcome`).
 */
export const MusicaiJobState = z.object({
  id: Uuid,
  name: z.string(),
  workflow: z.string().transform((slug, ctx) => {
    const workflow = findWorkflow(slug);
    if (workflow === undefined) ctx.addIssue({ code: 'custom', message: `unknown workflow ${slug}` });
    return workflow ?? z.NEVER;
  }),
  params: z.record(z.string(), z.unknown()),
  metadata: MusicaiMetadata,
  batchName: z.string().nullable(),
  copyResultsTo: z.record(z.string(), z.string()),
  createdAt: z.number(),
  timeline: timelineSchema(z.enum(['QUEUED', 'STARTED', 'DONE'])),
  resultSignature: z.string().min(1),
  bpm: z.number(),
  drawnFailure: MusicaiJobError.nullable(),
  input: z.object({ verdict: MusicaiJobError.nullable(), at: z.number() }).nullable(),
  copy: z.object({ at: z.number(), error: MusicaiJobError.nullable() }).nullable(),
  deleted: z.boolean(),
});
export type MusicaiJobState = z.infer<typeof MusicaiJobState>;
/** What is written for a job (its workflow as a slug). */
export type MusicaiJobStateInput = z.input<typeof MusicaiJobState>;

/** The Music.AI simulator's state file: the application id, upload slots and jobs (oldest first). */
export const MusicaiState = simulatorStateSchema('musicai', {
  applicationId: z.string().min(1),
  slots: z.array(UploadSlotState),
  jobs: z.array(MusicaiJobState),
});
export type MusicaiState = z.infer<typeof MusicaiState>;
/** What is written to the state file. */
export type MusicaiStateInput = z.input<typeof MusicaiState>;
