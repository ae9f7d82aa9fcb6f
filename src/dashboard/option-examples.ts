/// <reference lib="dom" />
import type { JobSnapshot } from '../client/index.js';

/** Per provider and kind, options that make a sensible first job (see the README's table). */
const EXAMPLES: Record<string, Record<string, Record<string, unknown>>> = {
  klangio: {
    transcription: { model: 'guitar', outputs: ['mxml', 'midi'] },
    'chord-recognition': { vocabulary: 'full' },
    'chord-recognition-extended': { vocabulary: 'full' },
    'beat-tracking': {},
    'strum-recognition': {},
    'source-separation': { model: 'four-stems' },
  },
  musicai: { workflow: { workflow: 'stems-four' } },
  cambai: { transcription: { language: 1 } },
  sunoapi: {
    'vocal-separation': { taskId: '...', audioId: '...' },
    midi: { taskId: "<a succeeded separation's externalId>" },
  },
};

/**
 * The options JSON to prefill for a provider and kind. A sunoapi.org MIDI job works on a
 * finished vocal separation: the newest one in `jobs` is filled in when there is one.
 *
 * @example exampleOptions('cambai', 'transcription', jobs) // '{ "language": 1 }'
 */
export function exampleOptions(provider: string, kind: string, jobs: ReadonlyMap<string, JobSnapshot>): string {
  let example = EXAMPLES[provider]?.[kind] ?? {};
  if (provider === 'sunoapi' && kind === 'midi') {
    const separation = newestSucceeded(jobs, 'sunoapi', 'vocal-separation');
    if (separation?.externalId) example = { taskId: separation.externalId };
  }
  return Object.keys(example).length === 0 ? '{}' : JSON.stringify(example, null, 2);
}

/** Whether jobs of this provider take no audio (they work on an earlier task named in the options). */
export function takesNoInput(provider: string): boolean {
  return provider === 'sunoapi';
}

function newestSucceeded(jobs: ReadonlyMap<string, JobSnapshot>, provider: string, kind: string): JobSnapshot | undefined {
  let newest: JobSnapshot | undefined;
  for (const job of jobs.values()) {
    if (job.provider === provider && job.kind === kind && job.status === 'succeeded' && (newest === undefined || job.createdAt > newest.createdAt)) newest = job;
  }
  return newest;
}
