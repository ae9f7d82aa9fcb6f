import { Hono } from 'hono';
import { listen, type Listening } from '../../src/simulators/kit/listen.js';
import { wavFile } from '../../src/simulators/kit/media.js';

/**
 * A loopback HTTP server with one short WAV at every `*.wav` path: the audio URL of jobs whose
 * adapter downloads the input first (Klangio only takes uploads).
 *
 * @example const audio = await startAudioServer(); submit({ input: { type: 'url', url: `${audio.url}/riff.wav` } });
 */
export async function startAudioServer(): Promise<Listening> {
  const wav = new Uint8Array(wavFile({ seconds: 0.25, sampleRate: 8000, channels: 1, frequencyHz: 220 }));
  const app = new Hono();
  app.get('/:name{.+\\.wav}', (c) => c.body(wav, 200, { 'content-type': 'audio/wav' }));
  return listen(app);
}
