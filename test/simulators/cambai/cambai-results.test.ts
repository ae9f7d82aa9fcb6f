import { describe, expect, it } from 'vitest';
import type { CambaiTranscriptSegment } from '../../../src/simulators/cambai/cambai-schemas.js';
import {
  CambaiErrorDetail,
  CambaiTranscriptFile,
  CambaiTranscriptionResult,
  CambaiValidationError,
} from '../../../src/simulators/cambai/cambai-schemas.js';
import { call, closeSimsAfterEach, startSim, succeededRun } from './cambai-test-helpers.js';

closeSimsAfterEach();

async function transcript(sim: Awaited<ReturnType<typeof startSim>>, path: string): Promise<CambaiTranscriptSegment[]> {
  const answer = await call(sim, 'GET', path);
  expect(answer.status).toBe(200);
  expect(Object.keys(answer.body as object)).toEqual(['transcript']);
  return CambaiTranscriptionResult.parse(answer.body).transcript;
}

describe('Camb.ai simulator › GET /transcription-result/{run_id}', () => {
  it('answers a plausible two-speaker transcript of a few sentences', async () => {
    for (const seed of [1, 2, 3]) {
      const sim = await startSim({ seed });
      const segments = await transcript(sim, `/transcription-result/${await succeededRun(sim)}`);
      expect(segments.length).toBeGreaterThanOrEqual(4);
      expect(segments.length).toBeLessThanOrEqual(7);
      expect(new Set(segments.map((s) => s.speaker))).toEqual(new Set(['Speaker 1', 'Speaker 2']));
      let previousEnd = 0;
      for (const s of segments) {
        expect(s.start).toBeGreaterThanOrEqual(previousEnd);
        expect(s.end).toBeGreaterThan(s.start);
        expect(s.text).toMatch(/^[A-Z].*[.?!]$/);
        previousEnd = s.end;
      }
    }
  });

  it('splits segments into timed words with word_level_timestamps=true', async () => {
    const sim = await startSim({ seed: 4 });
    const runId = await succeededRun(sim);
    const segments = await transcript(sim, `/transcription-result/${runId}`);
    const words = await transcript(sim, `/transcription-result/${runId}?word_level_timestamps=true`);
    expect(await transcript(sim, `/transcription-result/${runId}?word_level_timestamps=false`)).toEqual(segments);
    expect(words.map((w) => w.text)).toEqual(segments.flatMap((s) => s.text.split(' ')));
    for (const w of words) {
      expect(w.text).not.toContain(' ');
      expect(w.end).toBeGreaterThan(w.start);
    }
    let index = 0;
    for (const segment of segments) {
      const count = segment.text.split(' ').length;
      const own = words.slice(index, index + count);
      index += count;
      expect(own[0]?.start).toBe(segment.start);
      expect(own.at(-1)?.end).toBe(segment.end);
      expect(own.every((w) => w.speaker === segment.speaker)).toBe(true);
      own.slice(1).forEach((w, i) => expect(w.start).toBe(own[i]?.end));
    }
  });

  it('answers the same segments for data_type=raw_data and data_type=json', async () => {
    const sim = await startSim({ seed: 6 });
    const runId = await succeededRun(sim);
    const plain = await transcript(sim, `/transcription-result/${runId}`);
    expect(await transcript(sim, `/transcription-result/${runId}?data_type=raw_data`)).toEqual(plain);
    expect(await transcript(sim, `/transcription-result/${runId}?data_type=json&format_type=srt`)).toEqual(plain);
  });

  it('renders txt (default) and srt files with one entry per segment', async () => {
    const sim = await startSim({ seed: 7 });
    const runId = await succeededRun(sim);
    const segments = await transcript(sim, `/transcription-result/${runId}`);
    const fileText = async (query: string) => {
      const file = CambaiTranscriptFile.parse((await call(sim, 'GET', `/transcription-result/${runId}?${query}`)).body);
      return (await fetch(file.file_url)).text();
    };
    const txt = (await fileText('data_type=file')).trimEnd().split('\n');
    expect(txt).toHaveLength(segments.length);
    txt.forEach((line, i) => expect(line).toMatch(new RegExp(`^\\[\\d\\d:\\d\\d:\\d\\d\\.\\d{3} - \\d\\d:\\d\\d:\\d\\d\\.\\d{3}\\] ${segments[i]?.speaker}: `)));
    const cues = (await fileText('data_type=file&format_type=srt')).trim().split('\n\n');
    expect(cues).toHaveLength(segments.length);
    cues.forEach((cue, i) => {
      const [number, times, text] = cue.split('\n');
      expect(number).toBe(String(i + 1));
      expect(times).toMatch(/^\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}$/);
      expect(text).toBe(`${segments[i]?.speaker}: ${segments[i]?.text}`);
    });
    const wordCues = (await fileText('data_type=file&format_type=srt&word_level_timestamps=true')).trim().split('\n\n');
    expect(wordCues.length).toBe(segments.reduce((n, s) => n + s.text.split(' ').length, 0));
  });

  it.each([
    ['/transcription-result/abc', ['path', 'run_id'], 'int_parsing'],
    ['/transcription-result/1?word_level_timestamps=maybe', ['query', 'word_level_timestamps'], 'bool_parsing'],
    ['/transcription-result/1?data_type=xml', ['query', 'data_type'], 'enum'],
    ['/transcription-result/1?format_type=docx', ['query', 'format_type'], 'enum'],
  ])('answers a FastAPI 422 for %s', async (path, loc, type) => {
    const sim = await startSim();
    const answer = await call(sim, 'GET', path);
    expect(answer.status).toBe(422);
    expect(CambaiValidationError.parse(answer.body).detail).toContainEqual(expect.objectContaining({ loc, type }));
  });

  it('answers 404 with a detail for a run that does not exist', async () => {
    const sim = await startSim();
    const answer = await call(sim, 'GET', '/transcription-result/424242');
    expect(answer.status).toBe(404);
    expect(CambaiErrorDetail.parse(answer.body).detail).toContain('424242');
  });
});
