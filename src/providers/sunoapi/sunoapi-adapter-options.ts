import { z } from 'zod';
import type { RequestIssue } from '../../streams/errors.js';
import { requestIssuesOf } from '../adapter-scaffold.js';
import { SunoSeparationType } from './sunoapi-schemas.js';

/**
 * The sunoapi.org job kinds: `vocal-separation` splits a finished Suno track
 * (`/api/v1/vocal-removal/generate`), `midi` turns a finished separation into notes
 * (`/api/v1/midi/generate`).
 */
export const SUNOAPI_KINDS = ['vocal-separation', 'midi'] as const;

const TaskId = z
  .string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a string') })
  .trim()
  .min(1)
  .max(200);

/**
 * Options of a `vocal-separation` job: the Suno music task and the track in it to separate.
 *
 * @example { taskId: '5c79…be8e', audioId: 'e231…', type: 'split_stem' }
 */
export const SunoapiSeparationOptions = z.strictObject({
  /** The Suno music-generation task the track belongs to. */
  taskId: TaskId,
  /** The track (audio id) within that task. */
  audioId: TaskId,
  /** `separate_vocal`: vocals + instrumental; `split_stem`: up to twelve stems. @default 'separate_vocal' */
  type: SunoSeparationType.default('separate_vocal'),
});
export type SunoapiSeparationOptions = z.infer<typeof SunoapiSeparationOptions>;

/**
 * Options of a `midi` job: a finished separation task and, optionally, one of its tracks
 * (without it, every separated track is transcribed).
 */
export const SunoapiMidiOptions = z.strictObject({
  /** The id of a finished vocal-separation task (the `externalId` of a `vocal-separation` job). */
  taskId: TaskId,
  /** One track id of that separation (its `originData[].id`). */
  audioId: TaskId.optional(),
});
export type SunoapiMidiOptions = z.infer<typeof SunoapiMidiOptions>;

/** A job's options with defaults applied, tagged with its kind. */
export type SunoapiJobOptions = ({ kind: 'vocal-separation' } & SunoapiSeparationOptions) | ({ kind: 'midi' } & SunoapiMidiOptions);

/** The outcome of {@link parseSunoapiOptions}. */
export type ParsedSunoapiOptions = { ok: true; options: SunoapiJobOptions } | { ok: false; issues: RequestIssue[] };

/**
 * Validates a job's options for its kind and applies the defaults.
 *
 * @example parseSunoapiOptions('midi', { taskId: 'abc' }) // { ok: true, options: { kind: 'midi', taskId: 'abc' } }
 */
export function parseSunoapiOptions(kind: string, options: unknown): ParsedSunoapiOptions {
  if (kind === 'vocal-separation') {
    const parsed = SunoapiSeparationOptions.safeParse(options);
    return parsed.success ? { ok: true, options: { kind, ...parsed.data } } : { ok: false, issues: requestIssuesOf(parsed.error) };
  }
  if (kind === 'midi') {
    const parsed = SunoapiMidiOptions.safeParse(options);
    return parsed.success ? { ok: true, options: { kind, ...parsed.data } } : { ok: false, issues: requestIssuesOf(parsed.error) };
  }
  return { ok: false, issues: [{ field: 'kind', reason: `sunoapi has no job kind "${kind}" (kinds: ${SUNOAPI_KINDS.join(', ')})` }] };
}
