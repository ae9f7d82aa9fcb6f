import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import type { TimelineStep } from './job-timeline.js';

/** Version of the state-file layout; a file with another `format` is refused. */
export const STATE_FORMAT = 1;

/**
 * A simulator state file that cannot be used: unreadable, empty, not JSON, or not in the
 * provider's state format. The message names the file and the first problem found.
 *
 * @example
 * try { await startKlangioSimulator({ stateFile }); }
 * catch (e) { if (e instanceof SimulatorStateError) console.error(e.file, e.message); }
 */
export class SimulatorStateError extends Error {
  readonly code = 'SIMULATOR_STATE_INVALID';
  constructor(
    readonly file: string,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(`simulator state file ${file}: ${reason}`, options);
    this.name = 'SimulatorStateError';
  }
}

/**
 * The schema of a provider's state file: `{ format: 1, provider, ...shape }`. The provider
 * literal keeps one simulator from loading another's file.
 *
 * @example
 * const KlangioState = simulatorStateSchema('klangio', { jobs: z.array(KlangioJobState) });
 */
export function simulatorStateSchema<P extends string, Shape extends z.ZodRawShape>(provider: P, shape: Shape) {
  return z.object({ format: z.literal(STATE_FORMAT), provider: z.literal(provider) }).extend(shape);
}

/**
 * A planned timeline (absolute wall-clock times) with statuses from `status`; steps must be in
 * time order and there must be at least one.
 *
 * @example
 * const Timeline = timelineSchema(z.enum(['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED', 'FAILED']));
 */
export function timelineSchema<S extends string>(status: z.ZodType<S>): z.ZodType<TimelineStep<S>[]> {
  return z
    .array(z.object({ status, atMs: z.number(), progress: z.number().min(0).max(1).exactOptional() }))
    .min(1)
    .refine((steps) => steps.every((step, i) => i === 0 || step.atMs >= (steps[i - 1]?.atMs ?? step.atMs)), {
      message: 'timeline steps must be in time order',
    });
}

/**
 * Reads and validates a state file: `undefined` when it does not exist; a
 * {@link SimulatorStateError} naming the file when it cannot be read or is damaged.
 *
 * @example
 * const saved = await readStateFile('/tmp/klangio.json', KlangioState); // undefined on first run
 */
export async function readStateFile<T>(file: string, schema: z.ZodType<T>): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SimulatorStateError(file, `cannot be read (${(error as Error).message})`, { cause: error });
  }
  if (text.trim() === '') throw new SimulatorStateError(file, 'the file is empty');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new SimulatorStateError(file, `not valid JSON (${(error as Error).message})`, { cause: error });
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new SimulatorStateError(file, `not a valid state: ${firstIssue(parsed.error)}`, { cause: parsed.error });
  return parsed.data;
}

/**
 * Writes `data` as JSON to `file`, creating its directory: see {@link writeFileAtomic}.
 *
 * @example
 * await writeStateFile('/tmp/klangio.json', { format: 1, provider: 'klangio', jobs });
 */
export async function writeStateFile(file: string, data: unknown): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(data, null, 2)}\n`);
}

/**
 * Writes `contents` to a temporary file next to `file`, flushes it and renames it over
 * `file`, so a crash mid-write leaves the previous file whole.
 *
 * @example
 * await writeFileAtomic('/tmp/uploads/3f1c…', bytes);
 */
export async function writeFileAtomic(file: string, contents: string | Uint8Array): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.tmp`;
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(contents);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, file);
}

/** The first zod issue as `path: message`. */
function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return 'invalid content';
  const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
  return path === '' ? issue.message : `${path}: ${issue.message}`;
}
