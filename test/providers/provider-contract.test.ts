import { describeProviderContract } from './provider-contract.js';

describeProviderContract({
  provider: 'klangio',
  // The body is thin ({ job_id, status }, no result): the adapter confirms by polling (providers.md §1.4, §7).
  webhooks: { sends: true, terminal: 'confirming-poll' },
  // Every create answer's gen_* flags differ from the request where they can (here: no GP5),
  // as in Klangio's own example: the files offered must follow the flags (providers.md Round 2).
  simulator: { outputFlagDriftRate: 1 },
  submissions: [
    { kind: 'transcription', input: 'wav', options: { model: 'guitar', outputs: ['mxml', 'gp5', 'midi', 'midi_quant', 'pdf'], title: 'Take' } },
    { kind: 'chord-recognition', input: 'wav', options: { vocabulary: 'full' } },
    { kind: 'chord-recognition-extended', input: 'wav' },
    { kind: 'beat-tracking', input: 'wav' },
    { kind: 'strum-recognition', input: 'wav' },
    { kind: 'source-separation', input: 'wav', options: { model: 'four-stems' } },
  ],
});

describeProviderContract({
  provider: 'musicai',
  webhooks: {
    sends: false,
    skipReason: 'Music.AI sends no webhooks: POST /job has no callback field and the API is poll-only (providers.md §2.4)',
  },
  submissions: [
    { kind: 'workflow', input: 'wav', options: { workflow: 'stems-four' } },
    // The BPM workflow: a JSON beat map plus scalar outputs, served as result.json.
    { kind: 'workflow', input: 'wav', options: { workflow: 'untitled-workflow-e78c2e' } },
  ],
});

describeProviderContract({
  provider: 'sunoapi',
  // One callback per task at its end (providers.md §3.4), carrying the whole outcome, except a
  // separation's success: it has the stem URLs but not the record's originData (the track ids a
  // MIDI job takes), so the adapter confirms it by polling (providers.md, Round 2).
  webhooks: { sends: true, terminal: (job) => (job.kind === 'vocal-separation' && job.status === 'succeeded' ? 'confirming-poll' : 'webhook') },
  submissions: [
    { kind: 'vocal-separation', input: 'none', options: { taskId: 'music-1', audioId: 'track-1', type: 'separate_vocal' } },
    { kind: 'midi', input: 'none', dependsOn: { kind: 'vocal-separation', options: (separation) => ({ taskId: separation.externalId! }) } },
  ],
});

describeProviderContract({
  provider: 'cambai',
  webhooks: {
    sends: false,
    skipReason: 'Camb.ai sends no webhooks: /transcribe has no callback field and the docs describe polling only (providers.md §4.4)',
  },
  submissions: [{ kind: 'transcription', input: 'wav', options: { language: 1 } }],
});
