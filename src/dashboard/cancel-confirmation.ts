import type { ProviderInfo } from '../client/rest-client.js';

/** What a cancel does at a provider, as `GET /v1/providers` says it; `undefined` when the server does not say. */
export type CancelModeInfo = ProviderInfo['cancel'];

/** The job a cancel is about: enough to name it. */
export interface CancelTarget {
  id: string;
  provider: string;
  kind: string;
  name?: string | null;
}

/** What to ask before a cancel, and what to call the action. */
export interface CancelConfirmation {
  /** The question, saying what the cancel does and does not do at the provider. */
  question: string;
  /** The action's label: `Cancel job`, or `Stop tracking` where the provider cannot cancel. */
  action: string;
}

/**
 * The confirmation to ask for before cancelling a job, in the words of what will happen: a
 * provider that can cancel is asked to; one that cannot (Klangio, Camb.ai, sunoapi.org) keeps
 * the job running, and may bill for it, while jobstream only stops tracking it. Shared by the
 * dashboard's cancel button and the CLI's `cancel` command.
 *
 * @example
 * cancelConfirmation({ id: 'job_1', provider: 'klangio', kind: 'transcription' }, 'tracking-only').action // 'Stop tracking'
 */
export function cancelConfirmation(job: CancelTarget, mode: CancelModeInfo): CancelConfirmation {
  const label = `${job.name === undefined || job.name === null || job.name === '' ? job.id : `"${job.name}" (${job.id})`}, ${job.provider}/${job.kind}`;
  switch (mode) {
    case 'provider':
      return { question: `Cancel job ${label}? ${job.provider} will be asked to cancel it.`, action: 'Cancel job' };
    case 'tracking-only':
      return {
        question:
          `${job.provider} cannot cancel jobs. Cancelling job ${label} only stops jobstream from tracking it: ` +
          `${job.provider} may still run it and bill for it.`,
        action: 'Stop tracking',
      };
    default:
      return {
        question: `The server does not say whether ${job.provider} can cancel jobs. If it cannot, ${job.provider} may still run job ${label} and bill for it after it is canceled here.`,
        action: 'Cancel job',
      };
  }
}

/**
 * The cancel button's work: asks with {@link cancelConfirmation} and cancels only when the
 * user agrees. Resolves true when it cancelled, false when the user said no; rejects when the
 * cancel fails.
 *
 * @example await confirmAndCancel(job, 'tracking-only', (c) => window.confirm(c.question), (id) => client.cancel(id));
 */
export async function confirmAndCancel(
  job: CancelTarget,
  mode: CancelModeInfo,
  confirm: (confirmation: CancelConfirmation) => boolean | Promise<boolean>,
  cancel: (id: string) => Promise<unknown>,
): Promise<boolean> {
  if (!(await confirm(cancelConfirmation(job, mode)))) return false;
  await cancel(job.id);
  return true;
}
