import { setTimeout as sleep } from 'node:timers/promises';
import { Hono } from 'hono';
import type { Context } from 'hono';
import { cambaiSourceLanguages } from './cambai-languages.js';
import type { CambaiTranscriptFormat, CambaiValidationIssue } from './cambai-schemas.js';
import { CambaiTranscriptDataType, CambaiTranscriptFormat as TranscriptFormat } from './cambai-schemas.js';
import type { CambaiTaskStore } from './cambai-task-store.js';
import type { FormFields } from './cambai-transcribe-request.js';
import { parseTranscribeForm } from './cambai-transcribe-request.js';
import { wordLevel } from './cambai-transcript.js';
import { detail, issues, parseBoolean, parseInteger, validationError } from './cambai-validation.js';

/** Path prefix of transcript files (outside `/apis`, like pre-signed storage URLs). */
export const TRANSCRIPT_FILES_PATH = '/files/transcripts';

/** Lifetime announced in `expiry` of a transcript-file answer. */
const FILE_URL_LIFETIME_MS = 60 * 60 * 1000;

/** What the `/apis` routes need. */
export interface CambaiApiDeps {
  store: CambaiTaskStore;
  now: () => number;
  /** The simulator's base URL (known once it listens). */
  baseUrl: () => string;
  /** How long `POST /transcribe` waits after creating the task before it answers. @default 0 */
  createDelayMs?: number;
}

/**
 * The Camb.ai transcription routes, mounted under `/apis` (auth and faults are applied by the
 * caller).
 *
 * @example
 * app.route('/apis', cambaiApiRoutes({ store, now, baseUrl }));
 */
export function cambaiApiRoutes(deps: CambaiApiDeps): Hono {
  const { store } = deps;
  const api = new Hono();

  api.post('/transcribe', async (c) => {
    const problems = optionalQueryInts(c, ['run_id']);
    const type = c.req.header('content-type') ?? '';
    const isForm = type.startsWith('multipart/form-data') || type.startsWith('application/x-www-form-urlencoded');
    const form: FormFields = isForm ? await c.req.parseBody({ all: true }).catch(() => ({})) : {};
    const parsed = parseTranscribeForm(form);
    if (!parsed.ok) problems.push(...parsed.issues);
    if (!parsed.ok || problems.length > 0) return validationError(problems);
    const taskId = store.create(parsed.request.media);
    // The task exists from here on, whether or not the client waits for this answer.
    if ((deps.createDelayMs ?? 0) > 0) await sleep(deps.createDelayMs, undefined, { ref: false });
    return c.json({ task_id: taskId });
  });

  api.get('/transcribe/:task_id', (c) => {
    const problems = optionalQueryInts(c, ['run_id']);
    if (problems.length > 0) return validationError(problems);
    const status = store.status(c.req.param('task_id'));
    return status === undefined ? detail(404, 'Task not found') : c.json(status);
  });

  api.get('/transcription-result/:run_id', (c) => {
    const problems: CambaiValidationIssue[] = [];
    const runId = parseInteger(c.req.param('run_id'), ['path', 'run_id']);
    if (!runId.ok) problems.push(runId.issue);
    const words = c.req.query('word_level_timestamps');
    const wordsParsed = words === undefined ? undefined : parseBoolean(words, ['query', 'word_level_timestamps']);
    if (wordsParsed?.ok === false) problems.push(wordsParsed.issue);
    const dataType = enumQuery(c, 'data_type', CambaiTranscriptDataType.options, problems);
    const format = enumQuery(c, 'format_type', TranscriptFormat.options, problems) ?? 'txt';
    if (!runId.ok || problems.length > 0) return validationError(problems);
    const transcript = store.transcript(runId.value);
    if (transcript === undefined) return detail(404, `No transcription result for run ${runId.value}`);
    const wordLevelTimestamps = wordsParsed?.ok === true && wordsParsed.value;
    if (dataType === 'file') return c.json(fileAnswer(deps, runId.value, format, wordLevelTimestamps));
    return c.json({ transcript: wordLevelTimestamps ? wordLevel(transcript) : transcript });
  });

  api.post('/transcription-results', async (c) => {
    const problems = optionalQueryInts(c, ['run_id']);
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return validationError([...problems, issues.jsonInvalid()]);
    }
    const raw = typeof body === 'object' && body !== null ? (body as { run_ids?: unknown }).run_ids : undefined;
    const runIds: number[] = [];
    if (raw === undefined) problems.push(issues.missing(['body', 'run_ids'], body));
    else if (!Array.isArray(raw)) problems.push(issues.listType(['body', 'run_ids'], raw));
    else {
      raw.forEach((item: unknown, index) => {
        const parsed = parseInteger(item, ['body', 'run_ids', index]);
        if (parsed.ok) runIds.push(parsed.value);
        else problems.push(parsed.issue);
      });
    }
    if (problems.length > 0) return validationError(problems);
    const results: Record<string, { transcript: unknown[] }> = {};
    for (const runId of runIds) {
      const transcript = store.transcript(runId);
      if (transcript !== undefined) results[String(runId)] = { transcript };
    }
    return c.json(results);
  });

  api.get('/source-languages', (c) => {
    const problems = optionalQueryInts(c, ['run_id']);
    return problems.length > 0 ? validationError(problems) : c.json(cambaiSourceLanguages);
  });

  // Registered last: FastAPI's answer for any other path.
  api.all('/*', () => detail(404, 'Not Found'));
  return api;
}

function fileAnswer(deps: CambaiApiDeps, runId: number, format: CambaiTranscriptFormat, words: boolean) {
  const signature = deps.store.fileSignature(runId) ?? '';
  const query = `signature=${signature}${words ? '&word_level_timestamps=true' : ''}`;
  return {
    file_url: `${deps.baseUrl()}${TRANSCRIPT_FILES_PATH}/${runId}.${format}?${query}`,
    expiry: new Date(deps.now() + FILE_URL_LIFETIME_MS).toISOString(),
  };
}

/** Issues for optional integer query parameters that are present but not integers. */
function optionalQueryInts(c: Context, names: string[]): CambaiValidationIssue[] {
  const problems: CambaiValidationIssue[] = [];
  for (const name of names) {
    const raw = c.req.query(name);
    if (raw === undefined) continue;
    const parsed = parseInteger(raw, ['query', name]);
    if (!parsed.ok) problems.push(parsed.issue);
  }
  return problems;
}

function enumQuery<T extends string>(c: Context, name: string, values: readonly T[], problems: CambaiValidationIssue[]): T | undefined {
  const raw = c.req.query(name);
  if (raw === undefined) return undefined;
  if ((values as readonly string[]).includes(raw)) return raw as T;
  problems.push(issues.enumValue(['query', name], raw, values));
  return undefined;
}
