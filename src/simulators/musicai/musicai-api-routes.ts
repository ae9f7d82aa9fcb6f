import { setTimeout as sleep } from 'node:timers/promises';
import { Hono } from 'hono';
import type { Context } from 'hono';
import { isHttpUrl, isLoopbackUrl } from '../kit/loopback.js';
import { describeIssues, musicaiError } from './musicai-errors.js';
import type { MusicaiJobStore } from './musicai-job-store.js';
import type { MusicaiApplication } from './musicai-schemas.js';
import { MusicaiCreateJobRequest, MusicaiListJobsQuery, MusicaiListWorkflowsQuery } from './musicai-schemas.js';
import type { UploadSlots } from './musicai-upload-slots.js';
import { findWorkflow, musicaiWorkflows, workflowInputs, workflowListing } from './musicai-workflows.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What the `/v1` routes need. */
export interface MusicaiApiDeps {
  store: MusicaiJobStore;
  slots: UploadSlots;
  application: MusicaiApplication;
  /** How long `POST /job` waits after creating the job before it answers. @default 0 */
  createDelayMs?: number;
}

/**
 * The Music.AI API routes, mounted under `/v1` (auth and faults are applied by the caller).
 *
 * @example
 * app.route('/v1', musicaiApiRoutes({ store, slots, application }));
 */
export function musicaiApiRoutes(deps: MusicaiApiDeps): Hono {
  const { store, slots, application } = deps;
  const api = new Hono();

  api.get('/upload', (c) => c.json(slots.open()));

  api.post('/job', async (c) => {
    const body: unknown = await c.req.json().catch(() => undefined);
    const parsed = MusicaiCreateJobRequest.safeParse(body);
    if (!parsed.success) return musicaiError(400, 'INVALID_FIELDS', `Invalid fields: ${describeIssues(parsed.error)}`);
    const request = parsed.data;
    const workflow = findWorkflow(request.workflow);
    if (workflow === undefined) return musicaiError(404, 'WORKFLOW_NOT_FOUND', `Workflow not found: ${request.workflow}`);
    for (const input of workflowInputs(workflow)) {
      const url = request.params[input];
      if (typeof url !== 'string' || !isHttpUrl(url)) {
        return musicaiError(422, 'INVALID_PARAMS', `Invalid workflow parameters: params.${input} must be an http(s) URL`);
      }
    }
    const copyProblem = checkCopyTargets(request.copyResultsTo ?? {}, new Set(workflow.outputs.map((o) => o.name)));
    if (copyProblem !== undefined) return musicaiError(422, 'INVALID_PARAMS', copyProblem);
    // `batchName` is not in the documented request; accepting it lets clients exercise the list filter.
    const batchName = (body as { batchName?: unknown }).batchName;
    const id = store.create({
      name: request.name,
      workflow,
      params: request.params,
      metadata: request.metadata ?? {},
      batchName: typeof batchName === 'string' ? batchName : null,
      copyResultsTo: request.copyResultsTo ?? {},
    });
    // The job exists from here on, whether or not the client waits for this answer.
    if ((deps.createDelayMs ?? 0) > 0) await sleep(deps.createDelayMs, undefined, { ref: false });
    return c.json({ id });
  });

  api.get('/job', (c) => {
    const parsed = MusicaiListJobsQuery.safeParse({
      status: c.req.queries('status'),
      workflow: c.req.queries('workflow'),
      batchName: c.req.query('batchName'),
      page: c.req.query('page'),
      size: c.req.query('size'),
    });
    if (!parsed.success) return musicaiError(400, 'INVALID_FIELDS', `Invalid parameters: ${describeIssues(parsed.error)}`);
    const q = parsed.data;
    const jobs = store
      .all()
      .filter((job) => q.status.length === 0 || q.status.includes(job.status))
      .filter((job) => q.workflow.length === 0 || (typeof job.workflow === 'string' && q.workflow.includes(job.workflow)))
      .filter((job) => q.batchName === undefined || job.batchName === q.batchName);
    return c.json(jobs.slice(q.page * q.size, (q.page + 1) * q.size));
  });

  api.get('/job/:id', (c) => withJobId(c, (id) => {
    const job = store.get(id);
    return job === undefined ? jobNotFound() : c.json(job);
  }));

  api.get('/job/:id/status', (c) => withJobId(c, (id) => {
    const job = store.get(id);
    return job === undefined ? jobNotFound() : c.json({ id: job.id, status: job.status });
  }));

  api.delete('/job/:id', (c) => withJobId(c, (id) => (store.delete(id) ? c.json({ id }) : jobNotFound())));

  api.get('/workflow', (c) => {
    const parsed = MusicaiListWorkflowsQuery.safeParse({ page: c.req.query('page'), size: c.req.query('size') });
    if (!parsed.success) return musicaiError(400, 'INVALID_FIELDS', `Invalid parameters: ${describeIssues(parsed.error)}`);
    const { page, size } = parsed.data;
    return c.json({ workflows: musicaiWorkflows.slice(page * size, (page + 1) * size).map(workflowListing) });
  });

  api.get('/application', (c) => c.json(application));

  // Registered last: answers whatever no route above handled (a sub-app's notFound is not used once mounted).
  api.all('/*', (c) => musicaiError(404, 'NOT_FOUND', `Cannot ${c.req.method} ${new URL(c.req.url).pathname}`));
  return api;
}

function withJobId(c: Context, handle: (id: string) => Response): Response {
  const id = c.req.param('id') ?? '';
  return UUID.test(id) ? handle(id) : musicaiError(400, 'INVALID_ID', `Invalid job ID format: ${id}`);
}

function jobNotFound(): Response {
  return musicaiError(404, 'NOT_FOUND', 'Job not found');
}

/** Why `copyResultsTo` cannot be honoured, or `undefined` when it can. */
function checkCopyTargets(targets: Record<string, string>, outputs: ReadonlySet<string>): string | undefined {
  for (const [name, url] of Object.entries(targets)) {
    if (!outputs.has(name)) return `Invalid copyResultsTo: the workflow has no output named "${name}"`;
    if (!isHttpUrl(url)) return `Invalid copyResultsTo.${name}: not an http(s) URL`;
    if (!isLoopbackUrl(url)) {
      return `copyResultsTo.${name}: the simulator only writes to loopback hosts (127.0.0.0/8, localhost, [::1])`;
    }
  }
  return undefined;
}
