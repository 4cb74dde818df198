// The one table of error and close codes. Every failure a user can hit carries a stable string
// code, a message that says what to do, and whether retrying later can succeed (`temporary`);
// every close carries a code whose range tells a client whether to reconnect.

export const ErrorCodes = {
  bad_request: { status: 400, temporary: false },
  unknown_method: { status: 400, temporary: false },
  invalid_score: { status: 400, temporary: false },
  invalid_channel: { status: 400, temporary: false },
  unknown_namespace: { status: 404, temporary: false },
  not_connected: { status: 400, temporary: false },
  already_connected: { status: 400, temporary: false },
  already_subscribed: { status: 409, temporary: false },
  not_subscribed: { status: 409, temporary: false },
  forbidden: { status: 403, temporary: false },
  unauthorized: { status: 401, temporary: false },
  token_expired: { status: 401, temporary: true },
  not_found: { status: 404, temporary: false },
  payload_too_large: { status: 413, temporary: false },
  not_available: { status: 400, temporary: false },
  unrecoverable_position: { status: 409, temporary: false },
  limit_exceeded: { status: 429, temporary: true },
  rate_limited: { status: 429, temporary: true },
  unavailable: { status: 503, temporary: true },
  engine_closed: { status: 503, temporary: true },
  persistence_failed: { status: 503, temporary: true },
  /** A proxy hook (the application's backend) timed out, failed or answered nonsense. */
  backend_unavailable: { status: 503, temporary: true },
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

/**
 * WebSocket close codes. 4000-4099: the client should reconnect (with backoff); 4100-4199: it
 * should not, because the same request would be refused again. 1009 is the standard code for a
 * frame over the size limit.
 */
export const CloseCodes = {
  shutdown: 4000,
  slow_consumer: 4001,
  rate_limited: 4002,
  no_pong: 4003,
  server_error: 4004,
  token_expired: 4005,
  disconnected: 4006,
  bad_frame: 4100,
  forbidden: 4101,
  unauthorized: 4102,
  kicked: 4103,
  message_too_big: 1009,
  /** The hub failed while handling this connection (a bug, logged); reconnecting is safe. */
  internal_error: 1011,
} as const;

export type CloseCode = (typeof CloseCodes)[keyof typeof CloseCodes];

/** Whether a client that was closed with `code` should reconnect. */
export function shouldReconnect(code: number): boolean {
  if (code >= 4000 && code < 4100) return true;
  if (code >= 4100 && code < 4200) return false;
  return code !== CloseCodes.message_too_big && code !== 1008;
}
