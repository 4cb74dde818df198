// The one table of error codes. Every failure a user can hit carries a stable string code, a
// message that says what to do, and whether retrying later can succeed (`temporary`).
// Socket close codes join this table when the WebSocket protocol lands.

export const ErrorCodes = {
  bad_request: { status: 400, temporary: false },
  invalid_score: { status: 400, temporary: false },
  invalid_channel: { status: 400, temporary: false },
  unrecoverable_position: { status: 409, temporary: false },
  limit_exceeded: { status: 429, temporary: true },
  rate_limited: { status: 429, temporary: true },
  engine_closed: { status: 503, temporary: true },
  internal: { status: 500, temporary: true },
} as const satisfies Record<string, { status: number; temporary: boolean }>;

export type ErrorCode = keyof typeof ErrorCodes;

export class HubError extends Error {
  override readonly name = 'HubError';
  readonly code: ErrorCode;
  readonly temporary: boolean;
  /** Extra machine-readable facts, e.g. `retryAfterMs` for rate limits. */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.code = code;
    this.temporary = ErrorCodes[code].temporary;
    this.details = details;
  }
}

export function isHubError(err: unknown, code?: ErrorCode): err is HubError {
  return err instanceof HubError && (code === undefined || err.code === code);
}
