import type { z } from 'zod';

/**
 * Stable `code` strings of the simulator's error bodies. The real body shape is UNKNOWN;
 * the simulator sends `{ message, code }` (providers.md section 7) and the SDK shows `message`.
 */
export type MusicaiErrorCode =
  | 'UNAUTHORIZED'
  | 'INVALID_FIELDS'
  | 'INVALID_ID'
  | 'NOT_FOUND'
  | 'WORKFLOW_NOT_FOUND'
  | 'INVALID_PARAMS'
  | 'RATE_LIMITED'
  | 'INTERNAL_ERROR'
  | 'BAD_GATEWAY'
  | 'SERVICE_UNAVAILABLE';

/**
 * Answers with a Music.AI-style error body.
 *
 * @example
 * return musicaiError(404, 'NOT_FOUND', 'Job not found');
 */
export function musicaiError(status: number, code: MusicaiErrorCode, message: string, headers?: Record<string, string>): Response {
  return Response.json({ message, code }, { status, headers: { ...headers } });
}

/**
 * Renders zod issues as one line, e.g. `name: Invalid input; params: Required`.
 *
 * @example
 * describeIssues(result.error); // 'workflow: Invalid input: expected string, received undefined'
 */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`).join('; ');
}
