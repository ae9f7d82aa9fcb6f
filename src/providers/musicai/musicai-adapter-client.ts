import { createReadStream } from 'node:fs';
import type { Dispatcher } from 'undici';
import type { z } from 'zod';
import { InvalidRequestError, ProviderError } from '../../streams/errors.js';
import type { JobMetadata, JsonValue } from '../../streams/job-snapshot.js';
import { checkLocalInput, type CheckedLocalInput, type LocalJobInput } from '../local-input.js';
import { parseAdapterOptions } from '../adapter-scaffold.js';
import { callProvider, expectShape, joinUrl, jsonOf } from '../provider-http.js';
import {
  MusicaiCreatedAnswer,
  MusicaiJobAnswer,
  MusicaiJobListAnswer,
  MusicaiUploadAnswer,
  MusicaiWorkflowListAnswer,
  type MusicaiWorkflowAnswer,
} from './musicai-adapter-schemas.js';

const PROVIDER = 'musicai';

/** The real API, including its `/v1` path (a simulator's base is `<url>/v1` too). */
export const MUSICAI_DEFAULT_BASE_URL = 'https://api.music.ai/v1';

/** How to reach the Music.AI API. */
export interface MusicaiConnectionOptions {
  /** The API key, sent as `Authorization: <key>` (raw, no `Bearer`). */
  apiKey: string;
  /**
   * The API base, including `/v1`; paths are relative to it.
   * @default 'https://api.music.ai/v1'
   */
  baseUrl?: string;
  /** The shared undici dispatcher (see `createDispatcher`). */
  dispatcher: Dispatcher;
}

/** A normalised connection: the base URL resolved, the key checked. */
export interface MusicaiConnection {
  readonly apiKey: string;
  readonly baseUrl: string;
  readonly dispatcher: Dispatcher;
}

/**
 * Checks connection options once and fills in the default base URL.
 * @throws TypeError for an empty key or a base URL that is not http(s).
 */
export function musicaiConnection(options: MusicaiConnectionOptions): MusicaiConnection {
  const { apiKey, baseUrl } = parseAdapterOptions({ title: 'Music.AI', baseUrl: MUSICAI_DEFAULT_BASE_URL }, options);
  return { apiKey, baseUrl, dispatcher: options.dispatcher };
}

/**
 * Calls the API and parses its JSON answer. Like the official SDK, only HTTP 200 counts as
 * success: another 2xx is an answer we cannot trust to mean what 200 means.
 */
async function apiJson<S extends z.ZodType>(
  connection: MusicaiConnection,
  schema: S,
  call: {
    method: Dispatcher.HttpMethod;
    path: string;
    query?: Record<string, string | readonly string[] | undefined>;
    json?: unknown;
    headersTimeoutMs?: number | undefined;
  },
  signal: AbortSignal,
): Promise<z.infer<S>> {
  const what = `${call.method} ${call.path}`;
  const answer = await callProvider(PROVIDER, connection.dispatcher, {
    method: call.method,
    url: joinUrl(connection.baseUrl, call.path, call.query),
    headers: {
      authorization: connection.apiKey,
      accept: 'application/json',
      ...(call.json === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(call.json === undefined ? {} : { body: JSON.stringify(call.json) }),
    ...(call.headersTimeoutMs === undefined ? {} : { headersTimeoutMs: call.headersTimeoutMs }),
    signal,
  });
  if (answer.status !== 200) {
    throw new ProviderError(PROVIDER, 'invalid-response', `${what} answered ${answer.status}; Music.AI answers 200`, { status: answer.status });
  }
  return expectShape(PROVIDER, schema, jsonOf(PROVIDER, answer, what), what);
}

/** What `POST /job` takes. */
export interface MusicaiNewJob {
  name: string;
  workflow: string;
  params: Record<string, JsonValue>;
  metadata: JobMetadata;
  /** Output name → URL the provider PUTs that output to. */
  copyResultsTo?: Record<string, string>;
}

/**
 * `POST /job`; resolves with the new job's id. `timeoutMs` is how long to wait for the answer
 * once the request is sent (default: the dispatcher's headers timeout).
 */
export async function createMusicaiJob(connection: MusicaiConnection, job: MusicaiNewJob, signal: AbortSignal, timeoutMs?: number): Promise<string> {
  const body = {
    name: job.name,
    workflow: job.workflow,
    params: job.params,
    // Like the SDK, leave out what is not set.
    ...(Object.keys(job.metadata).length === 0 ? {} : { metadata: job.metadata }),
    ...(job.copyResultsTo === undefined ? {} : { copyResultsTo: job.copyResultsTo }),
  };
  const created = await apiJson(connection, MusicaiCreatedAnswer, { method: 'POST', path: 'job', json: body, headersTimeoutMs: timeoutMs }, signal);
  return created.id;
}

/** `GET /job/{id}`: status, result and error in one call. */
export function getMusicaiJob(connection: MusicaiConnection, id: string, signal: AbortSignal): Promise<MusicaiJobAnswer> {
  return apiJson(connection, MusicaiJobAnswer, { method: 'GET', path: `job/${encodeURIComponent(id)}` }, signal);
}

/** `DELETE /job/{id}`. Any 2xx will do (the answer is not needed); a job the API no longer knows counts as deleted. */
export async function deleteMusicaiJob(connection: MusicaiConnection, id: string, signal: AbortSignal): Promise<void> {
  try {
    await callProvider(PROVIDER, connection.dispatcher, {
      method: 'DELETE',
      url: joinUrl(connection.baseUrl, `job/${encodeURIComponent(id)}`),
      headers: { authorization: connection.apiKey, accept: 'application/json' },
      signal,
    });
  } catch (error) {
    if (error instanceof ProviderError && error.status === 404) return;
    throw error;
  }
}

/**
 * Uploads a local file the way Music.AI expects: `GET /upload` for a pair of signed URLs, then
 * the bytes streamed with `PUT` to `uploadUrl`. Resolves with `downloadUrl`, the job's input.
 * Unlike the SDK, the PUT's status is checked. The storage host gets no `Authorization` header.
 * `timeoutMs` is how long the PUT waits for the storage's answer once the bytes are sent
 * (default: the dispatcher's headers timeout).
 *
 * @throws InvalidRequestError when the file cannot be read or is not a regular file (naming it by
 *   its filename, never by its path).
 */
export async function uploadMusicaiFile(
  connection: MusicaiConnection,
  file: { path: string; filename?: string | undefined; contentType?: string | undefined },
  signal: AbortSignal,
  timeoutMs?: number,
): Promise<string> {
  const { size } = await checkedFile(file);
  const slot = await apiJson(connection, MusicaiUploadAnswer, { method: 'GET', path: 'upload' }, signal);
  const body = createReadStream(file.path);
  try {
    await callProvider(PROVIDER, connection.dispatcher, {
      method: 'PUT',
      url: slot.uploadUrl,
      headers: {
        'content-length': String(size),
        // The SDK sends no type (a signed URL may not cover one); send it only when the caller named it.
        ...(file.contentType === undefined ? {} : { 'content-type': file.contentType }),
      },
      body,
      signal,
      ...(timeoutMs === undefined ? {} : { headersTimeoutMs: timeoutMs }),
    });
  } catch (error) {
    // A refused signed URL says nothing about our API key.
    if (error instanceof ProviderError && error.failure === 'unauthorized') {
      throw new ProviderError(PROVIDER, 'rejected', `the storage refused the upload (${error.message})`, { status: error.status, cause: error });
    }
    throw error;
  } finally {
    body.destroy();
  }
  return slot.downloadUrl;
}

/** The file, checked to be a regular file (a FIFO would hold the read forever); its name, never its path, in the error. */
async function checkedFile(file: LocalJobInput): Promise<CheckedLocalInput> {
  try {
    return await checkLocalInput(file);
  } catch (error) {
    throw new InvalidRequestError([{ field: 'input.path', reason: (error as Error).message }]);
  }
}

/** Options of {@link listMusicaiWorkflows}. */
export interface MusicaiListWorkflowsOptions extends MusicaiConnectionOptions {
  /** @default 0 */
  page?: number;
  /** @default 100 (the API's default) */
  size?: number;
}

/**
 * Lists the workflows of the key's application (`GET /workflow`): their slugs are what a
 * `workflow` job's `options.workflow` names. Rejects with a `TypeError` for invalid connection
 * options, and with `ProviderError` when the call fails.
 *
 * @example
 * const workflows = await listMusicaiWorkflows({ apiKey, dispatcher }, AbortSignal.timeout(10_000));
 * console.log(workflows.map((w) => w.slug));
 */
export async function listMusicaiWorkflows(options: MusicaiListWorkflowsOptions, signal: AbortSignal): Promise<MusicaiWorkflowAnswer[]> {
  return await apiJson(
    musicaiConnection(options),
    MusicaiWorkflowListAnswer,
    { method: 'GET', path: 'workflow', query: { page: optionalInt(options.page), size: optionalInt(options.size) } },
    signal,
  );
}

/** Options of {@link listMusicaiJobs}: the API's filters, each optional. */
export interface MusicaiListJobsOptions extends MusicaiConnectionOptions {
  /** Only jobs in these statuses (`QUEUED`, `STARTED`, `SUCCEEDED`, `FAILED`). */
  status?: readonly string[];
  /** Only jobs of these workflow slugs. */
  workflow?: readonly string[];
  batchName?: string;
  /** @default 0 */
  page?: number;
  /** @default 100 */
  size?: number;
}

/**
 * Lists the key's jobs (`GET /job`), accepting the answer as a bare array or as `{ jobs }`.
 * Rejects with a `TypeError` for invalid connection options.
 *
 * @example
 * const failed = await listMusicaiJobs({ apiKey, dispatcher, status: ['FAILED'] }, signal);
 */
export async function listMusicaiJobs(options: MusicaiListJobsOptions, signal: AbortSignal): Promise<MusicaiJobAnswer[]> {
  return await apiJson(
    musicaiConnection(options),
    MusicaiJobListAnswer,
    {
      method: 'GET',
      path: 'job',
      query: {
        status: options.status,
        workflow: options.workflow,
        batchName: options.batchName,
        page: optionalInt(options.page),
        size: optionalInt(options.size),
      },
    },
    signal,
  );
}

function optionalInt(value: number | undefined): string | undefined {
  return value === undefined ? undefined : String(Math.trunc(value));
}
