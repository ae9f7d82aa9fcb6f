import { z } from 'zod';
import { simulatorStateSchema, timelineSchema } from '../kit/state-file.js';
import { SunoSeparationType } from '../../providers/sunoapi/sunoapi-schemas.js';
import { MidiState, SeparationState } from './sunoapi-tasks.js';

const common = {
  id: z.string().regex(/^[0-9a-f]+$/),
  callBackUrl: z.string(),
  createdAt: z.number(),
  outcome: z.enum(['succeeded', 'failed']),
};

/** A vocal-removal task as the state file keeps it: request, stems, timeline and outcome. */
export const SunoSeparationTaskState = z.object({
  kind: z.literal('separation'),
  ...common,
  timeline: timelineSchema(SeparationState),
  sourceTaskId: z.string(),
  audioId: z.string(),
  type: SunoSeparationType,
  stems: z.array(
    z.object({ id: z.string(), file: z.string(), recordField: z.string(), callbackField: z.string(), group: z.string() }),
  ),
  callbackFailed: z.boolean(),
});

/**
 * A MIDI task as the state file keeps it: its separation by id, the generated instruments
 * (its result) and the seed of the callback's string/number mix.
 */
export const SunoMidiTaskState = z.object({
  kind: z.literal('midi'),
  ...common,
  timeline: timelineSchema(MidiState),
  separationId: z.string(),
  audioId: z.string().exactOptional(),
  instruments: z.array(
    z.object({
      name: z.string(),
      notes: z.array(z.object({ pitch: z.number(), start: z.number(), end: z.number(), velocity: z.number() })),
    }),
  ),
  callbackSeed: z.number().int().nonnegative(),
});

/** Any task in the state file. */
export const SunoTaskState = z.discriminatedUnion('kind', [SunoSeparationTaskState, SunoMidiTaskState]);
export type SunoTaskState = z.infer<typeof SunoTaskState>;

/**
 * The sunoapi.org simulator's state file: every task in creation order, and the credit
 * balance when it is limited.
 */
export const SunoapiState = simulatorStateSchema('sunoapi', {
  tasks: z.array(SunoTaskState).superRefine((tasks, ctx) => {
    const separations = new Set<string>();
    tasks.forEach((task, index) => {
      if (task.kind === 'separation') separations.add(task.id);
      else if (!separations.has(task.separationId)) {
        ctx.addIssue({ code: 'custom', path: [index, 'separationId'], message: 'names no earlier separation task' });
      }
    });
  }),
  credits: z.number().nonnegative().exactOptional(),
});
export type SunoapiState = z.infer<typeof SunoapiState>;
