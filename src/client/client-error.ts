/**
 * An error from the remote client, with a stable `code`: the server's own error code
 * (`UNKNOWN_JOB`, `INVALID_REQUEST`, `UNAUTHORIZED`, …), or one of the client's:
 * `CONNECTION_FAILED` (the server cannot be reached), `CLIENT_CLOSED` (close() was called),
 * `WAIT_TIMEOUT`, `BAD_RESPONSE` (an answer that does not match the protocol).
 */
export class ClientError extends Error {
  readonly code: string;
  /** HTTP status for REST errors. */
  readonly status: number | undefined;
  /** Field problems of an `INVALID_REQUEST`. */
  readonly issues: readonly { field: string; reason: string }[];
  constructor(code: string, message: string, details: { status?: number; issues?: readonly { field: string; reason: string }[]; cause?: unknown } = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'ClientError';
    this.code = code;
    this.status = details.status;
    this.issues = details.issues ?? [];
  }
}
