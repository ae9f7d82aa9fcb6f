import { z } from 'zod';
import { simulatorStateSchema, timelineSchema } from '../kit/state-file.js';
import { KlangioJobKind, KlangioSimStatus } from './klangio-jobs.js';
import { KlangioOutput, KlangioSeparationModel, KlangioVocabulary } from '../../providers/klangio/klangio-schemas.js';

/**
 * A job as the state file keeps it: the request (with `outputs` as a list: the outputs it
 * produces, which its create answer flagged and which may differ from those asked for), the planned
 * timeline in absolute times, the decided outcome and the seed its results are drawn from.
 */
export const KlangioJobState = z.object({
  id: z.string().regex(/^[0-9a-f]+$/),
  kind: KlangioJobKind,
  createdAt: z.number(),
  webhookUrl: z.string().exactOptional(),
  model: z.string().exactOptional(),
  title: z.string().exactOptional(),
  composer: z.string().exactOptional(),
  outputs: z.array(KlangioOutput).exactOptional(),
  vocabulary: KlangioVocabulary.exactOptional(),
  separationModel: KlangioSeparationModel.exactOptional(),
  audioFormat: z.enum(['wav', 'mp3']).exactOptional(),
  timeline: timelineSchema(KlangioSimStatus),
  outcome: z.enum(['succeeded', 'failed']),
  error: z.string().exactOptional(),
  resultSeed: z.number().int().nonnegative(),
});
export type KlangioJobState = z.infer<typeof KlangioJobState>;

/** The Klangio simulator's state file. */
export const KlangioState = simulatorStateSchema('klangio', { jobs: z.array(KlangioJobState) });
export type KlangioState = z.infer<typeof KlangioState>;

