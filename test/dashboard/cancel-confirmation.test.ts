import { describe, expect, it } from 'vitest';
import { cancelConfirmation, confirmAndCancel, type CancelConfirmation } from '../../src/dashboard/cancel-confirmation.js';

const klangio = { id: 'job_1', provider: 'klangio', kind: 'transcription', name: 'riff' };

describe('cancelConfirmation', () => {
  it('says a provider that cannot cancel may still run and bill the job, and calls the action Stop tracking', () => {
    expect(cancelConfirmation(klangio, 'tracking-only')).toEqual({
      question: 'klangio cannot cancel jobs. Cancelling job "riff" (job_1), klangio/transcription only stops jobstream from tracking it: klangio may still run it and bill for it.',
      action: 'Stop tracking',
    });
  });

  it('says a provider that can cancel will be asked to', () => {
    expect(cancelConfirmation({ id: 'job_2', provider: 'musicai', kind: 'workflow', name: null }, 'provider')).toEqual({
      question: 'Cancel job job_2, musicai/workflow? musicai will be asked to cancel it.',
      action: 'Cancel job',
    });
  });

  it('warns when the server does not say (an older server)', () => {
    expect(cancelConfirmation(klangio, undefined).question).toMatch(/does not say whether klangio can cancel jobs\. If it cannot, klangio may still run job .* and bill for it/);
  });
});

describe('confirmAndCancel (the cancel button)', () => {
  it('asks first, in the words of the provider, and cancels only when the user agrees (was: cancelled at once)', async () => {
    const asked: CancelConfirmation[] = [];
    const canceled: string[] = [];
    const cancel = (id: string) => Promise.resolve(canceled.push(id));
    expect(await confirmAndCancel(klangio, 'tracking-only', (c) => (asked.push(c), false), cancel)).toBe(false);
    expect(canceled).toEqual([]);
    expect(await confirmAndCancel(klangio, 'tracking-only', (c) => (asked.push(c), Promise.resolve(true)), cancel)).toBe(true);
    expect(canceled).toEqual(['job_1']);
    expect(asked.map((c) => c.action)).toEqual(['Stop tracking', 'Stop tracking']);
  });

  it('passes a failed cancel on', async () => {
    await expect(confirmAndCancel(klangio, 'provider', () => true, () => Promise.reject(new Error('refused')))).rejects.toThrow('refused');
  });
});
