import { z } from 'zod';
import { InvalidRequestError, ProviderError, type RequestIssue } from '../../streams/errors.js';
import type { JobError } from '../../streams/job-snapshot.js';
import type { PollPolicy } from '../../streams/poll-scheduler.js';
import type {
  CallContext,
  CreateJobRequest,
  CreateJobResult,
  ProviderAdapter,
  ProviderReport,
} from '../../streams/provider-port.js';
import { requestIssuesOf, scaffoldAdapter, type AdapterOptions, type ProviderProfile, type ResultFileTable } from '../adapter-scaffold.js';
import { CreateTimeoutOption } from '../provider-http.js';
import type { OutsideUrlOptions } from '../url-guard.js';
import {
  createMusicaiJob,
  deleteMusicaiJob,
  getMusicaiJob,
  MUSICAI_DEFAULT_BASE_URL,
  uploadMusicaiFile,
  type MusicaiConnection,
  type MusicaiConnectionOptions,
} from './musicai-adapter-client.js';
import { musicaiResultEntries } from './musicai-adapter-results.js';
import type { MusicaiJobAnswer, MusicaiJobErrorAnswer } from './musicai-adapter-schemas.js';

const PROVIDER = 'musicai';

/** Job kinds of Music.AI: one, running any workflow of the key's application by slug. */
export const MUSICAI_KINDS = ['workflow'] as const;

/**
 * How Music.AI jobs are polled by default. No rate limit is documented (providers.md 2.6). The
 * JS SDK polls every 1 s and the Python SDK every 2 s, both without end; jobs take from seconds
 * to minutes, so 5 s is the polite default. One `GET /job/{id}` gives status and result.
 */
export const MUSICAI_POLL_POLICY: Readonly<PollPolicy> = Object.freeze({
  intervalMs: 5_000,
  backoff: { initialMs: 1_000, maxMs: 120_000 },
  rate: { limit: 5, windowMs: 1_000 },
  maxInFlight: 8,
});

/**
 * Options of {@link createMusicaiAdapter}. Result URLs off the API's origin (signed CDN links)
 * are downloaded through the guard of {@link OutsideUrlOptions}: only public addresses, unless
 * `allowPrivateUrls`.
 */
export interface MusicaiAdapterOptions extends MusicaiConnectionOptions, AdapterOptions, OutsideUrlOptions {
  /**
   * How long a create call (`POST /job`, and the upload's `PUT` before it) waits for the answer
   * once the request is sent; polls keep the dispatcher's short timeout. A `POST /job` that
   * times out is not repeated: the job fails with `SUBMIT_UNCERTAIN` (Music.AI may have made it;
   * adopt it with `track`). An upload that times out made nothing, so it is retried.
   * @default 300000 (5 minutes, see `CREATE_TIMEOUT_MS`)
   */
  createTimeoutMs?: number;
}

/** Music.AI's fixed part (see {@link MusicaiAdapterOptions}). */
const MUSICAI = {
  provider: PROVIDER,
  title: 'Music.AI',
  kinds: MUSICAI_KINDS,
  webhooks: false,
  baseUrl: MUSICAI_DEFAULT_BASE_URL,
  pollPolicy: MUSICAI_POLL_POLICY,
  options: { createTimeoutMs: CreateTimeoutOption },
} satisfies ProviderProfile<z.ZodRawShape>;

/**
 * Options of a `workflow` job: `{ workflow: 'stems-four', inputParam?, params?, copyResultsTo? }`.
 * Each workflow names its own inputs (`inputUrl`, `Input1`, `Input 1`, ...; see providers.md
 * Round 2): the job's input (a URL, or a file uploaded first) becomes `params[inputParam]`,
 * `inputUrl` unless said otherwise; `params` carries everything else unchanged, including
 * further inputs as URLs. `copyResultsTo` maps output names to URLs the provider PUTs those
 * outputs to (custom storage); the job's result then holds a placeholder for them.
 */
export const MusicaiWorkflowOptions = z
  .strictObject({
    /** The workflow's slug (see `listMusicaiWorkflows`). */
    workflow: z.string().trim().min(1, 'the workflow slug is required'),
    /** The workflow param that takes the job's input URL. @default 'inputUrl' */
    inputParam: z.string().min(1, 'must name a workflow param').default('inputUrl'),
    /** Further workflow parameters, sent as given next to the input param. */
    params: z.record(z.string(), z.json()).optional(),
    /** Output name → URL the provider uploads that output to (`copyResultsTo` of `POST /job`). */
    copyResultsTo: z.record(z.string(), z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' })).optional(),
  })
  .superRefine((options, ctx) => {
    if (options.params !== undefined && options.inputParam in options.params) {
      ctx.addIssue({
        code: 'custom',
        path: ['params', options.inputParam],
        message: `${options.inputParam} is set from the job input (inputParam); leave it out`,
      });
    }
  });
export type MusicaiWorkflowOptions = z.infer<typeof MusicaiWorkflowOptions>;

/**
 * Creates the Music.AI adapter: poll-only (the API sends no webhooks), one job kind
 * `workflow`, cancel by deleting the job. Result files are the result's file URLs, downloaded
 * from wherever they point (the API key goes only to the API's own origin), plus
 * `result.json` with the outputs that are not files.
 *
 * @example
 * const musicai = createMusicaiAdapter({ apiKey: process.env.MUSICAI_KEY!, dispatcher: createDispatcher() });
 * await engine.submit({ provider: 'musicai', kind: 'workflow', input: { type: 'url', url },
 *   options: { workflow: 'stems-four' } });
 * // A workflow whose input is named `Input1`, results copied to your own storage:
 * //   options: { workflow: 'music-ai/generate-chords', inputParam: 'Input1',
 * //              copyResultsTo: { chords: 'https://bucket.example/chords.json?sig=…' } }
 */
export function createMusicaiAdapter(options: MusicaiAdapterOptions): ProviderAdapter {
  const { port, connection, serveFiles, settings } = scaffoldAdapter(MUSICAI, options);
  return {
    ...port,
    validate: validateMusicaiRequest,
    create: (request, context) => createJob(connection, request, context, settings.createTimeoutMs),
    poll: async (job, context) => musicaiReport(await getMusicaiJob(connection, job.externalId, context.signal)),
    cancel: (job, context) => deleteMusicaiJob(connection, job.externalId, context.signal),
    ...serveFiles(MUSICAI_FILES),
  };
}

/**
 * The result's file URLs and `result.json` (see {@link musicaiResultEntries}). Result URLs are
 * signed CDN links: the API key goes only to the API's own origin, a URL elsewhere goes through
 * the guard (public addresses only, no body in errors), and an answer that says only
 * `application/octet-stream` gets the type of the URL's extension.
 */
const MUSICAI_FILES: ResultFileTable = {
  preferOwnType: true,
  files: (_job, result, connection) =>
    musicaiResultEntries(result).map(({ name, contentType, ...entry }) => ({
      name,
      contentType,
      source:
        entry.source === 'url'
          ? { from: 'url', url: entry.url, headers: { authorization: connection.apiKey } }
          : { from: 'stored', render: () => `${JSON.stringify(entry.values, null, 2)}\n` },
    })),
};

/** The problems of a `workflow` request: input required, `options` per {@link MusicaiWorkflowOptions}. */
function validateMusicaiRequest(request: Omit<CreateJobRequest, 'webhookUrl'>): RequestIssue[] {
  const issues: RequestIssue[] = [];
  if (request.kind !== 'workflow') issues.push({ field: 'kind', reason: `musicai has no job kind "${request.kind}"` });
  if (request.input === undefined) issues.push({ field: 'input', reason: 'a Music.AI workflow needs an input: a URL or a file' });
  const parsed = MusicaiWorkflowOptions.safeParse(request.options);
  if (!parsed.success) issues.push(...requestIssuesOf(parsed.error));
  return issues;
}

async function createJob(connection: MusicaiConnection, request: CreateJobRequest, { signal }: CallContext, timeoutMs: number): Promise<CreateJobResult> {
  const problems = validateMusicaiRequest(request);
  const options = MusicaiWorkflowOptions.safeParse(request.options);
  if (problems.length > 0 || !options.success || request.input === undefined) throw new InvalidRequestError(problems);
  const { input } = request;
  let inputUrl: string;
  try {
    inputUrl = input.type === 'url' ? input.url : await uploadMusicaiFile(connection, input, signal, timeoutMs);
  } catch (error) {
    // The upload slot and the PUT come before POST /job: nothing exists at Music.AI yet.
    throw error instanceof ProviderError ? error.beforeCreate() : error;
  }
  const externalId = await createMusicaiJob(
    connection,
    {
      name: request.name ?? `jobstream ${options.data.workflow}`,
      workflow: options.data.workflow,
      params: { ...options.data.params, [options.data.inputParam]: inputUrl },
      metadata: request.metadata,
      ...(options.data.copyResultsTo === undefined ? {} : { copyResultsTo: options.data.copyResultsTo }),
    },
    signal,
    timeoutMs,
  );
  return { externalId };
}

/**
 * Translates a job object into a report. QUEUED → queued, STARTED → running, SUCCEEDED →
 * succeeded with the `result` map (and the `error`, should one come along: the SDK README shows
 * such a job; the status wins), FAILED → failed with `error.code` and `error.message` (or its
 * title). An unknown status reads as queued, which never moves a job backwards.
 */
function musicaiReport(job: MusicaiJobAnswer): ProviderReport {
  const providerStatus = job.status;
  switch (job.status.trim().toUpperCase()) {
    case 'STARTED':
      return { status: 'running', providerStatus };
    case 'SUCCEEDED': {
      // A finished job without outputs still finished: an empty map, rather than polling forever.
      const report: ProviderReport = { status: 'succeeded', providerStatus, result: job.result ?? {} };
      const error = jobErrorOf(job.error);
      if (error !== undefined) report.error = error;
      return report;
    }
    case 'FAILED':
      return {
        status: 'failed',
        providerStatus,
        error: jobErrorOf(job.error) ?? { code: 'FAILED', message: 'Music.AI reports the job as FAILED without saying why' },
      };
    case 'QUEUED':
    default:
      return { status: 'queued', providerStatus };
  }
}

function jobErrorOf(error: MusicaiJobErrorAnswer | null | undefined): JobError | undefined {
  if (error === null || error === undefined) return undefined;
  const code = nonEmpty(error.code);
  const message = nonEmpty(error.message) ?? nonEmpty(error.title);
  if (code === undefined && message === undefined) return undefined;
  return { code: code ?? 'ERROR', message: message ?? code ?? '' };
}

function nonEmpty(text: string | null | undefined): string | undefined {
  const trimmed = text?.trim();
  return trimmed === undefined || trimmed === '' ? undefined : trimmed;
}
