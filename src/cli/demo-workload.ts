import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Subscription } from 'rxjs';
import { wavFile } from '../simulators/kit/media.js';
import type { Engine } from '../streams/engine.js';
import type { SubmitRequest } from '../streams/engine-requests.js';

/** One kind of sample job the demo submits. */
interface Sample {
  label: string;
  request: (n: number, samples: SampleFiles) => SubmitRequest;
}

/** Paths of the sample audio files. */
export interface SampleFiles {
  riff: string;
  song: string;
  interview: string;
}

const file = (path: string, filename: string) => ({ type: 'file' as const, path, filename, contentType: 'audio/wav' });

/**
 * Every provider and job kind, in turn. sunoapi.org MIDI jobs are not in the rotation: they are
 * chained after each vocal separation that succeeds (MIDI needs a finished separation).
 */
const ROTATION: Sample[] = [
  {
    label: 'riff',
    request: (n, s) => ({
      provider: 'klangio',
      kind: 'transcription',
      input: file(s.riff, 'riff.wav'),
      name: `guitar riff #${n}`,
      options: { model: 'guitar', outputs: ['mxml', 'midi', 'pdf'] },
    }),
  },
  { label: 'song', request: (n, s) => ({ provider: 'musicai', kind: 'workflow', input: file(s.song, 'song.wav'), name: `four stems #${n}`, options: { workflow: 'stems-four' } }) },
  {
    label: 'interview',
    request: (n, s) => ({ provider: 'cambai', kind: 'transcription', input: file(s.interview, 'interview.wav'), name: `interview #${n}`, options: { language: 1 } }),
  },
  {
    label: 'separation',
    request: (n) => ({
      provider: 'sunoapi',
      kind: 'vocal-separation',
      name: `vocal split #${n}`,
      options: { taskId: `suno-music-${n}`, audioId: `suno-track-${n}`, type: n % 2 === 0 ? 'split_stem' : 'separate_vocal' },
    }),
  },
  { label: 'chords', request: (n, s) => ({ provider: 'klangio', kind: 'chord-recognition', input: file(s.song, 'song.wav'), name: `chords #${n}`, options: { vocabulary: 'full' } }) },
  { label: 'vocals', request: (n, s) => ({ provider: 'musicai', kind: 'workflow', input: file(s.song, 'song.wav'), name: `vocals #${n}`, options: { workflow: 'vocals-accompaniment' } }) },
  { label: 'beats', request: (n, s) => ({ provider: 'klangio', kind: 'beat-tracking', input: file(s.song, 'song.wav'), name: `beats #${n}` }) },
  {
    label: 'spanish',
    request: (n, s) => ({ provider: 'cambai', kind: 'transcription', input: file(s.interview, 'entrevista.wav'), name: `entrevista #${n}`, options: { language: 54 } }),
  },
  { label: 'chords+', request: (n, s) => ({ provider: 'klangio', kind: 'chord-recognition-extended', input: file(s.riff, 'riff.wav'), name: `key and chords #${n}` }) },
  { label: 'strums', request: (n, s) => ({ provider: 'klangio', kind: 'strum-recognition', input: file(s.riff, 'riff.wav'), name: `strums #${n}` }) },
  { label: 'bpm', request: (n, s) => ({ provider: 'musicai', kind: 'workflow', input: file(s.song, 'song.wav'), name: `beat map #${n}`, options: { workflow: 'untitled-workflow-e78c2e' } }) },
  {
    label: 'stems',
    request: (n, s) => ({ provider: 'klangio', kind: 'source-separation', input: file(s.song, 'song.wav'), name: `six stems #${n}`, options: { model: 'six-stems' } }),
  },
];

/** The sample audio the demo writes to `<dataDir>/samples/` (and tells the user about). */
export const SAMPLE_FILES = ['riff.wav', 'song.wav', 'interview.wav'] as const;

/** Generates the sample audio into `<dataDir>/samples/` and returns where each file is. */
export async function writeSamples(dataDir: string): Promise<SampleFiles> {
  const dir = join(dataDir, 'samples');
  await mkdir(dir, { recursive: true });
  const [riff, song, interview] = SAMPLE_FILES.map((name) => join(dir, name)) as [string, string, string];
  await writeFile(riff, wavFile({ seconds: 1, frequencyHz: 196 }));
  await writeFile(song, wavFile({ seconds: 2, frequencyHz: 220 }));
  await writeFile(interview, wavFile({ seconds: 1.5, channels: 1, frequencyHz: 150 }));
  return { riff, song, interview };
}

/** A running trickle of sample jobs; see {@link startWorkload}. */
export interface Workload {
  /** How many jobs it has submitted. */
  readonly submitted: number;
  stop(): void;
}

/**
 * Submits one sample job every `intervalMs`, cycling through every provider and job kind, and
 * chains a sunoapi.org MIDI job after each vocal separation that succeeds. Sample audio is
 * generated into `<dataDir>/samples` (see {@link writeSamples}) unless `samples` are given.
 * Submission errors are reported, never thrown.
 */
export async function startWorkload(
  engine: Engine,
  options: { dataDir: string; intervalMs: number; onError: (message: string) => void; samples?: SampleFiles },
): Promise<Workload> {
  const samples = options.samples ?? (await writeSamples(options.dataDir));

  const configured = new Set(engine.providers);
  const rotation = ROTATION.filter((sample) => configured.has(sample.request(0, samples).provider));
  let submitted = 0;
  let next = 0;
  const submit = (request: SubmitRequest): void => {
    submitted += 1;
    engine.submit(request).catch((error: unknown) => options.onError(`could not submit ${request.name ?? request.kind}: ${(error as Error).message}`));
  };

  // reached$, not changes$({ statuses: ['succeeded'] }): that also matches the separation's
  // later result-copy change, and submitted every MIDI job twice.
  const chained: Subscription = engine.reached$('succeeded', { providers: ['sunoapi'], kinds: ['vocal-separation'] }).subscribe((job) => {
    if (job.externalId === null) return;
    submit({ provider: 'sunoapi', kind: 'midi', name: `MIDI of ${job.name ?? job.id}`, options: { taskId: job.externalId } });
  });

  const tick = (): void => {
    const sample = rotation[next % rotation.length];
    next += 1;
    if (sample !== undefined) submit(sample.request(Math.floor((next - 1) / rotation.length) + 1, samples));
  };
  tick();
  const timer = setInterval(tick, options.intervalMs);

  return {
    get submitted() {
      return submitted;
    },
    stop() {
      clearInterval(timer);
      chained.unsubscribe();
    },
  };
}
