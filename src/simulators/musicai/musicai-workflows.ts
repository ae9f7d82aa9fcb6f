import type { MusicaiWorkflow } from './musicai-schemas.js';

/** How the simulator produces one output of a workflow. */
export type MusicaiOutputKind =
  /** A small WAV file (a sine tone) served by the simulator; the result holds its URL. */
  | { kind: 'wav'; frequencyHz: number }
  /** A small JSON file served by the simulator; the result holds its URL. */
  | { kind: 'json' }
  /** A scalar rendered as a string directly in the result (e.g. a BPM). */
  | { kind: 'scalar' };

/** One output of a simulated workflow. */
export type MusicaiOutputSpec = { name: string } & MusicaiOutputKind;

/** A simulated workflow: its public listing plus the outputs it produces. */
export interface MusicaiWorkflowSpec extends MusicaiWorkflow {
  /**
   * The params that take an input file URL, named by the workflow (the dashboard lets each
   * workflow name its inputs: `inputUrl`, `Input1`, `Input 1`, ...). Absent means `['inputUrl']`.
   */
  inputs?: readonly string[];
  outputs: readonly MusicaiOutputSpec[];
}

const created = '2024-12-13T15:11:42.022Z';
const updated = '2024-12-16T18:32:34.723Z';

/**
 * The workflows every simulated application owns. Real workflows are built per application
 * in the dashboard, so these slugs are plausible stand-ins: four stem-separation workflows
 * and the seed document's "Extract Beat map and BPM" example (whose slug looks generated),
 * which returns a scalar next to a file. Most take `{ inputUrl }`; a chords template (namespaced
 * like the SDK README's `music-ai/generate-chords`) takes `Input1`, and a mash-up workflow takes
 * two inputs, `Input 1` and `Input 2` (both spellings appear in clients' code, providers.md Round 2).
 *
 * @example
 * findWorkflow('stems-four')?.outputs.map((o) => o.name); // ['vocals', 'drums', 'bass', 'other']
 */
export const musicaiWorkflows: readonly MusicaiWorkflowSpec[] = [
  {
    id: '3a82e3b2-9de6-4979-986d-78805dd2152b',
    slug: 'vocals-accompaniment',
    name: 'Vocals & Accompaniment',
    description: 'Separates the lead vocals from the rest of the mix.',
    createdAt: created,
    updatedAt: updated,
    outputs: [
      { name: 'vocals', kind: 'wav', frequencyHz: 440 },
      { name: 'accompaniments', kind: 'wav', frequencyHz: 220 },
    ],
  },
  {
    id: '6f1c0d52-8e2b-4b8e-9a37-2f0b6d6a41c1',
    slug: 'stems-four',
    name: '4 Stems',
    description: 'Splits a song into vocals, drums, bass and other instruments.',
    createdAt: created,
    updatedAt: updated,
    outputs: [
      { name: 'vocals', kind: 'wav', frequencyHz: 440 },
      { name: 'drums', kind: 'wav', frequencyHz: 110 },
      { name: 'bass', kind: 'wav', frequencyHz: 55 },
      { name: 'other', kind: 'wav', frequencyHz: 330 },
    ],
  },
  {
    id: '9b7e4f0a-1c3d-4e5f-8a9b-0c1d2e3f4a5b',
    slug: 'stems-six',
    name: '6 Stems',
    description: 'Splits a song into vocals, drums, bass, guitars, piano and other instruments.',
    createdAt: created,
    updatedAt: updated,
    outputs: [
      { name: 'vocals', kind: 'wav', frequencyHz: 440 },
      { name: 'drums', kind: 'wav', frequencyHz: 110 },
      { name: 'bass', kind: 'wav', frequencyHz: 55 },
      { name: 'guitars', kind: 'wav', frequencyHz: 196 },
      { name: 'piano', kind: 'wav', frequencyHz: 262 },
      { name: 'other', kind: 'wav', frequencyHz: 330 },
    ],
  },
  {
    id: 'c4d2a8e6-5b3f-4a1e-9d7c-8e6f4a2b0c9d',
    slug: 'dialogue-music-effects',
    name: 'Dialogue, Music & Effects',
    description: 'Separates dialogue, music and effects tracks of a film or video mix.',
    createdAt: created,
    updatedAt: updated,
    outputs: [
      { name: 'dialogue', kind: 'wav', frequencyHz: 300 },
      { name: 'music', kind: 'wav', frequencyHz: 440 },
      { name: 'effects', kind: 'wav', frequencyHz: 880 },
    ],
  },
  {
    id: '2362a51f-e9f9-4472-bbd2-c40a0cc83ae2',
    slug: 'untitled-workflow-e78c2e',
    name: 'Extract Beat map and BPM',
    description: 'Transcribe song BPM and beats with AI for precise rhythm analysis.',
    createdAt: created,
    updatedAt: updated,
    outputs: [
      { name: 'bpm', kind: 'scalar' },
      { name: 'beats', kind: 'json' },
    ],
  },
  {
    id: '5e0b7a3c-2d4f-4c6a-8b1e-7f9a3c5d2e10',
    slug: 'music-ai/generate-chords',
    name: 'Generate Chords',
    description: 'Detects the chord progression of a song.',
    createdAt: created,
    updatedAt: updated,
    inputs: ['Input1'],
    outputs: [{ name: 'chords', kind: 'json' }],
  },
  {
    id: '8d3f1b6e-4a2c-4e9b-a7d5-1c0e8f2b6a34',
    slug: 'mashup-two-songs',
    name: 'Mash-up',
    description: 'Puts the vocals of one song over the accompaniment of another.',
    createdAt: created,
    updatedAt: updated,
    inputs: ['Input 1', 'Input 2'],
    outputs: [{ name: 'mashup', kind: 'wav', frequencyHz: 523 }],
  },
];

/**
 * The names of a workflow's input params (`['inputUrl']` unless it names its own).
 *
 * @example
 * workflowInputs(findWorkflow('music-ai/generate-chords')!); // ['Input1']
 */
export function workflowInputs(spec: MusicaiWorkflowSpec): readonly string[] {
  return spec.inputs ?? ['inputUrl'];
}

/**
 * Finds a simulated workflow by slug; `undefined` when there is none.
 *
 * @example
 * findWorkflow('nope'); // undefined
 */
export function findWorkflow(slug: string): MusicaiWorkflowSpec | undefined {
  return musicaiWorkflows.find((w) => w.slug === slug);
}

/**
 * The public listing of a workflow (without the simulator's output table).
 *
 * @example
 * workflowListing(musicaiWorkflows[0]!).slug; // 'vocals-accompaniment'
 */
export function workflowListing(spec: MusicaiWorkflowSpec): MusicaiWorkflow {
  const { id, name, slug, description, createdAt, updatedAt } = spec;
  return { id, name, slug, description, createdAt, updatedAt };
}
