import { expect } from 'vitest';

/** The media type without parameters, lower case: `text/plain; charset=utf-8` → `text/plain`. */
export function essence(contentType: string): string {
  return (contentType.split(';')[0] ?? '').trim().toLowerCase();
}

/** Checks that a file's first bytes are what its content type promises. */
export function expectFormat(label: string, contentType: string, bytes: Buffer): void {
  expect(bytes.length, `${label} is empty`).toBeGreaterThan(0);
  const type = essence(contentType);
  const head = bytes.subarray(0, 16).toString('latin1');
  if (['audio/wav', 'audio/x-wav', 'audio/wave', 'audio/vnd.wave'].includes(type)) {
    expect(head.slice(0, 4), label).toBe('RIFF');
    expect(head.slice(8, 12), label).toBe('WAVE');
  } else if (['audio/midi', 'audio/x-midi', 'audio/mid'].includes(type)) {
    expect(head.slice(0, 4), label).toBe('MThd');
  } else if (type === 'application/pdf') {
    expect(head.slice(0, 5), label).toBe('%PDF-');
  } else if (type.includes('musicxml') || type.endsWith('/xml') || type.endsWith('+xml')) {
    expect(bytes.toString('utf8').trimStart(), label).toMatch(/^(<\?xml|<score-partwise[\s>])/);
  } else if (type === 'application/json' || type.endsWith('+json')) {
    expect(() => JSON.parse(bytes.toString('utf8')) as unknown, label).not.toThrow();
  } else if (type.startsWith('text/') || type === 'application/x-subrip') {
    expect(() => new TextDecoder('utf-8', { fatal: true }).decode(bytes), `${label} is not UTF-8 text`).not.toThrow();
    expect(bytes.toString('utf8'), label).toMatch(/\S/);
  } else if (type === 'application/octet-stream') {
    // Opaque by definition (e.g. Guitar Pro): non-empty is all a content type can promise.
  } else {
    throw new Error(`${label}: the contract suite has no check for content type "${type}"; add one to expectFormat`);
  }
}
