import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { z } from 'zod';
import { ProviderError, type RequestIssue } from '../streams/errors.js';
import type { JsonValue } from '../streams/job-snapshot.js';
import type { PollPolicy } from '../streams/poll-scheduler.js';
import type { CallContext, ProviderAdapter, ProviderJobRef, ResultDownload, ResultFile } from '../streams/provider-port.js';
import { credentialIdOf, openOutside, openProvider, type ProviderConnection } from './provider-http.js';
import { guardedDispatcher, type OutsideUrlOptions } from './url-guard.js';

/**
 * What every adapter factory takes. Each provider's options interface extends it, re-documenting
 * `apiKey` (how the key is sent) and `baseUrl` (its real API) and adding its own options.
 */
export interface AdapterOptions {
  /** The provider's API key. */
  apiKey: string;
  /** The API's base URL (a simulator's in tests); paths are relative to it. @default the provider's real API */
  baseUrl?: string;
  /** The shared outbound dispatcher (see `createDispatcher`). */
  dispatcher: Dispatcher;
  /** Overrides of the provider's documented poll policy (its `*_POLL_POLICY`). @default {} */
  pollPolicy?: Partial<PollPolicy>;
}

/**
 * What the scaffold needs to know of a provider: the fixed part of its adapter, and the zod
 * schemas (with their defaults) of the adapter options it adds to {@link AdapterOptions}.
 *
 * @example
 * const KLANGIO: ProviderProfile<{ maxInputBytes: z.ZodDefault<z.ZodNumber> }> = {
 *   provider: 'klangio', title: 'Klangio', kinds: KLANGIO_KINDS, webhooks: true,
 *   baseUrl: KLANGIO_BASE_URL, pollPolicy: KLANGIO_POLL_POLICY,
 *   options: { maxInputBytes: z.number().int().positive().default(200 * 1024 * 1024) },
 * };
 */
export interface ProviderProfile<Extra extends z.ZodRawShape = Record<never, never>> {
  /** The provider's name in jobs, URLs and errors (`klangio`). */
  readonly provider: string;
  /** Its human name, in option errors (`Klangio`). */
  readonly title: string;
  readonly kinds: readonly string[];
  /** Whether it calls back (then polls are a watchdog). */
  readonly webhooks: boolean;
  /** Its real API's base URL, without a trailing slash: the default of `baseUrl`. */
  readonly baseUrl: string;
  /** Its documented poll policy, which `pollPolicy` overrides field by field. */
  readonly pollPolicy: Readonly<PollPolicy>;
  /** Schemas of its own adapter options, validated with `apiKey` and `baseUrl`. */
  readonly options?: Extra;
}

/** The validated options: `apiKey`, `baseUrl` (no trailing slash) and the provider's own, defaults applied. */
export type ValidatedAdapterOptions<Extra extends z.ZodRawShape> = { apiKey: string; baseUrl: string } & z.output<z.ZodObject<Extra>>;

const NON_BLANK = 'must be a non-empty string';

const CONNECTION_SHAPE = {
  apiKey: z.string({ error: NON_BLANK }).refine((key) => key.trim() !== '', NON_BLANK),
  baseUrl: z
    .string({ error: 'must be a string' })
    .refine((url) => URL.canParse(url) && /^https?:$/.test(new URL(url).protocol), { error: (issue) => `must be an http(s) URL, got "${String(issue.input)}"` })
    .transform((url) => url.replace(/\/+$/, ''))
    .optional(),
};

/**
 * Validates a provider's adapter options once, against one schema: a non-blank `apiKey`, an
 * http(s) `baseUrl` (default: the provider's real API; trailing slashes dropped) and the
 * provider's own options with their defaults. Unknown fields (`dispatcher`, `pollPolicy`, …)
 * pass through untouched and are not part of the result.
 *
 * @throws TypeError `invalid <Title> adapter options: <field>: <problem>; …`.
 * @example parseAdapterOptions(profile, { apiKey: '', dispatcher }) // TypeError: invalid Klangio adapter options: apiKey: must be a non-empty string
 */
export function parseAdapterOptions<Extra extends z.ZodRawShape>(
  profile: Pick<ProviderProfile<Extra>, 'title' | 'baseUrl' | 'options'>,
  options: unknown,
): ValidatedAdapterOptions<Extra> {
  const schema = z.object({ ...CONNECTION_SHAPE, ...profile.options });
  const parsed = schema.safeParse(options);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => (issue.path.length === 0 ? issue.message : `${issue.path.join('.')}: ${issue.message}`));
    throw new TypeError(`invalid ${profile.title} adapter options: ${problems.join('; ')}`);
  }
  const data = parsed.data as Record<string, unknown>;
  return { ...data, baseUrl: data['baseUrl'] ?? profile.baseUrl } as ValidatedAdapterOptions<Extra>;
}

/**
 * Turns the zod issues of a job's options into request issues under a field prefix
 * (`options.outputs.1`); each unknown option is its own issue, `unknown option`, so a typo is
 * named rather than silently dropped.
 *
 * @example requestIssuesOf(Schema.safeParse({ modle: 'x' }).error!) // [{ field: 'options.modle', reason: 'unknown option' }]
 */
export function requestIssuesOf(error: z.ZodError, prefix = 'options'): RequestIssue[] {
  return error.issues.flatMap((issue) => {
    const path = [prefix, ...issue.path.map(String)].join('.');
    if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => ({ field: `${path}.${key}`, reason: 'unknown option' }));
    return [{ field: path, reason: issue.message }];
  });
}

/**
 * The options of a job being created or polled, parsed again: valid at submission, they can
 * only fail here for a job adopted with bad options, which is `rejected`.
 *
 * @throws ProviderError `rejected`, listing the issues.
 */
export function jobOptionsOrReject<T>(provider: string, parsed: { ok: true; options: T } | { ok: false; issues: RequestIssue[] }): T {
  if (parsed.ok) return parsed.options;
  const problems = parsed.issues.map((i) => `${i.field}: ${i.reason}`).join('; ');
  throw new ProviderError(provider, 'rejected', `the job's options do not validate (${problems})`);
}

/** What {@link scaffoldAdapter} builds; the provider's code adds `validate`, `create`, `poll` and the rest. */
export interface AdapterScaffold<Extra extends z.ZodRawShape> {
  /** The adapter's fixed part: provider, kinds, webhooks, credential id and the merged poll policy. */
  readonly port: Pick<ProviderAdapter, 'provider' | 'kinds' | 'webhooks' | 'credentialId' | 'pollPolicy'>;
  /** Key, base URL and the shared dispatcher, for calls to the provider's own API. */
  readonly connection: ProviderConnection;
  /** The validated options (see {@link parseAdapterOptions}). */
  readonly settings: ValidatedAdapterOptions<Extra>;
  /** The guarded dispatcher for URLs from outside (see `guardedDispatcher`). */
  readonly outside: Dispatcher;
  /** The adapter's `resultFiles` and `download`, served from a file table (see {@link ResultFileTable}). */
  readonly serveFiles: (table: ResultFileTable) => Required<Pick<ProviderAdapter, 'resultFiles' | 'download'>>;
}

/**
 * Builds what every adapter shares, once: the options validated ({@link parseAdapterOptions}),
 * the poll policy merged over the provider's defaults, the credential id (never the key), the
 * connection and the guarded dispatcher for outside URLs.
 *
 * @throws TypeError when an option is invalid.
 * @example
 * const { port, connection, serveFiles } = scaffoldAdapter(KLANGIO, options);
 * return { ...port, validate, create, poll, ...serveFiles(klangioFiles) };
 */
export function scaffoldAdapter<Extra extends z.ZodRawShape>(
  profile: ProviderProfile<Extra>,
  options: AdapterOptions & OutsideUrlOptions,
): AdapterScaffold<Extra> {
  const settings = parseAdapterOptions(profile, options);
  const connection: ProviderConnection = { apiKey: settings.apiKey, baseUrl: settings.baseUrl, dispatcher: options.dispatcher };
  const outside = guardedDispatcher(options.dispatcher, options);
  return {
    port: {
      provider: profile.provider,
      kinds: profile.kinds,
      webhooks: profile.webhooks,
      credentialId: credentialIdOf(settings.apiKey),
      pollPolicy: { ...profile.pollPolicy, ...options.pollPolicy },
    },
    connection,
    settings,
    outside,
    serveFiles: (table) => serveResultFiles(profile.provider, connection, outside, table),
  };
}

/** Where a result file's bytes come from. */
export type FileSource =
  /** Rendered from the job's stored result: no provider call. */
  | { from: 'stored'; render: () => string }
  /**
   * Fetched from a URL. On the provider's own origin (its base URL's) it goes through the shared
   * dispatcher with `headers` (the credential); anywhere else through the guarded dispatcher,
   * with no headers, so a key never travels to another host.
   */
  | { from: 'url'; url: string; headers?: Record<string, string> };

/** One downloadable file of a job: its name, its type, and where its bytes come from. */
export interface FileSpec extends ResultFile {
  source: FileSource;
}

/**
 * A provider's result files: one pure function from a job's stored result to its files, so a
 * download finds its file again by name. A result of the wrong shape offers nothing.
 */
export interface ResultFileTable {
  files(job: ProviderJobRef, result: JsonValue, connection: ProviderConnection): FileSpec[];
  /**
   * For a fetched file whose answer says only `application/octet-stream`, give the table's type
   * instead (signed CDN links often say nothing useful). @default false: the answer's type
   */
  preferOwnType?: boolean;
}

/**
 * The adapter's `resultFiles` and `download` from a {@link ResultFileTable}: `resultFiles` lists
 * names and types; `download` finds the name (a name the job does not offer is `rejected`) and
 * streams the file from the stored result or from its URL (see {@link FileSource}).
 *
 * @example const { resultFiles, download } = serveResultFiles('klangio', connection, outside, klangioFiles);
 */
export function serveResultFiles(
  provider: string,
  connection: ProviderConnection,
  outside: Dispatcher,
  table: ResultFileTable,
): Required<Pick<ProviderAdapter, 'resultFiles' | 'download'>> {
  const ownOrigin = new URL(connection.baseUrl).origin;
  return {
    resultFiles: (job, result) => table.files(job, result, connection).map(({ name, contentType }) => ({ name, contentType })),
    async download(job: ProviderJobRef, result: JsonValue, name: string, { signal }: CallContext): Promise<ResultDownload> {
      const files = table.files(job, result, connection);
      const file = files.find((spec) => spec.name === name);
      if (file === undefined) {
        const offered = files.map((spec) => spec.name).join(', ') || 'none';
        throw new ProviderError(provider, 'rejected', `job ${job.externalId} has no result file "${name}" (files: ${offered})`);
      }
      const { source } = file;
      if (source.from === 'stored') return { contentType: file.contentType, body: Readable.from([Buffer.from(source.render(), 'utf8')]) };
      const own = URL.canParse(source.url) && new URL(source.url).origin === ownOrigin;
      const opened = own
        ? await openProvider(provider, connection.dispatcher, { method: 'GET', url: source.url, ...(source.headers === undefined ? {} : { headers: source.headers }), signal })
        : await openOutside(provider, outside, { method: 'GET', url: source.url, signal });
      const generic = /^(application|binary)\/octet-stream\b/i.test(opened.contentType);
      return { contentType: table.preferOwnType === true && generic ? file.contentType : opened.contentType, body: opened.body };
    },
  };
}
