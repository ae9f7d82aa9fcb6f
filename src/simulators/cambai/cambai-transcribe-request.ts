import type { CambaiValidationIssue } from './cambai-schemas.js';
import { isSourceLanguage } from './cambai-languages.js';
import type { TaskMedia } from './cambai-task-store.js';
import { issues, parseInteger } from './cambai-validation.js';

/** A parsed multipart body, as `parseBody({ all: true })` gives it. */
export type FormFields = Record<string, string | File | (string | File)[]>;

/** A valid `POST /transcribe` request. */
export interface TranscribeRequest {
  language: number;
  media: TaskMedia;
  projectName?: string;
  projectDescription?: string;
  folderId?: number;
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
 * returns either the request or the issues for a 422. `language` must be an integer id of a
 * known source language; media comes from `media_file` or `media_url`, or their deprecated
 * aliases `file` and `audio_url` (a file wins over a URL when both are sent); `folder_id`
 * must be an integer.
 *
 * @example
 * const parsed = parseTranscribeForm({ language: '1', media_url: 'https://e.com/a.mp3' });
 */
export function parseTranscribeForm(form: FormFields): { ok: true; request: TranscribeRequest } | { ok: false; issues: CambaiValidationIssue[] } {
  const problems: CambaiValidationIssue[] = [];
  let language: number | undefined;
  const rawLanguage = field(form, 'language');
  if (rawLanguage === undefined) problems.push(issues.missing(['body', 'language']));
  else {
    const parsed = parseInteger(typeof rawLanguage === 'string' ? rawLanguage : rawLanguage.name, ['body', 'language']);
    if (!parsed.ok) problems.push(parsed.issue);
    else if (!isSourceLanguage(parsed.value)) {
      problems.push(issues.valueError(['body', 'language'], rawLanguage, `unsupported source language id ${parsed.value}`));
    } else language = parsed.value;
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
    },
  };
}
