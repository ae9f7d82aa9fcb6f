import type { SunoapiSimulator } from '../../../src/simulators/sunoapi/sunoapi-simulator.js';
import { pollUntil } from '../kit/poll-until.js';

export interface Answer {
  http: number;
  headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are checked with schemas and matchers in the tests
  body: { code: number; msg: string; data: any };
}

/** A tiny sunoapi.org client for tests, speaking the wire format with fetch. */
export function sunoClient(sim: SunoapiSimulator, authorization: string | null = `Bearer ${sim.apiKey}`) {
  const headers: Record<string, string> = authorization === null ? {} : { authorization };
  const answer = async (res: Response): Promise<Answer> => ({ http: res.status, headers: res.headers, body: (await res.json()) as Answer['body'] });
  return {
    post: async (path: string, body: unknown): Promise<Answer> =>
      answer(
        await fetch(`${sim.url}${path}`, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json' },
          body: typeof body === 'string' ? body : JSON.stringify(body),
        }),
      ),
    get: async (path: string): Promise<Answer> => answer(await fetch(`${sim.url}${path}`, { headers })),
    separationRecord: async (taskId: string): Promise<Answer> =>
      answer(await fetch(`${sim.url}/api/v1/vocal-removal/record-info?taskId=${taskId}`, { headers })),
    midiRecord: async (taskId: string): Promise<Answer> => answer(await fetch(`${sim.url}/api/v1/midi/record-info?taskId=${taskId}`, { headers })),
  };
}

export type SunoClient = ReturnType<typeof sunoClient>;

/** Creates a separation and polls its record until it leaves PENDING; returns the records seen. */
export async function separate(client: SunoClient, callBackUrl: string, type = 'separate_vocal', audioId = 'audio-1') {
  const created = await client.post('/api/v1/vocal-removal/generate', { taskId: 'suno-task-1', audioId, type, callBackUrl });
  if (created.body.code !== 200) throw new Error(`create failed: ${JSON.stringify(created.body)}`);
  const taskId = String(created.body.data.taskId);
  const records = await pollUntil(
    async () => (await client.separationRecord(taskId)).body.data as Record<string, unknown>,
    (d) => d['successFlag'] !== 'PENDING',
  );
  return { taskId, records, final: records.at(-1) };
}

/** Creates a MIDI task and polls its record until `successFlag` is not 0. */
export async function generateMidi(client: SunoClient, separationId: string, callBackUrl: string, audioId?: string) {
  const created = await client.post('/api/v1/midi/generate', { taskId: separationId, callBackUrl, ...(audioId === undefined ? {} : { audioId }) });
  if (created.body.code !== 200) throw new Error(`midi create failed: ${JSON.stringify(created.body)}`);
  const taskId = String(created.body.data.taskId);
  const records = await pollUntil(
    async () => (await client.midiRecord(taskId)).body.data as Record<string, unknown>,
    (d) => d['successFlag'] !== 0,
  );
  return { taskId, records, final: records.at(-1) };
}
