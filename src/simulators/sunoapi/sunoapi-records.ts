import { createRandom } from '../kit/seeded-random.js';
import { withStringTimes } from './sunoapi-midi-data.js';
import type { SunoMidiCallback, SunoMidiRecord, SunoMidiSuccessFlag, SunoSeparationCallback, SunoSeparationRecord } from '../../providers/sunoapi/sunoapi-schemas.js';
import type { MidiState, MidiTask, SeparationState, SeparationTask } from './sunoapi-tasks.js';

/** Seconds of the pretend separated audio (the `duration` in `originData`). */
export const STEM_SECONDS = 1;

const SEPARATION_ERRORS: Record<string, string> = {
  CREATE_TASK_FAILED: 'Failed to create the separation task',
  GENERATE_AUDIO_FAILED: 'Vocal separation failed while processing the audio',
};

/** The URL the simulator serves a stem under. */
export function stemUrl(baseUrl: string, task: SeparationTask, file: string): string {
  return `${baseUrl}/files/${task.id}/${file}.wav`;
}

/** `data` of `GET /api/v1/vocal-removal/record-info`. */
export function separationRecord(
  task: SeparationTask,
  state: SeparationState,
  completeTime: number | null,
  baseUrl: string,
): SunoSeparationRecord {
  const succeeded = state === 'SUCCESS';
  let response: SunoSeparationRecord['response'] = null;
  if (succeeded) {
    const u = (field: string): string | null => {
      const stem = task.stems.find((s) => s.recordField === field);
      return stem === undefined ? null : stemUrl(baseUrl, task, stem.file);
    };
    response = {
      originUrl: u('originUrl'),
      instrumentalUrl: u('instrumentalUrl'),
      vocalUrl: u('vocalUrl'),
      backingVocalsUrl: u('backingVocalsUrl'),
      drumsUrl: u('drumsUrl'),
      bassUrl: u('bassUrl'),
      guitarUrl: u('guitarUrl'),
      keyboardUrl: u('keyboardUrl'),
      percussionUrl: u('percussionUrl'),
      stringsUrl: u('stringsUrl'),
      synthUrl: u('synthUrl'),
      fxUrl: u('fxUrl'),
      brassUrl: u('brassUrl'),
      woodwindsUrl: u('woodwindsUrl'),
      originData: task.stems
        .filter((s) => s.file !== 'origin')
        .map((s) => ({ id: s.id, audio_url: stemUrl(baseUrl, task, s.file), stem_type_group_name: s.group, duration: STEM_SECONDS })),
    };
  }
  const failed = state === 'CREATE_TASK_FAILED' || state === 'GENERATE_AUDIO_FAILED';
  return {
    taskId: task.id,
    musicId: task.audioId,
    musicIndex: 0,
    audioId: task.audioId,
    callbackUrl: task.callBackUrl,
    createTime: Math.round(task.createdAt),
    completeTime,
    response,
    successFlag: succeeded && task.callbackFailed ? 'CALLBACK_EXCEPTION' : state,
    errorCode: failed ? 500 : null,
    errorMessage: failed ? (SEPARATION_ERRORS[state] ?? 'Separation failed') : null,
  };
}

/**
 * Which reseller's callback layout the simulator sends: docs.sunoapi.org puts the stems of a
 * separation under `data.vocal_removal_info`, kie.ai under `data.vocal_separation_info`.
 */
export type SunoCallbackShape = 'sunoapi' | 'kie';

/** Callback body of a finished separation, in the layout of `shape`. */
export function separationCallback(task: SeparationTask, state: SeparationState, baseUrl: string, shape: SunoCallbackShape = 'sunoapi'): SunoSeparationCallback {
  const field = shape === 'kie' ? 'vocal_separation_info' : 'vocal_removal_info';
  if (state !== 'SUCCESS') {
    return {
      code: 500,
      msg: SEPARATION_ERRORS[state] ?? 'Separation failed',
      data: { task_id: task.id, [field]: null },
    };
  }
  const info: Record<string, string> = {};
  for (const stem of task.stems) info[stem.callbackField] = stemUrl(baseUrl, task, stem.file);
  return { code: 200, msg: 'vocal Removal generated successfully.', data: { task_id: task.id, [field]: info } };
}

const MIDI_FLAG: Record<MidiState, SunoMidiSuccessFlag> = { PENDING: 0, SUCCESS: 1, CREATE_TASK_FAILED: 2, GENERATE_FAILED: 3 };
const MIDI_ERRORS: Record<string, string> = {
  CREATE_TASK_FAILED: 'Failed to create the MIDI generation task',
  GENERATE_FAILED: 'MIDI generation failed',
};

/**
 * `data` of `GET /api/v1/midi/record-info` (times as numbers only). A success that found no
 * notes has `midiData.instruments` empty, or, from a `split_stem` source, an empty `midiData`
 * (`{}`), as the docs warn it may be.
 */
export function midiRecord(task: MidiTask, state: MidiState, completeTime: number | null): SunoMidiRecord {
  const failed = state === 'CREATE_TASK_FAILED' || state === 'GENERATE_FAILED';
  const emptySplit = task.instruments.length === 0 && task.separation.type === 'split_stem';
  return {
    taskId: task.id,
    recordTaskId: -1,
    audioId: task.audioId ?? null,
    callbackUrl: task.callBackUrl,
    createTime: Math.round(task.createdAt),
    completeTime,
    midiData:
      state !== 'SUCCESS' ? null : emptySplit ? {} : { state: 'complete', instruments: task.instruments.map((i) => ({ name: i.name, notes: [...i.notes] })) },
    successFlag: MIDI_FLAG[state],
    errorCode: failed ? 500 : null,
    errorMessage: failed ? (MIDI_ERRORS[state] ?? 'MIDI generation failed') : null,
  };
}

/**
 * Callback body of a finished MIDI task (start/end mixed numbers and numeric strings). One that
 * found no notes says `state: 'complete'` with `instruments: []`, or, from a `split_stem`
 * source, without `instruments`.
 */
export function midiCallback(task: MidiTask, state: MidiState): SunoMidiCallback {
  if (state !== 'SUCCESS') {
    return { code: 500, msg: MIDI_ERRORS[state] ?? 'MIDI generation failed', task_id: task.id, data: { task_id: task.id, state: 'failed' } };
  }
  if (task.instruments.length === 0 && task.separation.type === 'split_stem') return { code: 200, msg: 'success', task_id: task.id, data: { state: 'complete' } };
  return {
    code: 200,
    msg: 'success',
    task_id: task.id,
    data: { state: 'complete', instruments: withStringTimes(createRandom(task.callbackSeed), task.instruments) },
  };
}
