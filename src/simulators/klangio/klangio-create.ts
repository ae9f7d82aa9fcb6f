import type { Context } from 'hono';
import { z } from 'zod';
import { isHttpUrl, isLoopbackUrl } from '../kit/loopback.js';
import type { KlangioJobKind, KlangioJobSpec } from './klangio-jobs.js';
import { KlangioModel, KlangioOutput, KlangioSeparationModel, KlangioVocabulary } from '../../providers/klangio/klangio-schemas.js';

/** A refused create request: the status and `detail` text to answer with. */
export interface CreateRefusal {
  status: 422;
  detail: string;
}

const optionalText = z.string().optional();

/** Query schemas per create path (unknown query parameters are ignored, as FastAPI does). */
const QUERY: Record<KlangioJobKind, z.ZodType<Record<string, string | undefined>>> = {
  transcription: z.object({ model: KlangioModel, title: optionalText, composer: optionalText, webhook_url: optionalText }),
  'chord-recognition': z.object({ vocabulary: KlangioVocabulary, webhook_url: optionalText }),
  'chord-recognition-extended': z.object({ vocabulary: KlangioVocabulary, webhook_url: optionalText }),
  'beat-tracking': z.object({ webhook_url: optionalText }),
  'strum-recognition': z.object({ webhook_url: optionalText }),
  'source-separation': z.object({
    model: KlangioSeparationModel,
    output: z.enum(['wav', 'mp3']).optional(),
    format: z.enum(['wav', 'mp3']).optional(),
    webhook_url: optionalText,
  }),
};

/** The query parameter that names a source separation's audio format. */
export type SeparationFormatParam = 'output' | 'format';

function describe(error: z.ZodError, query: Record<string, string>): string {
  return error.issues
    .map((i) => {
      const field = i.path.join('.');
      return query[field] === undefined ? `query parameter '${field}' is required` : `query parameter '${field}': ${i.message}`;
    })
    .join('; ');
}

/**
 * Validates a create request (query, multipart `file`, transcription `outputs`) and turns it
 * into a job spec, or a 422 refusal. `outputs` may be repeated form fields or one
 * comma-separated value; absent, it defaults to `mxml`. A source separation's audio format is
 * read from `formatParam` only (the other name is ignored, as FastAPI ignores unknown query
 * parameters).
 */
export async function parseCreate(
  c: Context,
  kind: KlangioJobKind,
  allowRemoteWebhooks: boolean,
  formatParam: SeparationFormatParam = 'output',
): Promise<KlangioJobSpec | CreateRefusal> {
  const rawQuery = c.req.query();
  const query = QUERY[kind].safeParse(rawQuery);
  if (!query.success) return { status: 422, detail: describe(query.error, rawQuery) };
  const q = query.data;

  let form: Record<string, string | File | (string | File)[]>;
  try {
    form = await c.req.parseBody({ all: true });
  } catch {
    return { status: 422, detail: 'request body is not valid multipart/form-data' };
  }
  const file = form['file'];
  if (!(file instanceof File)) return { status: 422, detail: "multipart field 'file' (the audio file) is required" };
  if (file.size === 0) return { status: 422, detail: "multipart field 'file' is empty" };

  const spec: KlangioJobSpec = { kind };
  const webhook = q['webhook_url'];
  if (webhook !== undefined && webhook !== '') {
    if (!isHttpUrl(webhook)) return { status: 422, detail: 'webhook_url must be an absolute http(s) URL' };
    if (!allowRemoteWebhooks && !isLoopbackUrl(webhook)) {
      return { status: 422, detail: 'webhook_url must point at a loopback host (the simulator only calls back locally)' };
    }
    spec.webhookUrl = webhook;
  }

  if (kind === 'transcription') {
    const raw = form['outputs'];
    const values = (raw === undefined ? ['mxml'] : Array.isArray(raw) ? raw : [raw])
      .flatMap((v) => (typeof v === 'string' ? v.split(',') : []))
      .map((v) => v.trim())
      .filter((v) => v !== '');
    const outputs = z.array(KlangioOutput).min(1).safeParse(values);
    if (!outputs.success) {
      return { status: 422, detail: `form field 'outputs' must be one or more of ${KlangioOutput.options.join(', ')}` };
    }
    spec.outputs = new Set(outputs.data);
    spec.model = q['model'] as string;
    if (q['title'] !== undefined) spec.title = q['title'];
    if (q['composer'] !== undefined) spec.composer = q['composer'];
  }
  if (kind === 'chord-recognition' || kind === 'chord-recognition-extended') {
    spec.vocabulary = KlangioVocabulary.parse(q['vocabulary']);
  }
  if (kind === 'source-separation') {
    spec.separationModel = KlangioSeparationModel.parse(q['model']);
    spec.audioFormat = q[formatParam] === 'mp3' ? 'mp3' : 'wav';
  }
  return spec;
}
