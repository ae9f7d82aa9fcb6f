import { z } from 'zod';
import { simulatorStateSchema, timelineSchema } from '../kit/state-file.js';
import { CambaiTranscriptSegment } from './cambai-schemas.js';

/**
 * A task as the state file keeps it: ids, the planned timeline in absolute times (the first
 * step starts at creation), the decided ending, the transcript and the file-URL signature.
 * The media are not kept: everything they decide is in `ending`.
 */
export const CambaiTaskState = z.object({
  taskId: z.string().min(1),
  runId: z.number().int(),
  timeline: timelineSchema(z.enum(['PENDING', 'DONE'])),
  ending: z.union([
    z.object({ status: z.literal('SUCCESS') }),
    z.object({ status: z.enum(['ERROR', 'TIMEOUT', 'PAYMENT_REQUIRED']), exception_reason: z.string().nullable(), message: z.string() }),
  ]),
  transcript: z.array(CambaiTranscriptSegment),
  fileSignature: z.string().min(1),
});
export type CambaiTaskState = z.infer<typeof CambaiTaskState>;

/** The Camb.ai simulator's state file: every task, and the run id the next task gets. */
export const CambaiState = simulatorStateSchema('cambai', {
  nextRunId: z.number().int(),
  tasks: z.array(CambaiTaskState),
}).superRefine((state, ctx) => {
  const runs = new Set<number>();
  state.tasks.forEach((task, index) => {
    if (runs.has(task.runId)) ctx.addIssue({ code: 'custom', path: ['tasks', index, 'runId'], message: 'run id used twice' });
    if (task.runId >= state.nextRunId) ctx.addIssue({ code: 'custom', path: ['tasks', index, 'runId'], message: 'not below nextRunId' });
    runs.add(task.runId);
  });
});
export type CambaiState = z.infer<typeof CambaiState>;
