import { FormData, type Dispatcher } from 'undici';
import { z } from 'zod';
import { InvalidRequestError, ProviderError, type RequestIssue } from '../../streams/errors.js';
import type { JobError } from '../../streams/job-snapshot.js';
import type { PollPolicy } from '../../streams/poll-scheduler.js';
import { openLocalInput } from '../local-input.js';
import type {
  CallContext,
  CreateJobRequest,
  CreateJobResult,
  JobInput,
  ProviderAdapter,
  ProviderJobRef,
  ProviderReport,
} from '../../streams/provider-port.js';
import { requestIssuesOf, scaffoldAdapter, type AdapterOptions, type ProviderProfile, type ResultFileTable } from '../adapter-scaffold.js';
import { callProvider, CreateTimeoutOption, expectShape, joinUrl, jsonOf, type ProviderConnection } from '../provider-http.js';
import {
  CambaiCreatedAnswer,
  CambaiStatusAnswer,
  CambaiTranscriptAnswer,
  CambaiTranscriptionResult,
  type CambaiSegment,
} from './cambai-adapter-schemas.js';
import { CAMBAI_TRANSCRIPT_FILES, renderCambaiTranscript } from './cambai-adapter-transcript-files.js';
import { CambaiLanguage, CambaiTranscriptionMode } from './cambai-languages.js';

const PROVIDER = 'cambai';

/** The real API. */
export const CAMBAI_DEFAULT_BASE_URL = 'https://client.camb.ai/apis';

/** Job kinds of Camb.ai: speech-to-text transcription. */
export const CAMBAI_KINDS = ['transcription'] as const;

/**
 * How Camb.ai tasks are polled by default. No rate limit is documented (providers.md 4.6). The
 * SDK tutorial polls every 5 s; the status page suggests 15 s growing to 60 s for long audio,
 * which the backoff and a caller's `intervalMs` override can provide.
 */
export const CAMBAI_POLL_POLICY: Readonly<PollPolicy> = Object.freeze({
  intervalMs: 5_000,
  backoff: { initialMs: 2_000, maxMs: 120_000 },
  rate: { limit: 5, windowMs: 1_000 },
  maxInFlight: 8,
});

/** Options of {@link createCambaiAdapter}. */
export interface CambaiAdapterOptions extends AdapterOptions {
  /** The API key, sent as `x-api-key`. */
  apiKey: string;
  /** The API base; paths are relative to it. @default 'https://client.camb.ai/apis' */
  baseUrl?: string;
  /**
   * How long `POST /transcribe` waits for Camb.ai's answer once the media is sent (the newer
   * official SDK waits 300 s); polls keep the dispatcher's short timeout. A create that times
   * out is not repeated: the job fails with `SUBMIT_UNCERTAIN` (Camb.ai may have made the task;
   * adopt it with `track`).
   * @default 300000 (5 minutes, see `CREATE_TIMEOUT_MS`)
   */
  createTimeoutMs?: number;
}

/** Camb.ai's fixed part (see {@link CambaiAdapterOptions}). */
const CAMBAI = {
  provider: PROVIDER,
  title: 'Camb.ai',
  kinds: CAMBAI_KINDS,
  webhooks: false,
  baseUrl: CAMBAI_DEFAULT_BASE_URL,
  pollPolicy: CAMBAI_POLL_POLICY,
  options: { createTimeoutMs: CreateTimeoutOption },
} satisfies ProviderProfile<z.ZodRawShape>;

/**
 * Options of a `transcription` job. `language` is the spoken language: one of Camb.ai's
 * integer ids (1 en-us, 35 en-gb, 54 es-es, 4 ar-ae, ... see `cambai-languages.ts`), a locale
 * string such as `"en-us"`, or `"auto"` to let Camb.ai detect it; it is required, never
 * defaulted, since a wrong language gives a wrong transcript. `transcriptionMode`
 * (`transcription_mode`, `fast` or `slow`) and `runAudioCleaning` (`run_audio_cleaning`) go
 * with the create call; `wordLevelTimestamps` asks for the result with one segment per word
 * (the `word_level_timestamps` query of `GET /transcription-result/{run_id}`). Options left out
 * are not sent, so the API's defaults apply.
 */
export const CambaiTranscriptionOptions = z.strictObject({
  language: CambaiLanguage,
  projectName: z.string().min(1).optional(),
  projectDescription: z.string().min(1).optional(),
  transcriptionMode: CambaiTranscriptionMode.optional(),
  runAudioCleaning: z.boolean().optional(),
  wordLevelTimestamps: z.boolean().optional(),
});
export type CambaiTranscriptionOptions = z.infer<typeof CambaiTranscriptionOptions>;

/**
 * Creates the Camb.ai transcription adapter: poll-only (no webhooks), no cancel (the API has
 * none). A finished task's transcript is fetched once and kept as the job's result
 * `{ runId, transcript }`; the files `transcript.json`, `.txt` and `.srt` are rendered from it.
 *
 * @example
 * const cambai = createCambaiAdapter({ apiKey: process.env.CAMB_API_KEY!, dispatcher: createDispatcher() });
 * await engine.submit({ provider: 'cambai', kind: 'transcription', input: { type: 'url', url },
 *   options: { language: 1 } });
 */
export function createCambaiAdapter(options: CambaiAdapterOptions): ProviderAdapter {
  const { port, connection, serveFiles, settings } = scaffoldAdapter(CAMBAI, options);
  return {
    ...port,
    validate: validateCambaiRequest,
    create: (request, context) => createTask(connection, request, context, settings.createTimeoutMs),
    poll: (job, context) => pollTask(connection, job, context),
    ...serveFiles(CAMBAI_FILES),
  };
}

/** The transcript files, rendered from the stored result: no provider call. */
const CAMBAI_FILES: ResultFileTable = {
  files(_job, result) {
    const parsed = CambaiTranscriptionResult.safeParse(result);
    if (!parsed.success) return [];
    const segments: CambaiSegment[] = parsed.data.transcript;
    return CAMBAI_TRANSCRIPT_FILES.map((file) => ({ ...file, source: { from: 'stored', render: () => renderCambaiTranscript(file.name, segments) ?? '' } }));
  },
};

function validateCambaiRequest(request: Omit<CreateJobRequest, 'webhookUrl'>): RequestIssue[] {
  const issues: RequestIssue[] = [];
  if (request.kind !== 'transcription') issues.push({ field: 'kind', reason: `cambai has no job kind "${request.kind}"` });
  if (request.input === undefined) issues.push({ field: 'input', reason: 'a Camb.ai transcription needs an input: a URL or a file' });
  const parsed = CambaiTranscriptionOptions.safeParse(request.options);
  if (!parsed.success) issues.push(...requestIssuesOf(parsed.error));
  return issues;
}

function headersOf(connection: ProviderConnection): Record<string, string> {
  return { 'x-api-key': connection.apiKey, accept: 'application/json' };
}

async function apiJson<S extends z.ZodType>(
  connection: ProviderConnection,
  schema: S,
  call: { method: Dispatcher.HttpMethod; path: string; body?: FormData; headersTimeoutMs?: number },
  signal: AbortSignal,
): Promise<z.infer<S>> {
  const what = `${call.method} /${call.path}`;
  const answer = await callProvider(PROVIDER, connection.dispatcher, {
    method: call.method,
    url: joinUrl(connection.baseUrl, call.path),
    headers: headersOf(connection),
    ...(call.body === undefined ? {} : { body: call.body }),
    ...(call.headersTimeoutMs === undefined ? {} : { headersTimeoutMs: call.headersTimeoutMs }),
    signal,
  });
  return expectShape(PROVIDER, schema, jsonOf(PROVIDER, answer, what), what);
}

async function createTask(connection: ProviderConnection, request: CreateJobRequest, { signal }: CallContext, createTimeoutMs: number): Promise<CreateJobResult> {
  const problems = validateCambaiRequest(request);
  const options = CambaiTranscriptionOptions.safeParse(request.options);
  if (problems.length > 0 || !options.success || request.input === undefined) throw new InvalidRequestError(problems);
  const form = new FormData();
  form.append('language', String(options.data.language));
  await appendMedia(form, request.input);
  if (options.data.projectName !== undefined) form.append('project_name', options.data.projectName);
  if (options.data.projectDescription !== undefined) form.append('project_description', options.data.projectDescription);
  if (options.data.transcriptionMode !== undefined) form.append('transcription_mode', options.data.transcriptionMode);
  if (options.data.runAudioCleaning !== undefined) form.append('run_audio_cleaning', String(options.data.runAudioCleaning));
  const created = await apiJson(connection, CambaiCreatedAnswer, { method: 'POST', path: 'transcribe', body: form, headersTimeoutMs: createTimeoutMs }, signal);
  const taskId = created.task_id?.trim();
  if (taskId === undefined || taskId === '') {
    throw new ProviderError(PROVIDER, 'invalid-response', 'POST /transcribe: the answer has no task_id');
  }
  return { externalId: taskId };
}

/** A URL goes as `media_url`; a file (a regular file only) is streamed from disk as `media_file`. */
async function appendMedia(form: FormData, input: JobInput): Promise<void> {
  if (input.type === 'url') {
    form.append('media_url', input.url);
    return;
  }
  // Checked first: a FIFO or a device would block the process when the blob is read.
  let opened: Awaited<ReturnType<typeof openLocalInput>>;
  try {
    opened = await openLocalInput(input);
  } catch (error) {
    throw new InvalidRequestError([{ field: 'input.path', reason: (error as Error).message }]);
  }
  form.append('media_file', opened.blob, opened.name);
}

/**
 * Translates `GET /transcribe/{task_id}`. PENDING → running: Camb.ai has no separate queued
 * state, and PENDING covers both. SUCCESS → the transcript is fetched and the job succeeds with
 * `{ runId, transcript }`. Every other status is a terminal failure, as providers.md 4.7 asks
 * (the SDK enum lacks TIMEOUT and PAYMENT_REQUIRED, so more unlisted endings are likely).
 */
async function pollTask(connection: ProviderConnection, job: ProviderJobRef, { signal }: CallContext): Promise<ProviderReport> {
  const task = await apiJson(connection, CambaiStatusAnswer, { method: 'GET', path: `transcribe/${encodeURIComponent(job.externalId)}` }, signal);
  const providerStatus = task.status;
  const status = task.status.trim().toUpperCase();
  if (status === 'PENDING') return { status: 'running', providerStatus };
  if (status === 'SUCCESS') {
    if (task.run_id === null || task.run_id === undefined) {
      throw new ProviderError(PROVIDER, 'invalid-response', `GET /transcribe/${job.externalId}: SUCCESS without a run_id`);
    }
    const words = CambaiTranscriptionOptions.safeParse(job.options).data?.wordLevelTimestamps;
    const query = words === undefined ? '' : `?word_level_timestamps=${String(words)}`;
    const transcript = await apiJson(connection, CambaiTranscriptAnswer, { method: 'GET', path: `transcription-result/${task.run_id}${query}` }, signal);
    const result: CambaiTranscriptionResult = { runId: task.run_id, transcript };
    return { status: 'succeeded', providerStatus, result };
  }
  return { status: 'failed', providerStatus, error: taskError(task) };
}

/** `exception_reason` when it says something (not empty, not `NONE`), else the status; `message` as text. */
function taskError(task: CambaiStatusAnswer): JobError {
  const reason = task.exception_reason?.trim();
  const status = task.status.trim();
  const code = reason !== undefined && reason !== '' && reason.toUpperCase() !== 'NONE' ? reason : status === '' ? 'UNKNOWN_STATUS' : status;
  return { code, message: messageOf(task.message) ?? `Camb.ai ended the transcription with status ${JSON.stringify(task.status)}` };
}

function messageOf(message: unknown): string | undefined {
  if (typeof message === 'string') return message.trim() === '' ? undefined : message;
  if (message === null || message === undefined) return undefined;
  if (typeof message === 'object' && Object.keys(message).length === 0) return undefined;
  return JSON.stringify(message);
}
