import type { KlangioSimulator } from '../../../src/simulators/klangio/klangio-simulator.js';
import { wavFile } from '../../../src/simulators/kit/media.js';
import { pollUntil } from '../kit/poll-until.js';

/** A tiny Klangio client for tests, speaking the wire format directly with fetch. */
export function klangioClient(sim: KlangioSimulator, apiKey = sim.apiKey) {
  const headers = { 'kl-api-key': apiKey };
  return {
    async create(path: string, query: Record<string, string>, outputs: string[] = [], file: Blob | null = new Blob([new Uint8Array(wavFile({ seconds: 0.05 }))])) {
      const form = new FormData();
      if (file !== null) form.append('file', file, 'song.wav');
      for (const o of outputs) form.append('outputs', o);
      const res = await fetch(`${sim.url}${path}?${new URLSearchParams(query).toString()}`, { method: 'POST', headers, body: form });
      return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
    },
    async status(jobId: string) {
      const res = await fetch(`${sim.url}/job/${jobId}/status`, { headers });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    },
    async result(jobId: string, format: string, query = '') {
      const res = await fetch(`${sim.url}/job/${jobId}/${format}${query}`, { headers });
      return { status: res.status, contentType: res.headers.get('content-type'), bytes: Buffer.from(await res.arrayBuffer()) };
    },
    /** Polls the status endpoint until a terminal status; returns the statuses seen. */
    async waitTerminal(jobId: string): Promise<string[]> {
      const seen = await pollUntil(
        async () => (await this.status(jobId)).body,
        (b) => b['status'] === 'COMPLETED' || b['status'] === 'FAILED',
      );
      return seen.map((b) => String(b['status']));
    },
  };
}
