import { CambaiLanguage, CambaiTranscriptionMode } from '../../providers/cambai/cambai-languages.js';
import type { CambaiValidationIssue } from './cambai-schemas.js';
import type { TaskMedia } from './cambai-task-store.js';
import { issues, parseBoolean, parseInteger, type Loc, type Parsed } from './cambai-validation.js';

/** A parsed multipart body, as `parseBody({ all: true })` gives it. */
export type FormFields = Record<string, string | File | (string | File)[]>;

/** A valid `POST /transcribe` request. */
export interface TranscribeRequest {
  /** A known language id, a known locale (lower case) or `"auto"`. */
  language: CambaiLanguage;
  media: TaskMedia;
  projectName?: string;
  projectDescription?: string;
  folderId?: number;
  transcriptionMode?: CambaiTranscriptionMode;
  runAudioCleaning?: boolean;
}

/** The last value of a form field (FastAPI keeps the last of repeated single-valued fields). */
function field(form: FormFields, name: string): string | File | undefined {
  const value = form[name];
  return Array.isArray(value) ? value.at(-1) : value;
}

/** A text field; a file sent where text is expected is an issue. Empty text counts as absent. */
function text(form: FormFields, name: string, problems: CambaiValidationIssue[]): string | undefined {
  const value = field(form, name);
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') {
    problems.push({ type: 'string_type', loc: ['body', name], msg: 'Input should be a valid string', input: value.name });
    return undefined;
  }
  return value;
}

/** A file field; text sent where a file is expected is an issue (FastAPI's UploadFile check). */
function file(form: FormFields, name: string, problems: CambaiValidationIssue[]): File | undefined {
  const value = field(form, name);
  if (value === undefined || value === '') return undefined;
  if (typeof value === 'string') {
    problems.push(issues.valueError(['body', name], value, "Expected UploadFile, received: <class 'str'>"));
    return undefined;
  }
  return value;
}

/**
 * Validates the multipart body of `POST /transcribe` the way the FastAPI backend does and
 * returns either the request or the issues for a 422. `language` must be a known language id,
 * a known locale or `"auto"`; `transcription_mode` is `fast` or `slow`, `run_audio_cleaning` a
 * boolean; media comes from `media_file` or `media_url`, or their deprecated
 * aliases `file` and `audio_url` (a file wins over a URL when both are sent); `folder_id`
 * must be an integer.
 *
 * @example
 * const parsed = parseTranscribeForm({ language: '1', media_url: 'https://e.com/a.mp3' });
 */
export function parseTranscribeForm(form: FormFields): { ok: true; request: TranscribeRequest } | { ok: false; issues: CambaiValidationIssue[] } {
  const problems: CambaiValidationIssue[] = [];
  let language: CambaiLanguage | undefined;
  const rawLanguage = field(form, 'language');
  if (rawLanguage === undefined) problems.push(issues.missing(['body', 'language']));
  else {
    const parsed = parseLanguage(typeof rawLanguage === 'string' ? rawLanguage : rawLanguage.name, ['body', 'language']);
    if (parsed.ok) language = parsed.value;
    else problems.push(parsed.issue);
  }
  const issuesBeforeMedia = problems.length;
  const upload = file(form, 'media_file', problems) ?? file(form, 'file', problems);
  const url = text(form, 'media_url', problems) ?? text(form, 'audio_url', problems);
  const mediaFieldInvalid = problems.length > issuesBeforeMedia;
  const projectName = text(form, 'project_name', problems);
  const projectDescription = text(form, 'project_description', problems);
  let folderId: number | undefined;
  const rawFolder = text(form, 'folder_id', problems);
  if (rawFolder !== undefined) {
    const parsed = parseInteger(rawFolder, ['body', 'folder_id']);
    if (parsed.ok) folderId = parsed.value;
    else problems.push(parsed.issue);
  }
  let transcriptionMode: CambaiTranscriptionMode | undefined;
  const rawMode = text(form, 'transcription_mode', problems);
  if (rawMode !== undefined) {
    const mode = CambaiTranscriptionMode.safeParse(rawMode);
    if (mode.success) transcriptionMode = mode.data;
    else problems.push(issues.enumValue(['body', 'transcription_mode'], rawMode, CambaiTranscriptionMode.options));
  }
  let runAudioCleaning: boolean | undefined;
  const rawCleaning = text(form, 'run_audio_cleaning', problems);
  if (rawCleaning !== undefined) {
    const parsed = parseBoolean(rawCleaning, ['body', 'run_audio_cleaning']);
    if (parsed.ok) runAudioCleaning = parsed.value;
    else problems.push(parsed.issue);
  }
  if (upload === undefined && url === undefined && !mediaFieldInvalid) {
    problems.push(issues.valueError(['body'], null, 'either media_file or media_url must be provided'));
  }
  if (problems.length > 0 || language === undefined) return { ok: false, issues: problems };
  const media: TaskMedia =
    upload !== undefined ? { kind: 'file', filename: upload.name, size: upload.size } : { kind: 'url', url: url ?? '' };
  return {
    ok: true,
    request: {
      language,
      media,
      ...(projectName === undefined ? {} : { projectName }),
      ...(projectDescription === undefined ? {} : { projectDescription }),
      ...(folderId === undefined ? {} : { folderId }),
      ...(transcriptionMode === undefined ? {} : { transcriptionMode }),
      ...(runAudioCleaning === undefined ? {} : { runAudioCleaning }),
    },
  };
}

/**
 * `language`: digits are an id, which must be a known one; other text must be `"auto"` or a
 * known locale such as `"en-us"` (the shared list of `providers/cambai/cambai-languages.ts`).
 */
function parseLanguage(raw: string, loc: Loc): Parsed<CambaiLanguage> {
  const asInteger = /^\s*[+-]?\d+\s*$/.test(raw) ? parseInteger(raw, loc) : undefined;
  if (asInteger?.ok === false) return asInteger;
  const checked = CambaiLanguage.safeParse(asInteger?.ok === true ? asInteger.value : raw);
  if (checked.success) return { ok: true, value: checked.data };
  const why = asInteger === undefined ? `unsupported source language ${JSON.stringify(raw)}` : `unsupported source language id ${raw.trim()}`;
  return { ok: false, issue: issues.valueError(loc, raw, why) };
}
