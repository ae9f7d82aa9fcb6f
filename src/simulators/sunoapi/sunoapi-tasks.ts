import { z } from 'zod';
import type { TimelineStep } from '../kit/job-timeline.js';
import { planTimeline, stepAt } from '../kit/job-timeline.js';
import type { JobModelOptions } from '../kit/simulator.js';
import { createRandom, hexId, seededUuid } from '../kit/seeded-random.js';
import { WebhookUrlError } from '../kit/webhook-sender.js';
import type { MidiInstrument } from './sunoapi-midi-data.js';
import { midiInstruments } from './sunoapi-midi-data.js';
import type { SunoSeparationType } from '../../providers/sunoapi/sunoapi-schemas.js';
import type { SunoTaskState } from './sunoapi-task-state.js';

/** Separation states (the record's `successFlag` strings, CALLBACK_EXCEPTION added later). */
export const SeparationState = z.enum(['PENDING', 'SUCCESS', 'CREATE_TASK_FAILED', 'GENERATE_AUDIO_FAILED']);
export type SeparationState = z.infer<typeof SeparationState>;
/** MIDI states, mapped to `successFlag` 0..3. */
export const MidiState = z.enum(['PENDING', 'SUCCESS', 'CREATE_TASK_FAILED', 'GENERATE_FAILED']);
export type MidiState = z.infer<typeof MidiState>;

/** One separated track: record field, callback field, `originData` group name and file name. */
export interface Stem {
  readonly id: string;
  readonly file: string;
  readonly recordField: string;
  readonly callbackField: string;
  readonly group: string;
}

interface TaskBase<S extends string> {
  readonly id: string;
  readonly callBackUrl: string;
  readonly createdAt: number;
  readonly timeline: readonly TimelineStep<S>[];
  readonly outcome: 'succeeded' | 'failed';
}

/** A vocal-removal task. */
export interface SeparationTask extends TaskBase<SeparationState> {
  readonly kind: 'separation';
  readonly sourceTaskId: string;
  readonly audioId: string;
  readonly type: SunoSeparationType;
  readonly stems: readonly Stem[];
  /** Set when every callback attempt failed: the record then reports CALLBACK_EXCEPTION. */
  callbackFailed: boolean;
}

/** A MIDI generation task. */
export interface MidiTask extends TaskBase<MidiState> {
  readonly kind: 'midi';
  readonly separation: SeparationTask;
  readonly audioId: string | undefined;
  readonly instruments: readonly MidiInstrument[];
  /** Seed for the callback's string/number mix, so retries and duplicates carry the same body. */
  readonly callbackSeed: number;
}

/** Any task the simulator tracks; `kind` tells them apart. */
export type SunoTask = SeparationTask | MidiTask;

const SEPARATE_VOCAL: [string, string, string][] = [
  ['origin', 'originUrl', 'Origin'],
  ['instrumental', 'instrumentalUrl', 'Instrumental'],
  ['vocal', 'vocalUrl', 'Vocals'],
];
const SPLIT_STEM: [string, string, string][] = [
  ['origin', 'originUrl', 'Origin'],
  ['vocal', 'vocalUrl', 'Vocals'],
  ['backing_vocals', 'backingVocalsUrl', 'Backing Vocals'],
  ['drums', 'drumsUrl', 'Drums'],
  ['bass', 'bassUrl', 'Bass'],
  ['guitar', 'guitarUrl', 'Guitar'],
  ['keyboard', 'keyboardUrl', 'Keyboard'],
  ['percussion', 'percussionUrl', 'Percussion'],
  ['strings', 'stringsUrl', 'Strings'],
  ['synth', 'synthUrl', 'Synth'],
  ['fx', 'fxUrl', 'FX'],
  ['brass', 'brassUrl', 'Brass'],
  ['woodwinds', 'woodwindsUrl', 'Woodwinds'],
];

/** Options of {@link SunoTasks}. */
export interface SunoTasksOptions extends JobModelOptions {
  /** Builds the callback body when a task reaches its terminal state. */
  callbackBody: (task: SunoTask) => unknown;
  /** Share of MIDI tasks that find no notes. @default EMPTY_MIDI_RATE of the separation's type */
  emptyMidiRate?: number | undefined;
}

/** The simulator's task table, planning timelines and sending the terminal callback. */
export class SunoTasks {
  readonly #opts: SunoTasksOptions;
  readonly #tasks = new Map<string, SunoTask>();

  constructor(opts: SunoTasksOptions) {
    this.#opts = opts;
    opts.webhooks.events.subscribe((e) => {
      const task = this.#tasks.get(e.key);
      if (e.type === 'failed' && e.willRetry === false && task?.kind === 'separation') task.callbackFailed = true;
    });
  }

  /** Creates a vocal-removal task. */
  createSeparation(req: { taskId: string; audioId: string; type: SunoSeparationType; callBackUrl: string }): SeparationTask {
    const { random } = this.#opts;
    const failed = random() < this.#opts.faults().jobFailureRate;
    const failure: SeparationState = random() < 0.2 ? 'CREATE_TASK_FAILED' : 'GENERATE_AUDIO_FAILED';
    const layout = req.type === 'split_stem' ? SPLIT_STEM : SEPARATE_VOCAL;
    const id = this.#newId();
    const task: SeparationTask = {
      kind: 'separation',
      id,
      sourceTaskId: req.taskId,
      audioId: req.audioId,
      type: req.type,
      callBackUrl: req.callBackUrl,
      callbackFailed: false,
      stems: layout.map(([file, recordField, group]) => ({
        id: seededUuid(random),
        file,
        recordField,
        callbackField: `${file}_url`,
        group,
      })),
      ...this.#plan(failed ? failure : 'SUCCESS', 1000, 3000),
      outcome: failed ? 'failed' : 'succeeded',
    };
    return this.#add(task);
  }

  /** Creates a MIDI task from a finished separation. */
  createMidi(separation: SeparationTask, req: { callBackUrl: string; audioId?: string }): MidiTask {
    const { random } = this.#opts;
    const failed = random() < this.#opts.faults().jobFailureRate;
    const failure: MidiState = random() < 0.2 ? 'CREATE_TASK_FAILED' : 'GENERATE_FAILED';
    const id = this.#newId();
    const task: MidiTask = {
      kind: 'midi',
      id,
      separation,
      audioId: req.audioId,
      callBackUrl: req.callBackUrl,
      instruments: failed ? [] : midiInstruments(createRandom(Math.floor(random() * 2 ** 32)), separation.type, this.#opts.emptyMidiRate),
      callbackSeed: Math.floor(random() * 2 ** 32),
      ...this.#plan(failed ? failure : 'SUCCESS', 2000, 6000),
      outcome: failed ? 'failed' : 'succeeded',
    };
    return this.#add(task);
  }

  /** The task with this id, or `undefined`. */
  get(id: string): SunoTask | undefined {
    return this.#tasks.get(id);
  }

  /** The task's planned state now. */
  state<T extends SunoTask>(task: T): T['timeline'][number]['status'] {
    return stepAt(task.timeline, this.#opts.now()).status;
  }

  /** When the task reached its terminal state, or `null` while it is pending. */
  completedAt(task: SunoTask): number | null {
    const last = task.timeline[task.timeline.length - 1];
    return last !== undefined && last.atMs <= this.#opts.now() ? Math.round(last.atMs) : null;
  }

  /** Every task in creation order (a MIDI task after its separation), as the state file keeps them. */
  save(): SunoTaskState[] {
    return [...this.#tasks.values()].map((task) => {
      const common = { id: task.id, callBackUrl: task.callBackUrl, createdAt: task.createdAt, outcome: task.outcome };
      if (task.kind === 'separation') {
        const { sourceTaskId, audioId, type, stems, callbackFailed } = task;
        return { kind: 'separation', ...common, timeline: [...task.timeline], sourceTaskId, audioId, type, stems: [...stems], callbackFailed };
      }
      return {
        kind: 'midi',
        ...common,
        timeline: [...task.timeline],
        separationId: task.separation.id,
        ...(task.audioId === undefined ? {} : { audioId: task.audioId }),
        instruments: [...task.instruments],
        callbackSeed: task.callbackSeed,
      };
    });
  }

  /**
   * Takes back tasks from a state file (call before serving; the schema has checked that each
   * MIDI task follows its separation). The terminal callback of a task still pending on the
   * clock is scheduled again; a task that ended while the simulator was down sends none.
   */
  restore(saved: readonly SunoTaskState[]): void {
    const now = this.#opts.now();
    for (const state of saved) {
      let task: SunoTask;
      if (state.kind === 'separation') task = state;
      else {
        const { separationId, audioId, ...rest } = state;
        const separation = this.#tasks.get(separationId);
        if (separation?.kind !== 'separation') {
          throw new RangeError(`MIDI task ${state.id} names no earlier separation ${separationId}`);
        }
        task = { ...rest, separation, audioId };
      }
      this.#tasks.set(task.id, task);
      this.#schedule(task, now);
    }
  }

  #plan<S extends string>(terminal: S, minMs: number, maxMs: number): { createdAt: number; timeline: TimelineStep<S | 'PENDING'>[] } {
    const createdAt = this.#opts.now();
    const timeline = planTimeline<S | 'PENDING'>({
      startedAt: createdAt,
      speed: this.#opts.speed,
      random: this.#opts.random,
      steps: [
        { status: 'PENDING', minMs, maxMs },
        { status: terminal, minMs: 0, maxMs: 0 },
      ],
    });
    return { createdAt, timeline };
  }

  #add<T extends SunoTask>(task: T): T {
    this.#tasks.set(task.id, task);
    this.#schedule(task);
    return task;
  }

  /** A fresh id; a restored task may hold the id the same seed draws again after a restart. */
  #newId(): string {
    let id = hexId(this.#opts.random, 32);
    while (this.#tasks.has(id)) id = hexId(this.#opts.random, 32);
    return id;
  }

  /** Schedules the terminal callback, unless the task ended at or before `after`. */
  #schedule(task: SunoTask, after?: number): void {
    const end = task.timeline[task.timeline.length - 1]?.atMs ?? task.createdAt;
    if (after !== undefined && end <= after) return;
    this.#opts.timers.schedule(() => {
      try {
        this.#opts.webhooks.send(task.callBackUrl, this.#opts.callbackBody(task), task.id);
      } catch (error) {
        // Only a restored task can get here (create checks the URL): a state file written with
        // allowRemoteWebhooks, read without it. The task stays pollable.
        if (!(error instanceof WebhookUrlError)) throw error;
      }
    }, Math.max(0, end - this.#opts.now()));
  }
}
